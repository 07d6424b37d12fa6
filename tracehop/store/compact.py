"""Compaction (one sorted file per UTC day) and vacuum (deleting unreferenced files).

Small rejects files are merged in the same version (store/rejectmerge.py).

Incremental ingests add one file per day per commit; every extra file is one more page index a
lookup must consult. Compaction reads all live files of a day, sorts them by (called_e164,
start_utc) and writes one file (row groups of ~1M rows), then commits ``remove`` for the old
files and ``add`` for the new one in a single log version: readers see either the old files or
the new one, never both or neither. The rows are the same; ``dataChange`` is false, as Delta's
OPTIMIZE writes it.

The removed files stay on disk, so a reader holding an older snapshot can finish its query.
``vacuum`` deletes them once the removal is older than the retention period, together with any
file no version ever referenced (left by a writer that crashed before its commit).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from tracehop.errors import StoreConflictError, StoreIOError
from tracehop.store import delta
from tracehop.store.layout import (
    LEGS_DIR,
    REJECTS_DIR,
    new_leg_path,
    read_legs,
    sort_legs,
    write_parquet,
)
from tracehop.store.log import LOG_DIR, DataFile, TableState, TransactionLog
from tracehop.store.records import (
    CompactResult,
    DayCompaction,
    RejectsCompaction,
    VacuumResult,
)
from tracehop.store.rejectmerge import RejectMerge, merge_rejects, small_reject_files
from tracehop.store.state import STATE_DIR


@dataclass(frozen=True)
class _Rewrite:
    old: tuple[DataFile, ...]
    rel: str
    size: int
    rows: int
    stats: dict[str, Any]


def compact_days(
    root: Path,
    log: TransactionLog,
    refresh: Callable[[], TableState],
    days: Iterable[date] | None,
    *,
    max_retries: int,
    rewrite: bool = False,
    rejects_over: int | None = 0,
) -> CompactResult:
    """Rewrite every chosen day that has two or more live files (with ``rewrite``, every
    chosen day: files written by an older tracehop take the current layout), and merge the
    small rejects files (store/rejectmerge.py) when more than ``rejects_over`` of them are
    live (None: leave them); one log version for all."""
    wanted = set(days) if days is not None else None
    plan: dict[date, _Rewrite] = {}
    merges: list[RejectMerge] = []
    merged_written: list[str] = []
    # Every day file written, named before it is written: an interrupt inside _rewrite_day
    # (after its write, while the statistics are computed) left its file out of `plan`, and
    # so on disk, unreferenced, until a vacuum >= 6 h later.
    days_written: list[str] = []
    linking: tuple[int, list[dict[str, Any]]] | None = None  # version being linked
    try:
        for attempt in range(max_retries + 1):
            state = refresh()
            for day in list(plan):
                # Another compactor removed one of our inputs: our output would duplicate rows.
                if any(f.path not in state.live for f in plan[day].old):
                    (root / plan.pop(day).rel).unlink(missing_ok=True)
            by_day: dict[date, list[DataFile]] = {}
            for f in state.live.values():
                if wanted is None or f.day in wanted:
                    by_day.setdefault(f.day, []).append(f)
            for day in sorted(by_day):
                if day not in plan and (len(by_day[day]) >= 2 or rewrite):
                    plan[day] = _rewrite_day(root, day, by_day[day], days_written)
            if any(rf.path not in state.rejects for m in merges for rf in m.old):
                # A forget or a grown file's ingest rewrote one of them meanwhile: merge anew.
                for rel in merged_written:
                    (root / rel).unlink(missing_ok=True)
                merged_written.clear()
                merges = []
            if (not merges and rejects_over is not None
                    and small_reject_files(state) > rejects_over):
                merges = merge_rejects(root, state, merged_written)
            if not plan and not merges:
                return CompactResult(version=None)
            actions = _actions(plan, merges)
            linking = (state.version + 1, actions)
            try:
                log.write(*linking)
            except StoreConflictError:
                linking = None
                if attempt == max_retries:
                    raise
                continue
            return CompactResult(
                version=state.version + 1,
                days=tuple(
                    DayCompaction(
                        day=d,
                        files_before=len(rw.old),
                        rows=rw.rows,
                        bytes_before=sum(f.size for f in rw.old),
                        bytes_after=rw.size,
                    )
                    for d, rw in sorted(plan.items())
                ),
                rejects=tuple(
                    RejectsCompaction(files_before=len(m.old), rows=m.new.rows,
                                      bytes_before=sum(rf.size for rf in m.old),
                                      bytes_after=m.new.size)
                    for m in merges
                ),
            )
    except BaseException as exc:
        if linking is not None and log.holds(*linking):
            raise  # interrupted after the link (Ctrl-C while syncing the log): committed
        for rel in days_written:  # (every file of `plan` is among them)
            (root / rel).unlink(missing_ok=True)
        for rel in merged_written:
            (root / rel).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # permissions, a full disk: one clear error
            raise StoreIOError(root, exc) from exc
        raise
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _rewrite_day(root: Path, day: date, files: list[DataFile], written: list[str]) -> _Rewrite:
    """``files`` of ``day`` as one sorted file; its path goes to ``written`` before it exists."""
    table = sort_legs(read_legs(root, [f.path for f in files]))
    rel = new_leg_path(day)
    written.append(rel)
    size = write_parquet(root, rel, table)
    return _Rewrite(
        old=tuple(files), rel=rel, size=size, rows=table.num_rows, stats=delta.file_stats(table)
    )


def _actions(plan: dict[date, _Rewrite], merges: list[RejectMerge]) -> list[dict[str, Any]]:
    info: dict[str, Any] = {
        "compacted": {d.isoformat(): len(rw.old) for d, rw in sorted(plan.items())}}
    if merges:
        # The merged rejects files, and each old one -> the file that holds its rows now
        # (replayed as a superseded reject file is: store/log.py).
        info["rejects"] = [{"path": m.new.path, "size": m.new.size, "rows": m.new.rows}
                           for m in merges]
        info["rejectsReplaced"] = {rf.path: m.new.path for m in merges for rf in m.old}
    actions = [
        delta.commit_info_action(
            "OPTIMIZE", {"days": [d.isoformat() for d in sorted(plan)]}, info)
    ]
    for day, rw in sorted(plan.items()):
        for f in rw.old:
            actions.append(delta.remove_action(f.path, day, f.size, data_change=False))
        actions.append(delta.add_action(rw.rel, day, rw.size, rw.stats, data_change=False))
    return actions


#: How old a file no version references must be before vacuum deletes it (an ingest in
#: flight writes its files before the commit that names them; 10M rows take well under one).
ORPHAN_MIN_AGE_S: Final = 6 * 3600.0


def vacuum_files(root: Path, state: TableState, retention_hours: float) -> VacuumResult:
    """Delete leg, reject and state files the latest version does not reference, once old
    enough.

    Age is counted from the ``remove`` action for compacted-away files, and from the file's
    mtime for files no commit ever referenced. The retention protects readers that still hold
    an older snapshot and writers whose commit is in flight: use 0 only when nothing else runs.
    """
    now = time.time()
    cutoff = now - retention_hours * 3600.0
    # A file no commit references yet may be one an ingest has written and is about to
    # commit (its early day files, written while it parses): deleting it would leave that
    # commit naming a missing file. Such files wait ORPHAN_MIN_AGE_S whatever the retention;
    # a crashed writer's leftovers go a little later, which costs only disk.
    orphan_cutoff = min(cutoff, now - ORPHAN_MIN_AGE_S)
    # state blobs: only the latest per key is referenced; superseded ones age out like files
    referenced = set(state.live) | set(state.rejects) | {f.path for f in state.state.values()}
    deleted: list[str] = []
    freed = 0
    for top in (LEGS_DIR, REJECTS_DIR, STATE_DIR):
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, _dirs, names in os.walk(base):
            for name in names:
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                if rel in referenced:
                    continue
                st = full.stat()
                removed_ms = state.tombstones.get(rel)
                since = removed_ms / 1000.0 if removed_ms else st.st_mtime
                # State blobs too: a commit writes its blob before its day files (seconds for
                # a big capture directory), and a vacuum with a short retention in between
                # deleted it, leaving the version to name a blob that was gone. Superseded
                # blobs are tombstoned by the replay (store/log.py) and keep the retention.
                floor = cutoff if removed_ms else orphan_cutoff
                if since <= floor:
                    full.unlink(missing_ok=True)
                    deleted.append(rel)
                    freed += st.st_size
        for dirpath, dirs, names in os.walk(base, topdown=False):
            if not dirs and not names and Path(dirpath) != base:
                with contextlib.suppress(OSError):  # a writer just put a file there
                    os.rmdir(dirpath)
    logdir = root / LOG_DIR
    if logdir.is_dir():
        for tmp in logdir.glob(".*.tmp"):  # temp files of writers that died before linking
            st = tmp.stat()
            if st.st_mtime <= cutoff:
                tmp.unlink(missing_ok=True)
                deleted.append(tmp.relative_to(root).as_posix())
                freed += st.st_size
    return VacuumResult(deleted=tuple(sorted(deleted)), bytes_freed=freed)
