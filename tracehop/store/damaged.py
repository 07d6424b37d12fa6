"""A data file the log names that is missing or not a readable Parquet file.

Such a file (deleted by hand, cut by a disk fault, restored from a partial backup) used to stop
every ingest, compaction and forget touching its day with a Python traceback or with "cannot
write to the store", and lookups with "a bug in tracehop": nothing said which file or what to
do, and no command could get past it. Now every read of a store file turns such a failure into
a :class:`StoreError` that names the file and the way back: restore it from a backup or, without
one, forget the source files that put legs on its day (this module finds them in the log) and
ingest them again. ``tracehop forget`` of all of them drops the file from the table
(:func:`removable`): every leg it could hold belonged to a forgotten file.
"""

from __future__ import annotations

import errno
from collections.abc import Collection
from datetime import date
from pathlib import Path

import pyarrow as pa

from tracehop.errors import StoreError
from tracehop.store.layout import LEGS_DIR
from tracehop.store.log import TableState, TransactionLog


def is_damage(exc: BaseException) -> bool:
    """Whether a read error says the file is missing or is not Parquet (rather than, say, a
    permission refused: that stays an OS error about the store directory)."""
    if isinstance(exc, FileNotFoundError | pa.ArrowInvalid):
        return True
    # pyarrow's errors inside a file (a page that does not decode) are OSErrors without errno.
    return isinstance(exc, OSError) and exc.errno in (None, errno.EIO) and not isinstance(
        exc, PermissionError)


def day_of_path(rel: str) -> date | None:
    """The UTC day of a leg file path ``legs/day=YYYY-MM-DD/part-….parquet``, or None."""
    parts = Path(rel).parts
    if len(parts) >= 3 and parts[-3] == LEGS_DIR and parts[-2].startswith("day="):
        try:
            return date.fromisoformat(parts[-2][4:])
        except ValueError:
            return None
    return None


def day_sources(root: Path, day: date, state: TableState | None = None) -> list[str]:
    """The file ids of the recorded source files whose commits added leg files of ``day``
    (every leg of that day came from one of them: compaction and forget only rewrite legs).
    A commit of several files names them all: it is not kept which one had legs that day."""
    log = TransactionLog(root)
    state = log.replay() if state is None else state
    found: dict[str, None] = {}
    for v in range(state.version + 1):
        actions = log.read_version(v)
        ids = [str(rec["fileId"]) for a in actions if "commitInfo" in a
               for rec in ((a["commitInfo"].get("tracehop") or {}).get("files") or [])]
        if ids and any(
            "add" in a and a["add"].get("partitionValues", {}).get("day") == day.isoformat()
            for a in actions
        ):
            found.update(dict.fromkeys(ids))
    return [fid for fid in found if fid in state.files]


def data_file_error(root: Path, rel: str, cause: BaseException | None) -> StoreError:
    """The error for leg file ``rel`` of the store at ``root`` being missing or damaged."""
    path = root / rel
    # (The reader's own text repeats the path and says little more.)
    what = ("is missing" if not path.exists()
            else "is damaged: a page of it does not decode" if _ends_as_parquet(path)
            else "is damaged: not a readable Parquet file")
    day = day_of_path(rel)
    if day is None:
        return StoreError(f"{path}: a data file of the store {what}",
                          hint="Restore it from a backup of the store")
    try:
        state = TransactionLog(root).replay()
        ids = day_sources(root, day, state)
    except (StoreError, OSError):
        ids, state = [], None
    if state is not None and not path.exists() and rel in state.tombstones \
            and rel not in state.live:
        # Not damage: the caller read an older snapshot (an ingest checks its early day files
        # against the state it started from) and a compaction or forget removed the file in
        # a later version, then a vacuum with a retention shorter than this run deleted it.
        # Forgetting and re-ingesting every file of the day, as said below, was needless.
        return StoreError(
            f"{path}: a data file this run was reading was removed by a later version of the "
            f"store (a compaction or forget) and then deleted by a vacuum while it ran",
            hint="The store is not damaged: run it again (what failed was not committed); "
                 "vacuum with --vacuum-hours longer than the longest ingest or lookup")
    if ids and state is not None:
        ids = _one_per_file(state, ids)
        names = ", ".join(state.files[f].path for f in ids)
        how = (f"without one, forget the files that put legs on {day} and ingest them again: "
               f"`tracehop forget --store {root} {' '.join(f[:12] for f in ids)}` ({names})")
    else:
        how = f"without one, forget the files ingested for {day} and ingest them again"
    return StoreError(f"{path}: a data file of the store (day {day}) {what}",
                      hint=f"Restore it from a backup of the store; {how}")


def _ends_as_parquet(path: Path) -> bool:
    """Whether ``path`` ends with a Parquet footer (so its damage is inside)."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowInvalid):
        return False
    return True


def _one_per_file(state: TableState, ids: list[str]) -> list[str]:
    """``ids`` with one version of each file that grew by appending (they share a leg-id
    prefix, and forget takes them together): a Master.csv ingested every few minutes would
    otherwise fill the hint with hundreds of its versions."""
    seen: dict[str, str] = {}
    for fid in ids:
        rec = state.files[fid]
        seen.setdefault(rec.id_prefix or rec.file_id[:16], fid)
    return list(seen.values())


def removable(root: Path, state: TableState, rel: str, forgotten: Collection[str]) -> bool:
    """Whether leg file ``rel`` may simply leave the table when the files ``forgotten`` (ids,
    every version of each) are forgotten: each source file of its day is among them."""
    day = day_of_path(rel)
    if day is None:
        return False
    sources = day_sources(root, day, state)
    # No recorded source (legs committed without a file record): nothing says whose legs
    # would go with it, so it stays, and the forget fails naming it.
    return bool(sources) and set(sources) <= set(forgotten)


def first_damaged(paths: Collection[str], cause: BaseException) -> StoreError | None:
    """The error for the first of the leg files ``paths`` (absolute) that is missing, does
    not end as a Parquet file does, or has a page that does not decode, or None: what a
    query engine's failure is told by.

    A page damaged inside a file (a disk fault, a bad sector: its footer intact) made a
    lookup fail with the engine's own words ("LZ4 decompression failure") and "a bug in
    tracehop"; the file is found by decoding it whole, only on that failure path: first the
    file the engine's message names, if it names one of them, else each in turn."""
    for name in paths:
        path = Path(name)
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                f.seek(max(size - 4, 0))
                tail = f.read(4)
        except FileNotFoundError:
            tail, size = b"", 0
        except OSError:
            continue
        if size < 12 or tail != b"PAR1":
            return _leg_file_error(path, cause)
    text = str(cause)
    named = [n for n in paths if n in text]
    for name in named or list(paths):
        if (broken := _undecodable(Path(name))) is not None:
            return _leg_file_error(Path(name), broken)
    return None


def _leg_file_error(path: Path, cause: BaseException | None) -> StoreError:
    if day_of_path(str(path)) is not None:
        return data_file_error(path.parents[2], path.relative_to(path.parents[2]).as_posix(),
                               cause)
    return data_file_error(path.parent, path.name, cause)


def _undecodable(path: Path) -> BaseException | None:
    """The error decoding every page of Parquet file ``path`` raises, if it is damage."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        for i in range(pf.metadata.num_row_groups):  # one row group in memory at a time
            pf.read_row_group(i)
    except (OSError, pa.ArrowInvalid) as e:
        return e if is_damage(e) else None
    return None


def reject_file_error(root: Path, rel: str, cause: BaseException | None) -> StoreError:
    """The error for rejects file ``rel`` being missing or damaged: its owners (the files
    recorded by the commit that wrote it) are the ones to forget and ingest again."""
    path = root / rel
    what = "is missing" if not path.exists() else "is damaged: not a readable Parquet file"
    try:
        state = TransactionLog(root).replay()
        owners = [o for o in state.reject_owners.get(rel, ()) if o in state.files]
    except (StoreError, OSError):
        owners, state = [], None
    how = ""
    if owners and state is not None:
        owners = _one_per_file(state, owners)
        names = ", ".join(state.files[f].path for f in owners)
        how = (f"; without one, forget the files whose rejected records it holds and ingest "
               f"them again: `tracehop forget --store {root} "
               f"{' '.join(f[:12] for f in owners)}` ({names})")
    return StoreError(f"{path}: a rejects file of the store {what}",
                      hint=f"Restore it from a backup of the store{how}")


def read_reject_file(root: Path, rel: str, columns: list[str] | None = None) -> pa.Table:
    """A rejects file read whole (or those of ``columns`` it has); a missing or damaged one
    raises :func:`reject_file_error`."""
    import pyarrow.parquet as pq

    try:
        if columns is not None:
            have = pq.read_schema(root / rel).names
            columns = [c for c in columns if c in have]
        return pq.read_table(root / rel, columns=columns)
    except (OSError, pa.ArrowInvalid) as e:
        if is_damage(e):
            raise reject_file_error(root, rel, e) from e
        raise


def reject_removable(state: TableState, rel: str, forgotten: Collection[str]) -> bool:
    """Whether rejects file ``rel`` may leave the table as the files ``forgotten`` go: every
    recorded file whose rows it may hold is among them."""
    owners = {o for o in state.reject_owners.get(rel, ()) if o in state.files}
    return owners <= set(forgotten)
