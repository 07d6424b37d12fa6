"""Rejected records read back from the store, for ``tracehop rejects`` and the ingest summary.

Each commit that rejected records wrote one ``STORE/_rejects/part-<uuid>.parquet``
(REJECT_SCHEMA: source file, line, reason, raw text, ...) and named it in its log entry
(``commitInfo.tracehop.rejects``). :func:`read_rejects` lists them newest ingest first (log
order, reversed); within one ingest, by file and line as the ingest wrote them. Compaction
merges small rejects files into one (store/rejectmerge.py) in that same order. Only as many
rows as asked for are decoded, so listing the first few of millions of rejects stays cheap.

::

    found = read_rejects("calls.store", file="Master.csv", limit=20)
    for r in found.rejects:
        print(f"{r.where}: {r.reason}")
    print(found.total, "in all")
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracehop.errors import StoreError, StoreIOError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracehop.store.writer import Store

#: Rows decoded at a time while listing (a limit stops the reading early).
_BATCH_ROWS: Final = 1024


@dataclass(frozen=True)
class Reject:
    """One rejected record: where it was (``file`` as ingested, ``line`` 1-based, None when
    the whole file failed), why, and its text (``raw``; None with ``--no-keep-raw``)."""

    file: str
    line: int | None
    reason: str
    raw: str | None = None
    format: str | None = None
    source: str | None = None
    rejected_at: datetime | None = None

    @property
    def where(self) -> str:
        """``file:line``, as editors and compilers print it (``file`` alone without a line)."""
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def raw_shortened(self, width: int) -> str:
        """The raw text on one line of at most ``width`` characters: control characters
        shown escaped (``\\t``, ``\\r``), the end cut and marked ``...``."""
        if not self.raw:
            return ""
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in self.raw)
        if len(text) <= width:
            return text
        return text[: max(width - 3, 0)] + "..."

    def to_dict(self) -> dict[str, Any]:
        at = self.rejected_at
        return {
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "raw": self.raw,
            "format": self.format,
            "source": self.source,
            "rejected_at": None if at is None
            else at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class RejectList:
    """The rejects listed (newest ingest first, at most the limit) and ``total``, how many
    the store holds that match (all of them when there is no limit)."""

    rejects: list[Reject]
    total: int


def read_rejects(
    store: Store | str | Path,
    *,
    file: str | None = None,
    limit: int | None = None,
    version: int | None = None,
) -> RejectList:
    """The store's rejected records, newest ingest first.

    ``file``: only the records of that source file: its path as it was ingested, or its
    last components (``Master.csv`` matches ``/var/log/asterisk/cdr-csv/Master.csv``).
    ``limit``: at most that many (None: all). ``version``: only those of the commit that made
    that store version (``IngestSummary.version``).

    Raises :class:`~tracehop.errors.StoreNotFoundError` when there is no store, and
    :class:`~tracehop.errors.StoreError` when a rejects file named by the log cannot be read.
    """
    import pyarrow as pa

    from tracehop.store.writer import Store

    st = store if isinstance(store, Store) else Store.open(store)
    sources = _reject_paths(st, version)
    wanted = None if file is None else _normalised(file)
    out: list[Reject] = []
    total = 0
    for path, of_version in sources:
        try:
            total += _count(path, wanted, of_version)
            if limit is None or len(out) < limit:
                for rej in _iter_file(path, wanted, of_version):
                    out.append(rej)
                    if limit is not None and len(out) >= limit:
                        break
        except (OSError, pa.ArrowInvalid) as e:
            # A rejects file gone or damaged: named, with the way back (store/damaged.py).
            from tracehop.store.damaged import is_damage, reject_file_error

            if is_damage(e):
                raise reject_file_error(st.root, path.relative_to(st.root).as_posix(),
                                        e) from e
            if isinstance(e, OSError):
                raise StoreIOError(st.root, e, action="read") from e
            raise
    return RejectList(rejects=out, total=total)


def _reject_paths(st: Store, version: int | None) -> list[tuple[Path, int | None]]:
    """Absolute paths of the rejects files, newest commit first, each with the commit
    version its rows must have been written by (None: all its rows)."""
    snap = st.snapshot()
    live = list(reversed(snap.reject_entries()))
    if version is None:
        return [(st.root / r.path, None) for r in live]
    if version < 0 or version > st.version:
        raise StoreError(
            f"{st.root}: the store has no version {version} (latest: {st.version})",
            hint="Pass a version the store has, or none for every ingest",
        )
    rels: list[str] = []
    for action in st.log.read_version(version):
        info = (action.get("commitInfo") or {}).get("tracehop") or {}
        rels.extend(str(r["path"]) for r in info.get("rejects", []))
    named = [st.root / rel for rel in reversed(rels)]
    # The version's own files while they are there (after a forget or a grown file's
    # ingest replaced them too: what that ingest reported). Once vacuum deleted one that
    # was replaced, its rows that are left are in the live files: one written again
    # without some rows keeps the commit's version, a merged one (store/rejectmerge.py)
    # says each row's.
    is_live = {st.root / r.path for r in live}
    out: list[tuple[Path, int | None]] = [(p, None) for p in named
                                          if p in is_live or p.exists()]
    if len(out) < len(named):
        own = set(named)
        out += [(st.root / r.path, None if r.version == version else version)
                for r in live if st.root / r.path not in own
                and r.version in (version, None)]
    return out


def _normalised(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def _matches(files: pa.ChunkedArray | pa.Array, wanted: str) -> pa.ChunkedArray | pa.Array:
    """Rows of the file ``wanted``: its path as ingested, its last parts (``Master.csv``), or
    its absolute path as ``tracehop files`` shows it, of which a path ingested relative to
    the directory it ran in (``cdr/Master.csv``) is the end."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [n for n in pc.unique(files).to_pylist() if n is not None]
    hit = [n for n in names
           if n == wanted or n.endswith("/" + wanted)
           or (wanted.startswith("/") and not n.startswith("/")
               and wanted.endswith("/" + _normalised(n)))]
    return pc.is_in(files, value_set=pa.array(hit, pa.string()))


def _of_version(pf: pq.ParquetFile, version: int | None) -> bool:
    """Whether rows of a merged file must be told by their commit version: True for a
    version wanted of a merged file (store/rejectmerge.py)."""
    from tracehop.store.forget import VERSION_COLUMN

    return version is not None and VERSION_COLUMN in pf.schema_arrow.names


def _count(path: Path, wanted: str | None, version: int | None = None) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tracehop.store.forget import VERSION_COLUMN

    pf = pq.ParquetFile(path)
    by_version = _of_version(pf, version)
    if version is not None and not by_version:
        return 0  # not a merged file: its rows are another commit's
    if wanted is None and not by_version:
        return int(pf.metadata.num_rows)
    table = pf.read(columns=["source_file", VERSION_COLUMN] if by_version
                    else ["source_file"])
    if by_version:
        table = table.filter(pc.equal(table.column(VERSION_COLUMN), version))
    if wanted is None:
        return int(table.num_rows)
    return int(pc.sum(_matches(table.column("source_file"), wanted)).as_py() or 0)


def _iter_file(path: Path, wanted: str | None, version: int | None = None
               ) -> Iterator[Reject]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tracehop.store.forget import VERSION_COLUMN

    pf = pq.ParquetFile(path)
    by_version = _of_version(pf, version)
    if version is not None and not by_version:
        return
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        if by_version:
            table = table.filter(pc.fill_null(pc.equal(table.column(VERSION_COLUMN), version),
                                              False))
        if wanted is not None:
            table = table.filter(_matches(table.column("source_file"), wanted))
        for row in table.to_pylist():
            yield Reject(
                file=str(row.get("source_file") or ""),
                line=row.get("source_record"),
                reason=str(row.get("reason") or ""),
                raw=row.get("raw_record"),
                format=row.get("format"),
                source=row.get("source"),
                rejected_at=row.get("rejected_at"),
            )
