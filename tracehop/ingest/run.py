"""Ingest orchestration: files -> parse (profile or registered format) -> one store commit.

Commit policy (DESIGN.md §4, §6, §7), decided here and documented in docs/profiles.md:

* **One commit per ingest run.** Every file that could be read goes into a single
  all-or-nothing :meth:`Store.commit`; readers never see half an ingest.
* A file that cannot be ingested at all (unknown format, a zone needed and not given, empty,
  unreadable) is reported with its error and contributes nothing; the other files are still
  committed. ``tracehop ingest`` exits non-zero when that happens to a file named on the
  command line ("exits non-zero only when nothing could be ingested from a named file"); a
  file found by walking a directory only produces a warning.
* Options that are wrong for every file (an unknown ``--tz`` zone, an unknown ``--format``)
  raise before anything is read: the store is unchanged.
* A file whose content (sha256) was already ingested is not parsed again: its records count
  as duplicates, so read = stored + rejected + duplicates still holds.

Identity: ``leg_id`` = ``<first 16 hex digits of the file's sha256>:<source_record>``. The
content hash (not the path) makes it stable when a file is renamed or re-delivered, and the
line number makes it unique within the file; the store deduplicates on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tracehop.errors import (
    ProfileError,
    StoreNotFoundError,
    TracehopError,
    UnknownFormatError,
)
from tracehop.ingest.apply import FileContext, apply_profile
from tracehop.ingest.detect import detect_format, read_head
from tracehop.ingest.formats import ParseResult, document_reader, registered_formats
from tracehop.ingest.profile import Profile, builtin_profiles, resolve_profile
from tracehop.ingest.readers import (
    LINE,
    RAW,
    REASON,
    Batch,
    iter_batches,
    read_layout,
)
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA, UTC_US, conform
from tracehop.store import FileRecord, Store
from tracehop.timezones import resolve_zone

ProgressFn = Callable[[int], None]  # bytes advanced
LEG_ID_PREFIX_HEX = 16


class _Hasher(threading.Thread):
    """sha256 of a file, computed beside the parse (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.digest = ""
        self.size = 0
        self.error: OSError | None = None

    def run(self) -> None:
        h = hashlib.sha256()
        try:
            with self.path.open("rb") as fh:
                while block := fh.read(8 << 20):
                    h.update(block)
                    self.size += len(block)
        except OSError as e:
            self.error = e
        self.digest = h.hexdigest()


def file_sha256(path: Path) -> tuple[str, int]:
    t = _Hasher(path)
    t.run()
    return t.digest, t.size


def _rejects_table(
    rej: pl.DataFrame, ctx_path: str, fmt: str, source: str | None, now: datetime
) -> pa.Table:
    frame = rej.select(
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.lit(fmt, dtype=pl.String).alias("format"),
        pl.lit(ctx_path, dtype=pl.String).alias("source_file"),
        pl.col(LINE).cast(pl.Int64).alias("source_record"),
        pl.col(REASON).alias("reason"),
        pl.col(RAW).alias("raw_record"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("rejected_at"),
    )
    return conform(frame.to_arrow(), REJECT_SCHEMA)


def parse_file(
    path: str | Path,
    profile: Profile | str | None = None,
    tz: str | None = None,
    source: str | None = None,
    *,
    keep_raw: bool = True,
    progress: ProgressFn | None = None,
    display_path: str | None = None,
) -> ParseResult:
    """Parse one file into legs (LEG_SCHEMA, with leg_id) and rejects (REJECT_SCHEMA).

    ``profile`` is a :class:`Profile`, a format name or a profile path, or None to detect.
    Raises :class:`~tracehop.errors.InputError` / :class:`~tracehop.errors.ZoneError` when
    the file cannot be ingested at all; malformed records become rejects.
    """
    p = Path(path)
    shown = display_path or str(path)
    if not p.is_file():
        raise UnknownFormatError("no such file", path=shown) if not p.exists() else (
            UnknownFormatError("not a regular file", path=shown)
        )
    read_head(p)  # empty / unreadable -> clear error before any work
    if profile is None:
        name = detect_format(p)
        fmts = registered_formats()
        if name in fmts:
            return _parse_registered(fmts[name].parse, p, tz, source, name)
        profile = resolve_profile(name)
    elif isinstance(profile, str):
        fmts = registered_formats()
        if profile in fmts:
            return _parse_registered(fmts[profile].parse, p, tz, source, profile)
        profile = resolve_profile(profile)

    hasher = _Hasher(p)
    hasher.start()
    ctx = FileContext(shown, profile.name, source, tz, keep_raw)
    legs_parts: list[pa.Table] = []
    rej_parts: list[pl.DataFrame] = []
    latin1 = 0
    lines = 0
    for batch in _batches(p, profile, progress):
        legs, rejects = apply_profile(batch.rows, profile, ctx)
        # To Arrow batch by batch: the Polars copy is freed at once, so memory stays near one
        # copy of the file's legs (leg_id is added at the end, when the content hash is known).
        legs_parts.append(conform(legs.to_arrow(), LEG_SCHEMA))
        del legs
        rej_parts.append(batch.rejects)
        rej_parts.append(rejects)
        latin1 += batch.latin1_records
        lines += batch.lines
    hasher.join()
    if hasher.error is not None:
        raise UnknownFormatError(f"cannot read the file: {hasher.error.strerror}", path=shown)
    now = datetime.now(UTC)
    legs_tbl = _finish_legs(legs_parts, hasher.digest)
    rej = pl.concat(rej_parts) if rej_parts else pl.DataFrame(
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String}
    )
    if latin1:
        ctx.warn(
            f"{shown}: {latin1} record(s) are not valid UTF-8 and were read as Latin-1"
        )
    result = ParseResult(
        legs=legs_tbl,
        rejects=_rejects_table(rej.sort(LINE), shown, profile.name, source, now),
        warnings=ctx.warnings,
        format=profile.name,
        lines=lines,
        file_id=hasher.digest,
        size=hasher.size,
    )
    return result


def _batches(p: Path, profile: Profile, progress: ProgressFn | None) -> Iterable[Batch]:
    if profile.reader != "csv":
        reader = document_reader(profile.reader)
        if reader is None:
            raise ProfileError(
                f"names reader {profile.reader!r}, which is not registered", path=profile.path
            )
        rows, rejects = reader(p, frozenset(profile.columns_used()))
        size = p.stat().st_size
        if progress:
            progress(size)
        yield Batch(rows, rejects, size, 0, 0)
        return
    layout = read_layout(p, profile.dialect)
    done = 0
    used = frozenset(profile.columns_used())
    for batch in iter_batches(p, profile.dialect, layout, used=used):
        if progress:
            progress(batch.bytes_done - done)
        done = batch.bytes_done
        yield batch


def _finish_legs(parts: list[pa.Table], digest: str) -> pa.Table:
    if not parts:
        return LEG_SCHEMA.empty_table()
    table = pa.concat_tables(parts)
    prefix = digest[:LEG_ID_PREFIX_HEX] + ":"
    leg_id = pc.binary_join_element_wise(
        prefix, pc.cast(table.column("source_record"), pa.string()), ""
    )
    return table.set_column(LEG_SCHEMA.get_field_index("leg_id"), LEG_SCHEMA.field("leg_id"),
                            leg_id)


def _parse_registered(
    parse: Callable[[Path, str | None, str | None], ParseResult],
    p: Path,
    tz: str | None,
    source: str | None,
    name: str,
) -> ParseResult:
    res = parse(p, tz, source)
    res.format = res.format or name
    return res


# --- ingest_paths ----------------------------------------------------------------------------


@dataclass
class FileSummary:
    path: str
    format: str | None = None
    read: int = 0
    legs: int = 0
    rejected: int = 0
    skipped: bool = False  # already ingested (same content)
    error: str | None = None
    named: bool = True  # given on the command line (not found by walking a directory)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "read": self.read,
            "legs": self.legs,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class IngestSummary:
    files: int = 0
    read: int = 0
    stored: int = 0
    rejected: int = 0
    duplicates: int = 0
    elapsed_s: float = 0.0
    first_utc: datetime | None = None
    last_utc: datetime | None = None
    per_file: list[FileSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: int | None = None  # store version of the commit, None when nothing was committed
    bytes_read: int = 0
    commit_s: float = 0.0  # of elapsed_s, the time spent in the store commit

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.per_file if f.error is not None]

    @property
    def failed_named(self) -> list[FileSummary]:
        """Files named by the caller from which nothing could be ingested."""
        return [f for f in self.failed if f.named]

    @property
    def rows_per_s(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "read": self.read,
            "stored": self.stored,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "elapsed_s": round(self.elapsed_s, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "bytes_read": self.bytes_read,
            "commit_s": round(self.commit_s, 3),
            "first_utc": _iso(self.first_utc),
            "last_utc": _iso(self.last_utc),
            "version": self.version,
            "warnings": list(self.warnings),
            "errors": [{"path": f.path, "error": f.error} for f in self.failed],
            "per_file": [f.to_dict() for f in self.per_file],
        }


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def expand_paths(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read: each named file, and every file under a named directory (sorted, hidden
    files skipped). The flag says whether the file was named explicitly."""
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(
                    (Path(root) / f, False) for f in sorted(files) if not f.startswith(".")
                )
        else:
            out.append((p, True))
    return out


def ingest_paths(
    paths: Sequence[str | Path],
    store: Store | str | Path,
    format: str | None = None,
    tz: str | None = None,
    source: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    keep_raw: bool = True,
) -> IngestSummary:
    """Ingest files and directories into ``store`` in one commit. See the module docstring.

    ``progress(advance_bytes, total_bytes)`` is called as the files are read.
    """
    started = time.perf_counter()
    if tz is not None:
        resolve_zone(tz)  # unknown zone: fail before touching anything
    profile: Profile | str | None = None
    if format is not None:
        fmts = registered_formats()
        profile = format if format in fmts else resolve_profile(format)
    else:
        builtin_profiles()  # a broken built-in profile fails here, not per file
    files = expand_paths(paths)
    if not files:
        raise UnknownFormatError("no files to ingest", hint="Name CDR files or directories")
    total = 0
    for f, _ in files:
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    st: Store | None = None
    store_path = store.root if isinstance(store, Store) else Path(store)
    known: dict[str, FileRecord] = {}
    if isinstance(store, Store):
        st = store
    else:
        try:
            st = Store.open(store_path, create=False)
        except StoreNotFoundError:
            st = None  # created at commit time, only if there is something to commit
    if st is not None:
        known = {r.file_id: r for r in st.ingested_files()}

    summary = IngestSummary(files=len(files))
    legs_parts: list[pa.Table] = []
    rej_parts: list[pa.Table] = []
    records: list[FileRecord] = []

    def advance(n: int) -> None:
        if progress:
            progress(n, total)

    advance(0)  # the bar knows its total before the first chunk is read
    for path, named in files:
        fs = FileSummary(path=str(path), named=named)
        summary.per_file.append(fs)
        try:
            res = parse_file(
                path, profile, tz, source, keep_raw=keep_raw, progress=advance,
                display_path=str(path),
            )
        except TracehopError as e:
            fs.error = str(e)
            if not named:
                summary.warnings.append(f"skipped: {e}")
            continue
        fs.format = res.format
        fs.legs = res.legs.num_rows
        fs.rejected = res.rejects.num_rows
        fs.read = fs.legs + fs.rejected
        summary.read += fs.read
        summary.warnings.extend(w for w in res.warnings if w not in summary.warnings)
        file_id, size = res.file_id, res.size
        if file_id is None:
            file_id, size = file_sha256(path)
        summary.bytes_read += size
        if file_id in known:
            fs.skipped = True
            summary.duplicates += fs.read
            continue
        if fs.read == 0:
            fs.error = f"{path}: no records in the file"
            continue
        if fs.legs == 0:
            # Every record rejected (a wrong delimiter, a layout that is not this format): the
            # rejects are still committed as evidence, but nothing was ingested from the file.
            first = res.rejects.slice(0, 1).to_pylist()[0]
            fs.error = (
                f"{path}: nothing could be ingested, all {fs.rejected} records were rejected "
                f"(line {first['source_record']}: {first['reason']})"
            )
        known[file_id] = FileRecord(
            file_id=file_id, path=str(path), size=size, rows_read=fs.read, format=res.format,
            source=source, rejected=fs.rejected,
        )
        records.append(known[file_id])
        legs_parts.append(res.legs)
        rej_parts.append(res.rejects)

    if records:
        legs = pa.concat_tables(legs_parts) if legs_parts else LEG_SCHEMA.empty_table()
        rejects = pa.concat_tables(rej_parts) if rej_parts else REJECT_SCHEMA.empty_table()
        if st is None:
            st = Store.open(store_path, create=True)
        t_commit = time.perf_counter()
        result = st.commit(legs, rejects, records)
        summary.commit_s = time.perf_counter() - t_commit
        summary.stored += result.stored
        summary.duplicates += result.duplicates
        summary.rejected += result.rejected
        summary.version = result.version
        if legs.num_rows:
            col = legs.column("start_utc")
            starts = pl.Series(col)
            lo, hi = starts.min(), starts.max()
            summary.first_utc = lo if isinstance(lo, datetime) else None
            summary.last_utc = hi if isinstance(hi, datetime) else None
    summary.elapsed_s = time.perf_counter() - started
    return summary


__all__ = [
    "UTC_US",
    "FileSummary",
    "IngestSummary",
    "ParseResult",
    "expand_paths",
    "ingest_paths",
    "parse_file",
]
