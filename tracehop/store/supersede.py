"""Rejects of a grown file's earlier version that its new version read again.

A file caught in the middle of a write (Asterisk appending to Master.csv while a scheduled
ingest runs) ends inside its last line: that version rejects the cut line ("unterminated
quote: the record is truncated"). When the file has grown, the next ingest reads on from the
start of that line (:func:`tracehop.ingest.run.grown_from`; ``FileRecord.first_line``) and
stores it, whole now, or rejects it again for what it really is. The earlier reject is then
stale: ``tracehop rejects`` would list a record that is in the store.

The commit that records the new version therefore writes each reject file holding such rows
again without them (or drops it when nothing is left), in the same log version, as
:mod:`tracehop.store.forget` does for a forgotten file; the log entry maps the old reject
file to the new one (``commitInfo.tracehop.rejectsReplaced``), and the new one keeps the old
one's owners (:mod:`tracehop.store.log`). The counts recorded for the earlier version stay as
that ingest reported them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tracehop.store.damaged import read_reject_file
from tracehop.store.forget import OWNER_COLUMN, id_prefix, row_owners
from tracehop.store.layout import new_reject_path, write_parquet
from tracehop.store.log import RejectFile, TableState
from tracehop.store.records import FileRecord


@dataclass(frozen=True)
class Replaced:
    """One reject file written again: ``new`` is None when no row was left."""

    old: str
    new: RejectFile | None
    removed: int


def supersede_rejects(root: Path, state: TableState, files: Sequence[FileRecord],
                      written: list[str]) -> list[Replaced]:
    """The reject files of earlier versions of the resumed ``files`` without the rows those
    files read again (their line numbers from ``first_line`` on). Each new file is named in
    ``written`` as soon as it exists, for the caller to remove if the commit fails."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # earlier version's file id -> the first line read again by its newer version
    from_line: dict[str, int] = {}
    for f in files:
        if f.first_line is None:
            continue
        prefix = id_prefix(f)
        for fid, r in state.files.items():
            if fid != f.file_id and id_prefix(r) == prefix:
                from_line[fid] = min(from_line.get(fid, f.first_line), f.first_line)
    if not from_line:
        return []
    out = []
    for rel, owners in sorted(state.reject_owners.items()):
        if rel not in state.rejects or not from_line.keys() & set(owners):
            continue
        # The columns that decide first: most files (a merged one holds many commits'
        # rejects, raw text included) have no row to drop, and are not read whole.
        table = read_reject_file(root, rel, ["source_file", "source_record", OWNER_COLUMN])
        paths = {o: state.files[o].path for o in owners if o in state.files}
        ids = row_owners(table, paths)
        lines = table.column("source_record")
        drop = pa.array([False] * table.num_rows, pa.bool_())
        for fid in pc.unique(ids).to_pylist():  # a few owners (from_line: every version)
            first = from_line.get(fid or "")
            if first is None:
                continue
            hit = pc.and_(pc.equal(ids, fid), pc.greater_equal(lines, first))
            drop = pc.or_(drop, pc.fill_null(hit, False))
        removed = int(pc.sum(drop).as_py() or 0)
        if not removed:
            continue
        # a damaged one: named, with the way back
        left = read_reject_file(root, rel).filter(pc.invert(drop))
        if not left.num_rows:
            out.append(Replaced(rel, None, removed))
            continue
        new = new_reject_path()
        written.append(new)
        size = write_parquet(root, new, left)
        out.append(Replaced(rel, RejectFile(path=new, size=size, rows=left.num_rows), removed))
    return out
