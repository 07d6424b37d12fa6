"""Forgetting ingested files: their legs and rejected records leave the store in one version.

Re-ingesting a file adds nothing (its content hash is recorded), which is what a scheduled
ingest needs, but it leaves no way to correct an ingest that was wrong: a file read with the
wrong ``--tz`` has every leg an hour or more off, and reading it again with the right zone would
be skipped as already ingested. Forgetting removes what the file put in the store, and its
record, so that the next ingest reads it as new.

What belongs to a file:

* its legs: every leg_id of a CDR file starts with the file's leg-id prefix (the first 16 hex
  digits of the sha256 of its first version, ``FileRecord.id_prefix``). A file that grew by
  appending (Asterisk's Master.csv) keeps that prefix in every version, so the versions form
  one chain and are forgotten together: the legs cannot be told apart by version.
* its rejected records: the rows of the reject files written by the commits that recorded it
  (``TableState.reject_owners``) whose ``source_file`` names it. A reject row names its file as
  the ingest was given it (``cdr/Master.csv``), the record by its resolved path
  (``/var/log/asterisk/cdr-csv/Master.csv``): a row goes to the record of that commit whose path
  ends with the most of the row's path components.

The day files holding such legs are rewritten without them (the rows keep their order, so the
file keeps the store's sort) and the reject files likewise; one log version removes the old
files, adds the new ones and drops the records (``commitInfo.tracehop.forgotten``), all or
nothing, with the same optimistic retry as a commit. The old files stay on disk for readers of
older snapshots until ``vacuum`` deletes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Final

import pyarrow as pa

from tracehop.errors import StoreConflictError, StoreError, StoreIOError
from tracehop.store import delta
from tracehop.store.damaged import (
    data_file_error,
    is_damage,
    read_reject_file,
    reject_removable,
    removable,
)
from tracehop.store.layout import new_leg_path, new_reject_path, read_legs, write_parquet
from tracehop.store.log import DataFile, RejectFile, TableState, TransactionLog
from tracehop.store.records import FileRecord, ForgetResult


@dataclass(frozen=True)
class _Rewrite:
    old: DataFile | RejectFile
    rel: str | None  # None: no row of the file is left, it is only removed
    size: int
    rows: int  # rows left
    removed: int  # rows dropped
    stats: dict[str, Any] | None = None


def id_prefix(record: FileRecord) -> str:
    """The leg_id prefix of a file's legs (before the ``:`` and the record number)."""
    return record.id_prefix or record.file_id[:16]


def chain(files: Mapping[str, FileRecord], file_ids: Collection[str]) -> list[FileRecord]:
    """The records of ``file_ids`` and of every other version of the same files (records
    sharing a leg-id prefix), in the order the store lists them. ``files``: file_id ->
    record, as the store keeps them."""
    prefixes = {id_prefix(files[f]) for f in file_ids}
    return [r for r in files.values() if id_prefix(r) in prefixes]


def forget_files(
    root: os.PathLike[str] | str,
    log: TransactionLog,
    refresh: Callable[[], TableState],
    file_ids: Collection[str],
    *,
    max_retries: int,
) -> ForgetResult:
    """Remove the legs and rejected records of the files ``file_ids`` (and of the other
    versions of the same files) and their records, in one log version."""
    base = Path(root)
    written: list[str] = []
    linking: tuple[int, list[dict[str, Any]]] | None = None  # version being linked
    try:
        for attempt in range(max_retries + 1):
            state = refresh()
            missing = [f for f in file_ids if f not in state.files]
            if missing:
                raise StoreError(
                    f"no file with id {missing[0]} is recorded in this store",
                    hint="`tracehop files --store DIR` lists the ingested files and their ids")
            records = chain(state.files, file_ids)
            # Each new file is named in `written` as soon as it exists: a failure half way
            # (a full disk) removes those already written.
            ids = {r.file_id for r in records}

            def may_drop(rel: str, st: TableState = state, ids: set[str] = ids) -> bool:
                return removable(base, st, rel, ids)

            legs = _rewrite_legs(base, list(state.live.values()),
                                 sorted({id_prefix(r) + ":" for r in records}), written,
                                 may_drop)
            rejects = _rewrite_rejects(base, state, {r.file_id for r in records}, written)
            linking = (state.version + 1, _actions(records, legs, rejects))
            try:
                log.write(*linking)
            except StoreConflictError:
                linking = None
                if attempt == max_retries:
                    raise
                for rel in written:
                    (base / rel).unlink(missing_ok=True)
                written.clear()
                continue
            return ForgetResult(
                version=state.version + 1,
                files=tuple(records),
                legs_removed=sum(rw.removed for rw in legs),
                rejects_removed=sum(rw.removed for rw in rejects),
                leg_files_rewritten=len(legs),
            )
    except BaseException as exc:
        if linking is not None and log.holds(*linking):
            raise  # interrupted after the link (Ctrl-C while syncing the log): committed
        for rel in written:
            (base / rel).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StoreIOError(base, exc) from exc
        raise
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _rewrite_legs(root: os.PathLike[str], live: Sequence[DataFile],
                  prefixes: Sequence[str], written: list[str],
                  may_drop: Callable[[str], bool] = lambda rel: False) -> list[_Rewrite]:
    """Each live day file holding a leg whose id starts with one of ``prefixes``, written
    again without those legs. Which files hold some is found from the leg_id column alone.

    A file that is missing or damaged (store/damaged.py) is removed from the table when
    ``may_drop`` says every leg it could hold goes anyway (all the source files of its day are
    forgotten: the way back from a lost file without a backup); otherwise the forget fails
    with an error that names it and the files to forget with it."""
    import polars as pl

    if not live or not prefixes:
        return []
    base = Path(root)
    by_name = {str(base / f.path): f for f in live}
    out: list[_Rewrite] = []
    mine = pl.any_horizontal([pl.col("leg_id").str.starts_with(p) for p in prefixes])

    def scan(names: list[str]) -> list[str]:
        if not names:
            return []
        hits = (pl.scan_parquet(names, hive_partitioning=False, include_file_paths="_file")
                .select("leg_id", "_file").filter(mine)
                .group_by("_file").len().collect())
        return [str(n) for n in hits.get_column("_file").to_list()]

    try:
        found = scan(list(by_name))
    except (pl.exceptions.PolarsError, OSError):
        # Which file made the scan fail: each one's leg_id column read alone (only here).
        bad = {n: e for n in by_name if (e := _damage(base, by_name[n].path)) is not None}
        if not bad:
            raise
        for name, cause in bad.items():
            out.append(_drop_damaged(base, by_name.pop(name), may_drop, cause))
        found = scan(list(by_name))
    for name in sorted(found):
        old = by_name[name]
        try:
            table = read_legs(base, [old.path])
        except StoreError as e:  # read_legs raises it only for a missing or damaged file
            out.append(_drop_damaged(base, old, may_drop, e.__cause__))
            continue
        keep = _not_any_prefix(table.column("leg_id"), prefixes)
        left = table.filter(keep)  # order kept: the file stays sorted
        removed = table.num_rows - left.num_rows
        if left.num_rows == 0:
            out.append(_Rewrite(old, None, 0, 0, removed))
            continue
        rel = new_leg_path(old.day)
        written.append(rel)
        size = write_parquet(base, rel, left)
        out.append(_Rewrite(old, rel, size, left.num_rows, removed, delta.file_stats(left)))
    return out


def _damage(root: Path, rel: str) -> BaseException | None:
    """The error reading the leg_id column of leg file ``rel`` raises, if it is missing or
    damaged."""
    import pyarrow.parquet as pq

    try:
        pq.read_table(root / rel, columns=["leg_id"])
    except (OSError, pa.ArrowInvalid) as e:
        return e if is_damage(e) else None
    return None


def _drop_damaged(root: Path, old: DataFile, may_drop: Callable[[str], bool],
                  cause: BaseException | None) -> _Rewrite:
    if not may_drop(old.path):
        raise data_file_error(root, old.path, cause)
    return _Rewrite(old, None, 0, 0, max(old.rows, 0))


def _not_any_prefix(ids: pa.ChunkedArray, prefixes: Sequence[str]) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    hit = pc.starts_with(ids, prefixes[0])
    for p in prefixes[1:]:
        hit = pc.or_(hit, pc.starts_with(ids, p))
    return pc.invert(hit)


def _rewrite_rejects(root: os.PathLike[str], state: TableState,
                     gone: set[str], written: list[str]) -> list[_Rewrite]:
    """The reject files of the commits that recorded a forgotten file, without its rows."""
    import pyarrow.compute as pc

    base = Path(root)
    out = []
    for rel, owners in sorted(state.reject_owners.items()):
        if rel not in state.rejects or not gone.intersection(owners):
            continue
        old = state.rejects[rel]
        try:
            table = read_reject_file(base, rel)
        except StoreError:  # missing or damaged: drop it if only forgotten files own it
            if not reject_removable(state, rel, gone):
                raise
            out.append(_Rewrite(old, None, 0, 0, old.rows))
            continue
        paths = {o: state.files[o].path for o in owners if o in state.files}
        mine = pc.is_in(row_owners(table, paths), pa.array(sorted(gone), pa.string()))
        left = table.filter(pc.invert(pc.fill_null(mine, False)))
        removed = table.num_rows - left.num_rows
        if removed == 0:
            continue
        if left.num_rows == 0:
            out.append(_Rewrite(old, None, 0, 0, removed))
            continue
        new = new_reject_path()
        written.append(new)
        size = write_parquet(base, new, left)
        out.append(_Rewrite(old, new, size, left.num_rows, removed))
    return out


#: Columns a rejects file merged by compaction adds to REJECT_SCHEMA (store/rejectmerge.py):
#: the file id each row belongs to, resolved while its own commit's records were at hand
#: (merged with other commits' rows, ``owner_of`` could pick another file of the same name),
#: and the version of the commit that wrote it (``tracehop rejects`` of one ingest).
OWNER_COLUMN: Final = "owner_file_id"
VERSION_COLUMN: Final = "commit_version"


def row_owners(table: pa.Table, paths: Mapping[str, str]) -> pa.Array | pa.ChunkedArray:
    """The file id each row of rejects ``table`` belongs to (null: none recorded): its
    ``OWNER_COLUMN`` in a merged file, else :func:`owner_of` its ``source_file`` among
    ``paths`` (file id -> recorded path: the owners of the commit that wrote it)."""
    import pyarrow.compute as pc

    if OWNER_COLUMN in table.column_names:
        return table.column(OWNER_COLUMN)
    names = table.column("source_file")
    shown = [n for n in pc.unique(names).to_pylist() if n is not None]
    ids = pa.array([owner_of(n, paths) for n in shown], pa.string())
    return pc.take(ids, pc.index_in(names, value_set=pa.array(shown, pa.string())))


def owner_of(shown: str, paths: Mapping[str, str]) -> str | None:
    """The file id whose recorded (absolute) path ends with the most components of ``shown``,
    the file as a reject row names it; None when no path shares its file name."""
    want = PurePath(os.path.normpath(shown)).parts
    best, best_n = None, 0
    for fid, path in paths.items():
        have = PurePath(path).parts
        n = 0
        while n < min(len(want), len(have)) and want[-1 - n] == have[-1 - n]:
            n += 1
        if n > best_n:
            best, best_n = fid, n
    return best


def _actions(records: Sequence[FileRecord], legs: Sequence[_Rewrite],
             rejects: Sequence[_Rewrite]) -> list[dict[str, Any]]:
    info = {
        "forgotten": {
            "files": [r.file_id for r in records],
            "rejects": {rw.old.path: rw.rel for rw in rejects},
            "legsRemoved": sum(rw.removed for rw in legs),
            "rejectsRemoved": sum(rw.removed for rw in rejects),
        },
        "rejects": [{"path": rw.rel, "size": rw.size, "rows": rw.rows}
                    for rw in rejects if rw.rel is not None],
    }
    actions = [delta.commit_info_action(
        "DELETE", {"predicate": "leg_id of forgotten files"}, info)]
    for rw in legs:
        assert isinstance(rw.old, DataFile)
        actions.append(delta.remove_action(rw.old.path, rw.old.day, rw.old.size,
                                           data_change=True))
        if rw.rel is not None:
            actions.append(delta.add_action(rw.rel, rw.old.day, rw.size, rw.stats or {},
                                            data_change=True))
    return actions

