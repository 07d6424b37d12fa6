"""Compaction of the rejects files: small ones merged, so that they do not pile up for ever.

Every commit with a rejected record writes one ``_rejects/part-<uuid>.parquet``. Under a cron
job ingesting every few minutes that is hundreds of files a day, each opened by ``tracehop
rejects`` and by the forget and grown-file logic. Compaction (``tracehop compact``, and the
automatic one after a commit once more than ``compact_threshold`` small rejects files are
live) merges each run of consecutive small files (log order, a larger file ends a run) into
one, in the same log version as the day files it compacts.

What a row keeps:

* every column of REJECT_SCHEMA (file, line, reason, raw text...), unchanged;
* whose it is: the file id of the recorded file it belongs to (``OWNER_COLUMN``), resolved as
  forget would have among the records of its own commit. A merged file holds rows of many
  commits: two files ingested by the same name (``Master.csv`` in two directories, or before
  and after a rotation) could not be told apart any more by name alone;
* the version of the commit that wrote it (``VERSION_COLUMN``): ``tracehop rejects`` of one
  ingest (``read_rejects(version=)``) finds them once the merged-away file is vacuumed.

The rows are written newest commit first, and the merged file takes the place of the newest
file it replaces in the log order (store/log.py), so rejects are still listed newest ingest
first. The log entry maps each old file to the new one (``rejectsReplaced``, as a superseded
reject file is recorded); the new file has the union of their owners, so a forget of any of
them still rewrites it. The counts recorded per source file (``tracehop files``) are not
touched: merging moves rows, it adds or drops none. The old files stay on disk for readers
of older snapshots until vacuum deletes them after the retention period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa

from tracehop.errors import StoreError
from tracehop.schema import REJECT_SCHEMA, conform
from tracehop.store.damaged import read_reject_file
from tracehop.store.forget import OWNER_COLUMN, VERSION_COLUMN, row_owners
from tracehop.store.layout import new_reject_path, write_parquet
from tracehop.store.log import RejectFile, TableState

#: A rejects file at least this big is left alone (a run of small files ends at it); a merged
#: file is at most about twice that. Rewriting only small files bounds what one compaction
#: reads and writes however long the store lives.
SMALL_REJECTS_BYTES: Final = 32 * 1024 * 1024

#: REJECT_SCHEMA and the two columns a merged file adds.
MERGED_REJECT_SCHEMA: Final = REJECT_SCHEMA.append(
    pa.field(OWNER_COLUMN, pa.string())).append(pa.field(VERSION_COLUMN, pa.int64()))


@dataclass(frozen=True)
class RejectMerge:
    """Small rejects files ``old`` (log order) written as one file, ``new``."""

    old: tuple[RejectFile, ...]
    new: RejectFile


def small_reject_files(state: TableState) -> int:
    """How many live rejects files are small enough to be merged."""
    return sum(1 for r in state.rejects.values() if r.size < SMALL_REJECTS_BYTES)


def merge_groups(state: TableState) -> list[list[RejectFile]]:
    """Runs of two or more consecutive small rejects files (log order), each at most
    ``2 * SMALL_REJECTS_BYTES`` in all: what one merge writes as one file."""
    groups: list[list[RejectFile]] = []
    cur: list[RejectFile] = []
    size = 0
    for rf in state.rejects.values():
        if rf.size >= SMALL_REJECTS_BYTES or size + rf.size > 2 * SMALL_REJECTS_BYTES:
            groups.append(cur)
            cur, size = [], 0
        if rf.size < SMALL_REJECTS_BYTES:
            cur.append(rf)
            size += rf.size
    groups.append(cur)
    return [g for g in groups if len(g) >= 2]


def merge_rejects(root: Path, state: TableState, written: list[str]) -> list[RejectMerge]:
    """Merge each group of :func:`merge_groups` into a new rejects file (named in ``written``
    as soon as it exists, for the caller to remove if its commit fails). A missing or damaged
    file is left out (``tracehop rejects`` names it with the way back): compaction must not
    stop on it."""
    out: list[RejectMerge] = []
    for group in merge_groups(state):
        parts: list[tuple[RejectFile, pa.Table]] = []
        for rf in group:
            try:
                parts.append((rf, _attributed(state, rf, read_reject_file(root, rf.path))))
            except StoreError:
                continue
        if len(parts) < 2:
            continue
        # Newest commit first: the order `tracehop rejects` lists them in.
        table = pa.concat_tables([t for _rf, t in reversed(parts)])
        rel = new_reject_path()
        written.append(rel)
        size = write_parquet(root, rel, table)
        out.append(RejectMerge(old=tuple(rf for rf, _t in parts),
                               new=RejectFile(path=rel, size=size, rows=table.num_rows)))
    return out


def _attributed(state: TableState, rf: RejectFile, table: pa.Table) -> pa.Table:
    """``table`` (the rows of rejects file ``rf``) with MERGED_REJECT_SCHEMA: a file merged
    before keeps its owner and version columns, another gets them from its commit."""
    if OWNER_COLUMN in table.column_names and VERSION_COLUMN in table.column_names:
        return table.select(MERGED_REJECT_SCHEMA.names).cast(MERGED_REJECT_SCHEMA)
    owners = state.reject_owners.get(rf.path, ())
    paths = {o: state.files[o].path for o in owners if o in state.files}
    ids = row_owners(table, paths)
    out = conform(table, REJECT_SCHEMA)
    out = out.append_column(MERGED_REJECT_SCHEMA.field(OWNER_COLUMN), ids)
    return out.append_column(MERGED_REJECT_SCHEMA.field(VERSION_COLUMN),
                             pa.array([rf.version] * table.num_rows, pa.int64()))
