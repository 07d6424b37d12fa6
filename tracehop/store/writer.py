"""The store's front door: open, commit, snapshot, compact, vacuum.

A commit is all or nothing (DESIGN.md §4). In order:

1. conform the batch to LEG_SCHEMA / REJECT_SCHEMA; drop repeated ``leg_id`` within the batch;
2. drop legs whose ``leg_id`` is already stored, reading only the ``leg_id`` column of the
   files of the UTC days the batch touches;
3. split by UTC day of ``start_utc``, sort each day by (called_e164, start_utc) (one Polars sort
   of the whole batch; text is never copied by the sort, see :func:`layout.split_sorted`), write
   one new Parquet file per day and one rejects file, each fsynced;
4. create the next log version atomically (see :mod:`tracehop.store.log`). If another writer
   took that version, re-check duplicates against the files it added, rewrite the affected day
   files, and try again on top (up to ``max_retries``, then StoreConflictError).

Day files may also be written before the commit, while the ingest still parses
(:class:`EarlyDays`): the commit adds them to its own, and a day can then have several files.

Until step 4 succeeds nothing is visible; a crash before it leaves only unreferenced files,
which ``vacuum`` deletes once they are older than the retention period. After a commit, a day
that has more than ``compact_threshold`` files is compacted (one sorted file per day), so that
incremental ingests do not slow lookups down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import pyarrow as pa

from tracehop.errors import StoreConflictError, StoreError, StoreIOError, StoreNotFoundError
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA, conform, constant, nulls
from tracehop.store import delta
from tracehop.store.compact import compact_days, vacuum_files
from tracehop.store.forget import forget_files, id_prefix
from tracehop.store.layout import (
    ROW_GROUP_SIZE,
    arrow_slices,
    conform_loose,
    constant_columns,
    day_expr,
    day_of,
    exact_columns,
    new_leg_path,
    new_reject_path,
    read_legs,
    sort_legs,
    store_permutation,
    to_polars,
    write_options,
    write_parquet,
)
from tracehop.store.log import DataFile, RejectFile, TableState, TransactionLog, fsync_dir
from tracehop.store.records import (
    CommitResult,
    CompactResult,
    FileRecord,
    ForgetResult,
    VacuumResult,
)
from tracehop.store.rejectmerge import small_reject_files
from tracehop.store.snapshot import Snapshot
from tracehop.store.state import (
    StateBlob,
    StateFile,
    check_state_base,
    read_state_file,
    remove_state_files,
    state_info,
    write_state_files,
)
from tracehop.store.supersede import Replaced, supersede_rejects

if TYPE_CHECKING:
    import polars as pl

# Polars and pyarrow.compute are imported in the functions that write:
# opening a store and taking a snapshot (the `tracehop lookup` path) must not pay ~0.4 s
# of imports (benchmarks/bench_lookup.py, process timing).

DEFAULT_COMPACT_THRESHOLD = 8
DEFAULT_MAX_RETRIES = 10
DEFAULT_RETENTION_HOURS = 168.0
#: Threads writing days early (EarlyDays) while the ingest parses.
EARLY_WRITERS: Final = 1
#: Early writes submitted and not yet done, at most. A parse that runs this far ahead of the
#: writer waits for it, so that the legs waiting to be written (and the memory they hold:
#: with run.SPOOL_ROWS, ~8M legs, 6.5 GB) stay bounded for any size of file. Not fewer: a
#: waiting parse leaves a core idle (2 or 3: 418-473k rows/s on the 10M-row benchmark, against
#: 473-499k with 4 and 485-508k unbounded, at 10 GB; benchmarks/RESULTS.md, 2026-12-08).
EARLY_PENDING: Final = 4

#: A day file written for a commit: path relative to the root, size, Delta stats, rows.
WrittenFile = tuple[str, int, dict[str, Any], int]
#: The files written for a commit, per UTC day (a day may get several: see EarlyDays).
Written = dict[date, list[WrittenFile]]


@dataclass(frozen=True)
class DayRows:
    """The legs of one UTC day as rows of a batch: ``frame``'s ``rows`` (indices, in store
    order), and ``constants``: columns with one value for every row (layout.constant_columns).
    Other LEG_SCHEMA columns missing from ``frame`` have no value: written as nulls."""

    frame: pl.DataFrame
    rows: pl.Series
    constants: Mapping[str, str] = field(default_factory=dict)


class Store:
    """A call-leg store at ``root`` (a Delta Lake table whose log tracehop writes)."""

    # Replayed log state per store directory, shared by every Store object in the process, so
    # that a long-lived service reads each log version once.
    _cache: ClassVar[dict[str, tuple[tuple[int, int, int], TableState]]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: Path, *, compact_threshold: int = DEFAULT_COMPACT_THRESHOLD) -> None:
        self.root = root
        self.log = TransactionLog(root)
        self.compact_threshold = compact_threshold

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        create: bool = False,
        *,
        compact_threshold: int = DEFAULT_COMPACT_THRESHOLD,
    ) -> Store:
        """Open the store at ``path``; with ``create``, make an empty one if there is none."""
        root = Path(path).absolute()
        store = cls(root, compact_threshold=compact_threshold)
        action = "open"
        try:
            if not store.log.exists() and store.log.latest_version() > 0:
                # Later versions without the first: a damaged store, not a missing one (it was
                # reported as "no store here", and an ingest as "directory is not empty").
                raise StoreError(
                    f"{store.log.version_path(0)}: transaction log version 0 is missing (the "
                    f"log has versions up to {store.log.latest_version()})",
                    hint="The log must be gapless; restore the file from a backup of the store",
                )
            if not store.log.exists():
                if not create:
                    raise StoreNotFoundError(
                        f"{root}: no tracehop store here (no {root / '_delta_log'})",
                        hint="Check --store, or create one by ingesting: "
                        "tracehop ingest FILE --store DIR",
                    )
                action = "create"
                store._create()
            state = store._state()
        except OSError as e:  # permissions, a file where a directory belongs, a full disk
            raise StoreIOError(root, e, action=action) from e
        if state.schema_string is None:
            raise StoreError(f"{store.log.version_path(0)}: the log has no metaData action")
        if state.schema_string != delta.schema_string(LEG_SCHEMA):
            unknown = _unknown_columns(state.schema_string)
            if unknown:
                # Columns this version does not know: a newer tracehop made the store, and
                # re-ingesting with this (older) one is the wrong advice.
                raise StoreError(
                    f"{root}: the store was written by a newer tracehop (call-leg columns "
                    f"{', '.join(unknown)} are unknown to this version)",
                    hint="Upgrade tracehop to the version that wrote it",
                )
            raise StoreError(
                f"{root}: the store was written with a different call-leg schema",
                hint="Re-ingest the source files into a new store with this tracehop version",
            )
        return store

    @staticmethod
    def check_creatable(path: str | os.PathLike[str]) -> None:
        """Raise the StoreError :meth:`open` with ``create`` would raise for a directory it
        cannot make a store in (a file, a directory holding other files), creating nothing.

        ``ingest_paths`` calls it before reading anything when there is no store yet: the store
        is created only at commit time, and a wrong --store used to be said only after the
        whole input was parsed (minutes for a large file), as the first file's error."""
        root = Path(path).absolute()
        try:
            if root.exists() and not root.is_dir():
                raise StoreError(f"{root}: exists and is not a directory",
                                 hint="Give --store a new or empty directory")
            if root.is_dir() and any(p.name not in ("_delta_log",) for p in root.iterdir()):
                raise StoreError(
                    f"{root}: directory is not empty and holds no tracehop store",
                    hint="Give --store a new or empty directory",
                )
        except OSError as e:
            raise StoreIOError(root, e, action="create") from e

    def _create(self) -> None:
        self.check_creatable(self.root)
        actions = [
            delta.commit_info_action(
                "CREATE TABLE", {"partitionBy": [delta.PARTITION_COLUMN]}, {"created": True}
            ),
            delta.protocol_action(),
            delta.metadata_action(LEG_SCHEMA),
        ]
        # Another process creating it at the same moment gives the same result.
        with contextlib.suppress(StoreConflictError):
            self.log.write(0, actions)

    # --- reading -----------------------------------------------------------------------------

    def _state(self) -> TableState:
        """The latest replayed state (incremental from the process cache).

        The cache is keyed by directory and by the identity of version 0 (inode, mtime, size):
        a store deleted and re-created at the same path is replayed from scratch.
        """
        key = str(self.root)
        ident = self.log.identity()
        with self._cache_lock:
            hit = self._cache.get(key)
        cached = hit[1] if hit is not None and hit[0] == ident else None
        latest = self.log.latest_version()
        if cached is not None and latest == cached.version:
            return cached
        if cached is not None and latest < cached.version:
            cached = None  # the log shrank: not the store we cached
        state = self.log.replay(cached)
        with self._cache_lock:
            old = self._cache.get(key)
            if old is None or old[0] != ident or old[1].version < state.version:
                self._cache[key] = (ident, state)
        return state

    def snapshot(self) -> Snapshot:
        """A consistent view at the latest committed version."""
        return Snapshot(self.root, self._state())

    @property
    def version(self) -> int:
        return self._state().version

    def ingested_files(self) -> list[FileRecord]:
        """Every source file a commit recorded (first record per sha256)."""
        return list(self._state().files.values())

    def ingested(self, file_id: str) -> FileRecord | None:
        """The record of the file with this sha256, if it was ingested before."""
        return self._state().files.get(file_id)

    def state(self, key: str) -> StateBlob | None:
        """The blob last committed under ``key`` (:mod:`tracehop.store.state`), or None."""
        sf = self._state().state.get(key)
        return None if sf is None else read_state_file(self.root, key, sf)

    # --- writing -----------------------------------------------------------------------------

    def commit(
        self,
        legs: pa.Table,
        rejects: pa.Table,
        files: Sequence[FileRecord],
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        auto_compact: bool = True,
        state_blobs: Mapping[str, bytes | None] | None = None,
        state_base: Mapping[str, str | None] | None = None,
        unique_leg_ids: bool = False,
        early: EarlyDays | None = None,
    ) -> CommitResult:
        """Store ``legs`` and ``rejects`` and record ``files``, all or nothing.

        ``state_blobs`` commits an opaque blob per key with them (None clears the key; see
        :mod:`tracehop.store.state`); ``state_base`` names, per key, the blob id the caller's
        state was derived from (None: no blob), and the commit fails with StoreConflictError if
        another commit replaced it meanwhile.

        ``unique_leg_ids``: the caller guarantees that no ``leg_id`` repeats within ``legs``
        (the ingest layer knows it: ``<file hash>:<record>``), which saves hashing every id.
        Pass the only reference to ``legs``: its columns are freed as the day files get
        written.

        ``early``: day files written while the caller was still parsing (:class:`EarlyDays`,
        opened on this store before); they become visible with this commit, or are deleted
        if it fails. Their legs count as given, their duplicates as duplicates."""
        check_writable(self.root, self._state())
        legs = conform_loose(legs, LEG_SCHEMA)  # text may stay string_view: sorted in Polars
        rejects = conform(rejects, REJECT_SCHEMA)
        _require_not_null(legs, ("leg_id", "start_utc"))
        _require_not_null(rejects, ("source_file", "reason"))
        given = legs.num_rows + (early.given if early is not None else 0)
        # Only the columns that hold a value go to Polars: an all-null text column would cost
        # 16 bytes of view per row there (320 MB per 1M rows for the ~20 call-leg columns a
        # CSV format never fills); the day files get them back as Arrow nulls.
        frame = to_polars(legs.select(
            [c for c in legs.column_names
             if c in _SORT_COLUMNS or legs.column(c).null_count < legs.num_rows]))
        del legs
        if not unique_leg_ids:
            frame = _first_per_leg_id(frame)

        written: Written = {}
        # The version this attempt is linking into the log, and its actions, while it does.
        linking: tuple[int, list[dict[str, Any]]] | None = None
        reject_file: RejectFile | None = None
        state_files: dict[str, StateFile | None] = {}  # key -> blob written for this commit
        # Leg files whose leg_ids this batch was checked against (the early days were checked
        # against the files of their day in early.base, the state the first attempt builds on).
        checked: set[str] = set()
        # day -> its legs in store order, or None while they are only in the day file(s) written
        # by the first attempt (read back if a concurrent commit makes a rewrite necessary).
        pending: dict[date, pa.Table | None] = {}
        version, attempt, stored = -1, 0, 0
        rejects_known = 0
        # Reject files of earlier versions written again for this attempt (supersede.py).
        replaced: list[Replaced] = []
        replaced_written: list[str] = []
        try:
            if rejects.num_rows:
                rel = new_reject_path()
                size = write_parquet(self.root, rel, rejects)
                reject_file = RejectFile(path=rel, size=size, rows=rejects.num_rows)
            if state_blobs:
                state_files = write_state_files(self.root, state_blobs)
            # The first attempt commits on top of the state the batch was checked against
            # before its files were written: a commit that lands meanwhile makes it retry.
            # With early days still being written, the rest gets the other cores: no more
            # day files in memory at once than cores. Then the early days' writes still
            # queued get every core.
            base = self._write_sorted(  # empties `frame`
                frame, written, checked, None if early is None else early.base,
                None if early is None else max(1, (os.cpu_count() or 1) - EARLY_WRITERS))
            if early is not None:
                early.parse_done()
                checked.update(early.checked)
                for day, files_of_day in early.result().items():
                    written.setdefault(day, []).extend(files_of_day)
            pending = dict.fromkeys(written)
            for attempt in range(max_retries + 1):
                state = base if attempt == 0 else self._state()
                check_state_base(state.state, state_base or {})
                if reject_file is not None and any(f.file_id in state.files for f in files):
                    # Another commit recorded some of these files meanwhile (the same file
                    # ingested twice at once): it wrote their rejects too.
                    reject_file, rejects, known_rejects = _without_rejects_of(
                        self.root, reject_file, rejects,
                        [f for f in files if f.file_id in state.files])
                    rejects_known += known_rejects
                unseen = [
                    f for f in state.live.values() if f.day in pending and f.path not in checked
                ]
                for day in {f.day for f in unseen}:
                    if pending[day] is None:
                        pending[day] = _read_back(self.root, [w[0] for w in written[day]])
                loaded = {d: t for d, t in pending.items() if t is not None}
                for day, table in _drop_stored(self.root, loaded, unseen).items():
                    pending[day] = table
                    for rel, *_ in written.pop(day, []):  # rows now known to be duplicates
                        (self.root / rel).unlink(missing_ok=True)
                checked.update(f.path for f in unseen)
                self._write_days(
                    {d: t for d, t in pending.items()
                     if d not in written and t is not None and t.num_rows},
                    written,
                )
                stored = sum(w[3] for ws in written.values() for w in ws)
                _remove(self.root, replaced_written)
                replaced = supersede_rejects(self.root, state, files, replaced_written)
                actions = self._commit_actions(
                    written, reject_file, files, given, stored, rejects.num_rows
                )
                info = actions[0]["commitInfo"]["tracehop"]
                if state_files:
                    info["state"] = state_info(state_files)
                if replaced:
                    info["rejectsReplaced"] = {
                        r.old: None if r.new is None else r.new.path for r in replaced}
                    info["rejects"] += [{"path": r.new.path, "size": r.new.size,
                                         "rows": r.new.rows}
                                        for r in replaced if r.new is not None]
                # Each file the version names, made young just before the link: a vacuum
                # deletes a file no version names once older than ORPHAN_MIN_AGE_S, and an
                # early day file of a long (or stopped: SIGSTOP, a suspended machine) run got
                # that old, was deleted, and the version then named a file that was gone (a
                # damaged store, exit 0). A file already gone fails here: nothing committed.
                _touch(self.root, [w[0] for ws in written.values() for w in ws]
                       + ([reject_file.path] if reject_file is not None else [])
                       + [r.new.path for r in replaced if r.new is not None]
                       + [sf.path for sf in state_files.values() if sf is not None])
                linking = (state.version + 1, actions)
                try:
                    self.log.write(state.version + 1, actions)
                except StoreConflictError:
                    linking = None
                    if attempt == max_retries:
                        raise
                    continue
                version = state.version + 1
                if early is not None:
                    early.committed = True  # its files are referenced now: never delete them
                break
        except BaseException as exc:
            if linking is not None and self.log.holds(*linking):
                # Ctrl-C or SIGTERM (KeyboardInterrupt) after the version file was linked,
                # while the log directory was synced: committed. Removing "its" files here
                # would leave the version naming day files that are gone (a damaged store).
                if early is not None:
                    early.committed = True
                raise
            # Not committed: the files are unreferenced. Remove them now rather than leaving
            # them for vacuum (a hard crash here would leave them, invisible, for vacuum).
            if early is not None:
                early.abort()  # waits for its writes, deletes what they wrote
            for ws in written.values():
                for rel, *_ in ws:
                    (self.root / rel).unlink(missing_ok=True)
            if reject_file is not None:
                (self.root / reject_file.path).unlink(missing_ok=True)
            _remove(self.root, replaced_written)
            remove_state_files(self.root, state_files)
            if isinstance(exc, OSError):  # permissions, a full disk: one clear error
                raise StoreIOError(self.root, exc, unchanged=True) from exc
            raise

        days = tuple(sorted(written))
        compacted: tuple[date, ...] = ()
        compact_error: str | None = None
        if auto_compact and (days or reject_file is not None):
            compacted, compact_error = self._auto_compact(days)
        return CommitResult(
            version=version,
            stored=stored,
            duplicates=given - stored,
            rejected=rejects.num_rows,
            files=len(files),
            days=days,
            compacted=compacted,
            compact_error=compact_error,
            retries=attempt,
            rejects_known=rejects_known,
            rejects_superseded=sum(r.removed for r in replaced),
        )

    def _write_days(
        self,
        todo: dict[date, pa.Table],
        written: Written,
    ) -> None:
        """Write the day files in parallel (pyarrow's writer releases the GIL), recording each
        file that got written even when another fails, so that the caller can remove them."""
        if len(todo) <= 1:
            for day, table in todo.items():
                written[day] = [self._write_day(day, table)]
            return
        futures: dict[date, Future[WrittenFile]] = {}
        with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
            try:
                for day, table in todo.items():
                    futures[day] = pool.submit(self._write_day, day, table)
            finally:  # a Ctrl-C between two submits: the writes already started are recorded
                _collect_written(futures, written)

    def _write_day(self, day: date, table: pa.Table | DayRows) -> WrittenFile:
        """Write one day's legs: a table already in store order, or rows of a batch."""
        if isinstance(table, DayRows):
            return self._write_day_rows(day, table.frame, table.rows, table.constants)
        rel = new_leg_path(day)
        size = write_parquet(self.root, rel, table)
        stats = delta.file_stats(exact_columns(table, delta.STATS_COLUMNS))
        return rel, size, stats, table.num_rows

    def _write_sorted(
        self,
        frame: pl.DataFrame,
        written: Written,
        checked: set[str],
        state: TableState | None = None,
        workers: int | None = None,
    ) -> TableState:
        """Drop the legs the store already holds (in the state returned), then write one file
        per UTC day in store order, the days in parallel (``frame`` is emptied: its columns
        are moved out).

        Each day's worker sorts its rows (layout's integer-key permutation), then gathers a
        row group at a time (Polars, a copy of 16-byte views, never of the text) and writes it
        (pyarrow, outside the GIL) with the store's settings, so that sorting overlaps writing
        and the sorted copy in memory is a row group per worker, not the whole batch. Files
        that got written are recorded in ``written`` even when another day fails, so that the
        caller can remove them. ``state``: the state to check against (default: the latest);
        ``workers``: threads to write with (default: one per core)."""
        import polars as pl

        state = self._state() if state is None else state
        if frame.height == 0:
            return state
        days = {day_of(int(d)) for d in frame.select(day_expr().unique()).to_series()}
        seen = [f for f in state.live.values() if f.day in days]
        checked.update(f.path for f in seen)
        constants = constant_columns(frame)
        for c in constants:
            frame.drop_in_place(c)
        names = list(frame.columns)
        # One chunk per column: gathering across chunks costs several times more.
        cols = [frame.drop_in_place(c).rechunk() for c in names]
        batch = _without_stored(self.root, pl.DataFrame(cols), seen)
        del cols
        if batch.height == 0:
            return state
        # Rows of each day, in input order (a stable sort of the day numbers); each worker sorts
        # its day into store order itself, so that the sorts run in parallel too.
        by_day = batch.select(pl.arg_sort_by(day_expr(), maintain_order=True)).to_series()
        runs = batch.select(day_expr()).to_series().gather(by_day).rle()
        tasks: list[tuple[date, pl.Series]] = []
        offset = 0
        for n, d in runs.struct.unnest().iter_rows():
            tasks.append((day_of(int(d)), by_day.slice(offset, n)))
            offset += n
        empty = {c for c in names
                 if c not in _SORT_COLUMNS and batch.get_column(c).null_count() == batch.height}
        batch = batch.drop(empty)
        # Largest day first: a day's file is written by one thread, so the big ones must not
        # be left for last (the makespan of the pool is the commit's wall time).
        tasks.sort(key=lambda task: -task[1].len())
        workers = min(len(tasks), workers or os.cpu_count() or 1)
        futures: dict[date, Future[WrittenFile]] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for day, rows in tasks:
                    futures[day] = pool.submit(self._write_day, day,
                                               DayRows(batch, rows, constants))
            finally:  # a Ctrl-C between two submits: the writes already started are recorded
                _collect_written(futures, written)
        return state

    def _write_day_rows(
        self, day: date, frame: pl.DataFrame, rows: pl.Series,
        constants: Mapping[str, str] | None = None,
    ) -> WrittenFile:
        """Write ``frame``'s ``rows`` (one day's, in input order) as one day file in store
        order, a row group at a time.

        Same file as :func:`layout.write_parquet` of the whole day sorted by
        :func:`layout.split_sorted` (same stable order, same writer settings, row groups of
        ROW_GROUP_SIZE rows), fsynced before any commit can name it."""
        import polars as pl
        import pyarrow.parquet as pq

        constants = constants or {}
        keys = frame.select(pl.col(c).gather(rows) for c in ("called_e164", "start_utc"))
        rows = rows.gather(store_permutation(keys, by_day=False))
        del keys

        rel = new_leg_path(day)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        stats_parts: list[pl.DataFrame] = []
        writer: pq.ParquetWriter | None = None
        try:
            for off in range(0, rows.len(), ROW_GROUP_SIZE):
                part = rows.slice(off, ROW_GROUP_SIZE)
                group = frame.select(pl.all().gather(part))
                stats_parts.append(group.select(
                    pl.col(c) if c in group.columns
                    else pl.lit(constants.get(c), pl.String).alias(c)
                    for c in delta.STATS_COLUMNS))
                table = _day_table(group, constants)
                del group
                if writer is None:
                    opts = write_options(table.schema, table)
                    opts.pop("row_group_size")  # each write below is one row group
                    # A path, not a Python file object: the native sink writes without the GIL.
                    writer = pq.ParquetWriter(str(path), table.schema, **opts)
                writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
            if writer is not None:
                writer.close()
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(path.parent)
        except BaseException:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            path.unlink(missing_ok=True)
            raise
        stats_table = arrow_slices(pl.concat(stats_parts), pa.schema(
            [LEG_SCHEMA.field(c) for c in delta.STATS_COLUMNS]))
        stats = delta.file_stats(exact_columns(stats_table, delta.STATS_COLUMNS))
        return rel, path.stat().st_size, stats, rows.len()

    def _commit_actions(
        self,
        written: Written,
        reject_file: RejectFile | None,
        files: Sequence[FileRecord],
        given: int,
        stored: int,
        rejected: int,
    ) -> list[dict[str, Any]]:
        if len(files) == 1 and files[0].stored is None:
            # One file: the commit's counts are its own (with several, which file's legs were
            # duplicates is not kept apart, and the records say None). rows_read counts a grown
            # file's records from its start: those read before are duplicates too.
            f = files[0]
            dups = (f.rows_read - stored - f.rejected if f.rejected is not None
                    else given - stored)
            files = [dataclasses.replace(f, stored=stored, duplicates=max(dups, given - stored))]
        elif (len(files) > 1
              and all(f.stored is None and f.legs_given is not None for f in files)
              and sum(f.legs_given or 0 for f in files) == given):
            # Several files: with not one duplicate leg, each stored all it gave; else each
            # file's stored legs are counted by their leg-id prefix in the day files written
            # (read back: the leg_id column alone, and only in this case).
            kept = ({id_prefix(f): f.legs_given or 0 for f in files} if given == stored
                    else _stored_by_prefix(self.root, written))
            if len({id_prefix(f) for f in files}) == len(files):
                files = [dataclasses.replace(
                    f, stored=kept.get(id_prefix(f), 0),
                    duplicates=f.rows_read - kept.get(id_prefix(f), 0) - (f.rejected or 0))
                    for f in files]
        info = {
            "files": [f.to_json() for f in files],
            "rejects": (
                [{"path": reject_file.path, "size": reject_file.size, "rows": reject_file.rows}]
                if reject_file
                else []
            ),
            "counts": {
                "legsGiven": given,
                "stored": stored,
                "duplicates": given - stored,
                "rejected": rejected,
            },
        }
        actions = [delta.commit_info_action("WRITE", {"mode": "Append"}, info)]
        for day in sorted(written):
            for rel, size, stats, _rows in written[day]:
                actions.append(delta.add_action(rel, day, size, stats, data_change=True))
        return actions

    def _auto_compact(self, days: Iterable[date]) -> tuple[tuple[date, ...], str | None]:
        """Compact the crowded ``days`` after a commit, and merge the small rejects files
        once more than ``compact_threshold`` of them are live: the days compacted, and why it
        failed, if it did."""
        state = self._state()
        crowded = [
            d for d in days if sum(1 for f in state.live.values() if f.day == d)
            > self.compact_threshold
        ]
        if not crowded and small_reject_files(state) <= self.compact_threshold:
            return (), None
        try:
            result = self.compact(crowded, rejects_over=self.compact_threshold)
        except StoreConflictError:
            # a concurrent writer won; the next commit or `tracehop compact` retries
            return (), None
        except StoreError as e:
            # The commit is already in the log: a full disk or a damaged older file of the day
            # must not make it look failed (`tracehop ingest` said Error, exit 1, and the
            # re-run skipped the file as ingested). Compaction only keeps lookups fast; the
            # next commit retries it. Said in the result, for the ingest to warn.
            return (), str(e)
        return tuple(d.day for d in result.days), None

    # --- maintenance -------------------------------------------------------------------------

    def compact(
        self, days: Iterable[date] | None = None, *, max_retries: int = DEFAULT_MAX_RETRIES,
        rewrite: bool = False, rejects_over: int | None = 0,
    ) -> CompactResult:
        """Rewrite each given day (default: every day) that has several files as one sorted file.
        ``rewrite`` rewrites days of one file too (after an upgrade changed the file layout).
        Small rejects files are merged too when more than ``rejects_over`` are live (None:
        they are left alone; store/rejectmerge.py).

        Old files are only marked removed; readers holding an older snapshot keep reading them
        until ``vacuum`` deletes them after the retention period.
        """
        check_writable(self.root, self._state())
        return compact_days(self.root, self.log, self._state, days, max_retries=max_retries,
                            rewrite=rewrite, rejects_over=rejects_over)

    def forget(
        self, file_ids: Collection[str], *, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> ForgetResult:
        """Remove the legs and rejected records of the ingested files ``file_ids`` (sha256,
        as :meth:`ingested_files` lists them) and their records, in one version: ingesting
        them again then reads them as new. The other versions of a file that grew by
        appending go with it (:mod:`tracehop.store.forget`)."""
        check_writable(self.root, self._state())
        return forget_files(self.root, self.log, self._state, file_ids, max_retries=max_retries)

    def vacuum(self, retention_hours: float = DEFAULT_RETENTION_HOURS) -> VacuumResult:
        """Delete files no live version references that are older than ``retention_hours``."""
        return vacuum_files(self.root, self._state(), retention_hours)


class EarlyDays:
    """Day files written before the commit that makes them visible, while the ingest still
    parses (a Master.csv comes nearly in day order: a day whose rows have all been read can be
    sorted and written while the next ones are parsed).

    Each :meth:`submit` is one day's legs (any number per day: a day may get several files,
    and ``compact_threshold`` bounds how many stay). They are checked against the files of
    their day in :attr:`base`, the state when this was opened: :meth:`Store.commit` (with
    ``early=``) builds its first attempt on that state, so a commit that lands meanwhile
    makes it retry and re-check, as for its own files. Nothing is visible before that
    commit; :meth:`abort` (or a failed commit) deletes every file written here.

    :data:`EARLY_WRITERS` writer threads while the parse runs: it keeps ~1.75 of the 2 cores
    busy, and each day being written holds a copy of its rows (two writers during the parse
    cost 0.4 GB more peak memory at 2M rows than parse-then-commit, one costs none); once it
    is done (:meth:`parse_done`, called by the commit), every core. ``submit`` is called by
    one thread, and waits while :data:`EARLY_PENDING` writes are not done."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.base = store._state()
        self.checked: set[str] = set()  # store files the submitted legs are checked against
        self.given = 0  # legs submitted (stored + duplicates of the store)
        self.committed = False  # set by the commit that made the files visible
        self._given_of: dict[str, int] = {}
        # One thread per core, EARLY_WRITERS of them writing while the parse runs: once it is
        # done (parse_done), the writes still queued get every core, instead of one thread
        # writing them in turn while the others idle (8 s of a 23 s ingest, 2026-12-08).
        self._workers = max(EARLY_WRITERS, os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(max_workers=self._workers,
                                       thread_name_prefix="tracehop-early")
        self._slots = threading.Semaphore(EARLY_WRITERS)
        self._parsing = True
        self._pending = threading.BoundedSemaphore(EARLY_PENDING)
        self._jobs: list[tuple[str, date, Future[WrittenFile | None]]] = []
        # Every file written here, per key, recorded by the thread that wrote it: abort
        # deletes them even when an interrupt kept submit from tracking its write's future.
        self._lock = threading.Lock()
        self._files: dict[str, list[str]] = {}
        # The first early write that failed, and the error submit raised for it.
        self.failed: BaseException | None = None
        self.failed_as: BaseException | None = None

    def submit(self, key: str, day: date, legs: pa.Table,
               constants: Mapping[str, str] | None = None) -> None:
        """Write ``legs`` (all of UTC ``day``, any order, leg_ids distinct and distinct from
        every other submit) as a day file in the background. ``key`` groups the submits that
        :meth:`drop` can take back (the ingest's source file). ``constants``: columns left out
        of ``legs`` that hold one value for all of them (layout.constant_columns)."""
        _require_not_null(legs, ("leg_id", "start_utc"))
        seen = [f for f in self.base.live.values() if f.day == day]
        self.checked.update(f.path for f in seen)
        self.given += legs.num_rows
        self._given_of[key] = self._given_of.get(key, 0) + legs.num_rows
        self._pending.acquire()  # released when the write is done, whatever its outcome
        try:
            self._raise_failed()
            job = self.pool.submit(self._write, key, day, legs, seen, dict(constants or {}))
        except BaseException:
            self._pending.release()
            raise
        job.add_done_callback(self._done)
        self._jobs.append((key, day, job))

    def _done(self, fut: Future[WrittenFile | None]) -> None:
        """A write is done (in its thread): its slot is free, and its error, if any, is kept
        for the next submit."""
        if self.failed is None and not fut.cancelled():
            self.failed = fut.exception()
        self._pending.release()

    def _raise_failed(self) -> None:
        """Raise the error of an early write that failed (a full disk, permissions). The
        commit would fail on it anyway: stopping at the next submit spares the parse of the
        rest of the file (minutes for gigabytes), and every later write failing too. An
        OSError is raised as the store's, as the commit raises it; the ingest tells it from a
        file's own error by identity (``failed_as``)."""
        if self.failed is None:
            return
        if self.failed_as is None:
            self.failed_as = (StoreIOError(self.store.root, self.failed, unchanged=True)
                              if isinstance(self.failed, OSError) else self.failed)
        raise self.failed_as

    def given_of(self, key: str) -> int:
        return self._given_of.get(key, 0)

    def parse_done(self) -> None:
        """Nothing more will be submitted: the writes still to do may use every core."""
        if self._parsing:
            self._parsing = False
            for _ in range(self._workers - EARLY_WRITERS):
                self._slots.release()

    def _write(self, key: str, day: date, legs: pa.Table, seen: list[DataFile],
               constants: dict[str, str]) -> WrittenFile | None:
        with self._slots:
            done = self._write_now(day, legs, seen, constants)
        if done is not None:
            with self._lock:
                self._files.setdefault(key, []).append(done[0])
        return done

    def _write_now(self, day: date, legs: pa.Table, seen: list[DataFile],
                   constants: dict[str, str]) -> WrittenFile | None:
        import polars as pl

        legs = conform_loose(legs, LEG_SCHEMA)
        frame = to_polars(legs.select(
            [c for c in legs.column_names
             if c in _SORT_COLUMNS or legs.column(c).null_count < legs.num_rows]))
        del legs
        found = constant_columns(frame)
        constants.update(found)
        frame = frame.drop(list(found))
        frame = pl.DataFrame([s.rechunk() for s in frame.get_columns()])
        frame = _without_stored(self.store.root, frame, seen)
        if frame.height == 0:
            return None
        rows = pl.int_range(0, frame.height, dtype=pl.UInt32, eager=True)
        return self.store._write_day_rows(day, frame, rows, constants)

    def drop(self, key: str) -> None:
        """Take back every submit of ``key`` (its file could not be ingested after all)."""
        mine = [job for job in self._jobs if job[0] == key]
        self._jobs = [job for job in self._jobs if job[0] != key]
        self.given -= self._given_of.pop(key, 0)
        self._remove(mine)
        with self._lock:
            self._files.pop(key, None)  # deleted by _remove

    def result(self) -> Written:
        """The files written, per day, once every write is done; the first error is raised
        after all have finished (the caller then aborts)."""
        out: Written = {}
        error: BaseException | None = None
        for _key, day, fut in self._jobs:
            try:
                done = fut.result()
            except BaseException as e:
                error = error or e
                continue
            if done is not None:
                out.setdefault(day, []).append(done)
        self.pool.shutdown()
        if error is not None:
            raise error
        return out

    def abort(self) -> None:
        """Wait for the writes and delete every file they wrote (unless they were committed:
        then this does nothing)."""
        if self.committed:
            return
        self.parse_done()
        jobs, self._jobs = self._jobs, []
        try:
            self._remove(jobs)
        finally:
            self.pool.shutdown()  # every write done: the files below are all there are
            with self._lock:
                files, self._files = self._files, {}
            for rels in files.values():
                for rel in rels:
                    (self.store.root / rel).unlink(missing_ok=True)

    def _remove(self, jobs: list[tuple[str, date, Future[WrittenFile | None]]]) -> None:
        """Wait for each of ``jobs`` and delete the file it wrote. A Ctrl-C (KeyboardInterrupt
        in the main thread) stops the *wait*, not the write: its thread goes on and writes
        the file. So the wait is resumed and the interrupt raised once every file is deleted;
        swallowed here, it left that day file in the store, unreferenced, until a vacuum
        (as _collect_written does for the commit's own writes)."""
        interrupted: BaseException | None = None
        for _key, _day, fut in jobs:
            while True:
                try:
                    failed = fut.exception()  # waits; a failed write's error is returned
                    break
                except CancelledError:  # never started: it wrote nothing
                    failed = None
                    break
                except BaseException as e:  # the wait was interrupted, not the write
                    interrupted = interrupted or e
            if failed is None and not fut.cancelled():
                done = fut.result()
                if done is not None:
                    (self.store.root / done[0]).unlink(missing_ok=True)
        if interrupted is not None:
            raise interrupted


# --- batch helpers ---------------------------------------------------------------------------


def _collect_written(futures: Mapping[date, Future[WrittenFile]], written: Written) -> None:
    """Record in ``written`` each day file the ``futures`` wrote, even when another failed, so
    that the caller can remove them; then raise the first error.

    A Ctrl-C (KeyboardInterrupt, raised in the main thread) stops the *wait* for a write, not
    the write: its thread goes on and writes the day file. The wait is resumed until the write
    is done, so that the file is recorded and the failed commit removes it. Before, the file
    of the day being waited for was left in the store, unreferenced, until a vacuum (tens of
    MB per interrupted ingest)."""
    error: BaseException | None = None
    for day, fut in futures.items():
        while True:
            try:
                failed = fut.exception()  # waits for the write
                break
            except BaseException as e:
                error = error or e  # re-raised once every write is accounted for
                if fut.cancelled():
                    failed = e
                    break
        if failed is None:
            written.setdefault(day, []).append(fut.result())
        else:
            error = error or failed
    if error is not None:
        raise error



def _unknown_columns(schema_string: str) -> list[str]:
    """Columns of a store's Delta schema that LEG_SCHEMA (and the partition) does not have."""
    import json

    try:
        names = [str(f["name"]) for f in json.loads(schema_string)["fields"]]
    except (ValueError, KeyError, TypeError):
        return []
    known = {*LEG_SCHEMA.names, delta.PARTITION_COLUMN}
    return [n for n in names if n not in known]


def check_writable(root: Path, state: TableState) -> None:
    """Refuse to write a table whose protocol needs a newer Delta writer than tracehop is
    (another tool turned on a table feature: change data feed, append-only, constraints):
    a write that ignores the feature would break it for that tool. Reads stay fine."""
    if state.writer_version > delta.WRITER_VERSION:
        raise StoreError(
            f"{root}: the store needs Delta writer version {state.writer_version} (another "
            f"tool upgraded the table); tracehop writes version {delta.WRITER_VERSION}",
            hint="Lookups still work; ingest into a new store, or turn the feature off with "
            "the tool that turned it on",
        )


def _without_rejects_of(root: Path, reject_file: RejectFile, rejects: pa.Table,
                        recorded: Sequence[FileRecord]) -> tuple[RejectFile | None, pa.Table, int]:
    """``rejects`` without the rows of the ``recorded`` files, written as a new reject file in
    place of ``reject_file`` (deleted; None when no row is left), and how many rows went. A
    reject row names its file as the ingest was given it, a record by its resolved path."""
    gone = {r.path for r in recorded}
    names = rejects.column("source_file").to_pylist()
    keep = pa.array([_resolved(n) not in gone for n in names], pa.bool_())
    left = rejects.filter(keep)
    dropped = rejects.num_rows - left.num_rows
    if not dropped:
        return reject_file, rejects, 0
    (root / reject_file.path).unlink(missing_ok=True)
    if not left.num_rows:
        return None, left, dropped
    rel = new_reject_path()
    size = write_parquet(root, rel, left)
    return RejectFile(path=rel, size=size, rows=left.num_rows), left, dropped


def _stored_by_prefix(root: Path, written: Written) -> dict[str, int]:
    """Legs written, by leg-id prefix (the text before the ``:``, a file's
    ``FileRecord.id_prefix``)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out: dict[str, int] = {}
    for files_of_day in written.values():
        for rel, *_ in files_of_day:
            ids = pq.read_table(root / rel, columns=["leg_id"]).column(0)
            prefixes = pc.list_element(pc.split_pattern(ids, ":", max_splits=1), 0)
            for row in pc.value_counts(prefixes).to_pylist():
                out[row["values"]] = out.get(row["values"], 0) + row["counts"]
    return out


def _touch(root: Path, rels: list[str]) -> None:
    """Set each file's mtime to now (FileNotFoundError if one is gone)."""
    for rel in rels:
        os.utime(root / rel)


def _remove(root: Path, rels: list[str]) -> None:
    """Delete the files ``rels`` (relative to ``root``) and empty the list."""
    for rel in rels:
        (root / rel).unlink(missing_ok=True)
    rels.clear()


def _resolved(name: str) -> str:
    try:
        return str(Path(name).resolve())
    except (OSError, RuntimeError):
        return name


def _require_not_null(table: pa.Table, columns: Sequence[str]) -> None:
    for name in columns:
        n = table.column(name).null_count
        if n:
            raise StoreError(
                f"{n} row(s) have no {name}: the store cannot keep them",
                hint="This is a bug in the parser that built the batch; "
                "records without it must go to the rejects",
            )


def _first_per_leg_id(legs: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of each leg_id within the batch."""
    if legs.get_column("leg_id").n_unique() == legs.height:  # multi-threaded hashing
        return legs
    return legs.unique(subset="leg_id", keep="first", maintain_order=True)


def _read_back(root: Path, rels: list[str]) -> pa.Table:
    """The legs of one day's files written for this commit, in store order."""
    table = read_legs(root, rels)
    return table if len(rels) == 1 else sort_legs(table)


def _drop_stored(
    root: Path, pending: dict[date, pa.Table], files: list[DataFile]
) -> dict[date, pa.Table]:
    """Days whose pending legs shrank because ``files`` already hold some of their leg_ids."""
    import polars as pl
    import pyarrow.compute as pc

    by_day: dict[date, list[str]] = {}
    for f in files:
        by_day.setdefault(f.day, []).append(f.path)
    changed: dict[date, pa.Table] = {}
    for day, rels in by_day.items():
        table = pending[day]
        if not table.num_rows:
            continue
        ids = exact_columns(table, ["leg_id"]).column("leg_id")
        stored = read_legs(root, rels, columns=["leg_id"]).column("leg_id")
        # Probe the stored ids against the (usually smaller) batch, then mask the batch (in
        # Polars: pyarrow has no filter kernel for the string_view columns of a batch).
        hits = pc.filter(stored, pc.is_in(stored, value_set=ids.combine_chunks()))
        if len(hits):
            keep = pc.invert(pc.is_in(ids, value_set=hits.combine_chunks()))
            kept = to_polars(table).filter(pl.Series(keep))
            changed[day] = arrow_slices(kept)
    return changed


def _without_stored(root: Path, frame: pl.DataFrame, files: list[DataFile]) -> pl.DataFrame:
    """``frame`` without the legs whose ``leg_id`` one of ``files`` already holds (read: only
    their leg_id column)."""
    import polars as pl

    if not files or frame.height == 0:
        return frame
    stored = read_legs(root, [f.path for f in files], columns=["leg_id"]).column("leg_id")
    stored_ids = pl.Series(stored).cast(pl.String)
    ids = frame.get_column("leg_id")
    hits = stored_ids.filter(stored_ids.is_in(ids.cast(pl.String).implode()))
    if hits.len() == 0:
        return frame
    return frame.filter(~pl.col("leg_id").is_in(hits.implode()))


#: Columns the sort needs in the batch frame even when they hold no value.
_SORT_COLUMNS: Final = frozenset({"leg_id", "called_e164", "start_utc"})


def _day_table(group: pl.DataFrame, constants: Mapping[str, str] | None = None) -> pa.Table:
    """A row group of legs as a LEG_SCHEMA table: Polars' columns as they are (text stays
    ``string_view``: no copy), ``constants`` repeated, the columns the batch has no value for
    as Arrow nulls."""
    import polars as pl

    part = group.to_arrow(compat_level=pl.CompatLevel.newest())
    n = group.height
    fixed = constants or {}
    cols = [part.column(f.name) if f.name in part.column_names
            else constant(fixed[f.name], n) if f.name in fixed
            else nulls(n, f.type)
            for f in LEG_SCHEMA]
    return pa.Table.from_arrays(
        cols, schema=pa.schema([f.with_type(c.type) for f, c in zip(LEG_SCHEMA, cols, strict=True)])
    )
