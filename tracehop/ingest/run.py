"""Ingest orchestration: files -> parse (profile or registered format) -> one store commit.

Commit policy (DESIGN.md §4, §6, §7), decided here and documented in docs/profiles.md:

* **One commit per ingest run.** Every file that could be read goes into a single
  all-or-nothing :meth:`Store.commit`; readers never see half an ingest.
* A file that cannot be ingested at all (unknown format, a zone needed and not given, empty,
  unreadable) is reported with its error and contributes nothing; the other files are still
  committed. ``tracehop ingest`` exits non-zero when that happens to a file named on the
  command line ("exits non-zero only when nothing could be ingested from a named file"); a
  file found by walking a directory only produces a warning, unless every file of that named
  directory failed (:attr:`IngestSummary.failed_directories`).
* Options that are wrong for every file (an unknown ``--tz`` zone, an unknown ``--format``)
  raise before anything is read: the store is unchanged.
* A file whose content (sha256) was already ingested adds nothing: its records count as
  duplicates, so read = stored + rejected + duplicates still holds. When a stored version has
  its path and size, it is hashed first and, unchanged, neither detected nor parsed (its file
  record's count is its read); any other file is hashed beside its parse.
* A file that grew by appending since it was ingested (the same path, or the name it was
  rotated from; its first bytes are exactly the version the store holds: Asterisk's
  Master.csv) is read on from where that version ends (:func:`grown_from`); the records
  before count as read and duplicate.
* The days of a large time-ordered file are sorted and written while the rest of it is still
  parsed (:class:`EarlySpool`); those files are only made visible by the one commit, and are
  deleted when it fails or when their file turns out not to be ingestible.

Identity: ``leg_id`` = ``<first 16 hex digits of the file's sha256>:<source_record>``. The
content hash (not the path) makes it stable when a file is renamed or re-delivered, and the
line number makes it unique within the file; the store deduplicates on it. A grown file's new
records take the prefix of the first version of it that was ingested (its file record's
``id_prefix``), so a record keeps its leg_id however often the file grows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import os
import queue
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa

from tracehop.errors import (
    ProfileError,
    StoreNotFoundError,
    TracehopError,
    UnknownFormatError,
)
from tracehop.ingest import fssql, readers
from tracehop.ingest.apply import FILE, FileContext, apply_profile, reference_pairs
from tracehop.ingest.detect import detect_format, fits_with_other_delimiter, read_head
from tracehop.ingest.fileorder import natural_sorted
from tracehop.ingest.formats import ParseResult, Resume, document_reader, registered_formats
from tracehop.ingest.profile import BUILTIN_DIR, Profile, builtin_profiles, resolve_profile
from tracehop.ingest.readers import (
    LINE,
    RAW,
    REASON,
    Batch,
    Layout,
    iter_batches,
    read_layout,
)
from tracehop.ingest.unpack import Unpacked
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA, UTC_US, conform
from tracehop.store import FileRecord, Store
from tracehop.store.layout import (
    ARROW_SLICE_ROWS,
    LEGS_DIR,
    REJECTS_DIR,
    conform_loose,
    constant_columns,
    day_expr,
    day_of,
    to_polars,
)
from tracehop.store.log import LOG_DIR
from tracehop.store.records import compact_warning
from tracehop.store.state import STATE_DIR
from tracehop.store.writer import EarlyDays
from tracehop.timezones import resolve_zone

ProgressFn = Callable[[int], None]  # bytes advanced
LEG_ID_PREFIX_HEX = 16
#: Registered formats whose records are frames of a packet capture (tracehop/sip).
_CAPTURE_FORMATS: Final = ("pcap", "pcapng", "hep")


class _Hasher(threading.Thread):
    """sha256 of a file, computed beside the parse (hashlib releases the GIL)."""

    def __init__(self, path: Path, resume: Resume | None = None) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.digest = ""
        self.size = 0
        self.error: OSError | None = None
        # A grown file's first bytes were hashed when its growth was recognised: go on from
        # there instead of reading them again.
        hashed = resume.hashed if resume is not None else None
        self.offset = resume.offset if resume is not None and hashed is not None else 0
        self.state = hashed.copy() if hashed is not None else hashlib.sha256()

    def run(self) -> None:
        h = self.state
        self.size = self.offset
        # One buffer, refilled: a fresh 8 MB block per read was zeroed by the kernel first
        # (0.15 against 0.17 CPU-s for the 250 MB file of bench_ingest.py --rows 1000000).
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        try:
            with self.path.open("rb", buffering=0) as fh:
                fh.seek(self.offset)
                while n := fh.readinto(buf):
                    h.update(view[:n])
                    self.size += n
        except OSError as e:
            self.error = e
        self.digest = h.hexdigest()


def file_sha256(path: Path) -> tuple[str, int]:
    t = _Hasher(path)
    t.run()
    return t.digest, t.size


def grown_from(path: Path, recorded: Iterable[FileRecord]) -> Resume | None:
    """Where to read ``path`` on from, if it grew by appending since a version of it was
    ingested: one of ``recorded`` (the store's records of the same path) is shorter and its
    sha256 is that of ``path``'s first ``size`` bytes. The longest such version wins; None
    when there is none (the file is read whole).

    Asterisk's cdr_csv appends to one Master.csv for ever: without this, every scheduled
    ingest would read the whole file again under a new content hash and store every record
    a second time. Reading goes on from the last line end of that version: a version caught
    in the middle of a write (its last line cut) has that line read again, now whole, under
    the same line number (so the same leg_id). The prefixes are hashed in one pass (a copy of
    the hash state at each recorded size), and when the version ends at a line end the state
    there lets the file's own hash go on from it instead of reading those bytes again.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return None
    versions = sorted((r for r in recorded if 0 < r.size < size), key=lambda r: -r.size)
    if not versions:
        return None
    # size -> (hash state, line ends before it, offset just after the last line end before it)
    seen: dict[int, tuple[Any, int, int]] = {}
    h = hashlib.sha256()
    lines = pos = after_nl = 0
    try:
        with path.open("rb", buffering=0) as fh:
            for stop in sorted({r.size for r in versions}):
                while pos < stop:
                    block = fh.read(min(1 << 20, stop - pos))
                    if not block:
                        break
                    h.update(block)
                    n = block.count(b"\n")
                    if n:
                        lines += n
                        after_nl = pos + block.rfind(b"\n") + 1
                    pos += len(block)
                if pos < stop:
                    break
                seen[stop] = (h.copy(), lines, after_nl)
    except OSError:
        return None
    for r in versions:
        got = seen.get(r.size)
        if got is None or got[2] == 0 or got[0].hexdigest() != r.file_id:
            continue
        state, ends, offset = got
        return Resume(
            offset=offset, first_line=ends + 1,
            id_prefix=r.id_prefix or r.file_id[:LEG_ID_PREFIX_HEX],
            # A version that ended inside a line counted that line (rejected as cut short, or
            # stored if it was whole but had no line end yet): it is read again now, and
            # counts in this run, not among the records read before.
            rows_before=max(0, r.rows_read - (offset < r.size)),
            hashed=state if offset == r.size else None,
            version_size=r.size,
        )
    return None


#: A file's head (FileRecord.head_size): its bytes up to the first line end at or after this
#: many, so that header lines (every export of a format starts with the same ones; CUCM's
#: two take 3-4 KB) never make two files look alike; none when no line ends within
#: HEAD_MAX_BYTES. A copy restored in a file's place is far larger (days of calls).
HEAD_MIN_BYTES: Final = 64 * 1024
HEAD_MAX_BYTES: Final = 1024 * 1024


def file_head(path: Path) -> tuple[int, str] | None:
    """(size, sha256) of ``path``'s head (its bytes up to its first line end at or after
    HEAD_MIN_BYTES), or None when it has none (shorter, or no line end soon enough)."""
    try:
        with path.open("rb") as fh:
            block = fh.read(HEAD_MAX_BYTES)
    except OSError:
        return None
    end = block.find(b"\n", HEAD_MIN_BYTES - 1)
    if end < 0:
        return None
    return end + 1, hashlib.sha256(block[:end + 1]).hexdigest()


def _starts_as(path: Path, record: FileRecord) -> bool:
    """Whether ``path`` starts with the head of the file ``record`` stands for."""
    if record.head_size is None:
        return False
    try:
        with path.open("rb") as fh:
            block = fh.read(record.head_size)
    except OSError:
        return False
    return (len(block) == record.head_size
            and hashlib.sha256(block).hexdigest() == record.head_sha256)


def _older_copy_warning(path: Path, copy: Path, size: int, file_id: str,
                        recorded: Iterable[FileRecord], store: Path) -> str | None:
    """For a file ingested whole as new: the warning when it is smaller than a version of it
    the store holds and starts with the same bytes, so most likely an older copy of it
    (restored from a backup, a rotation gone wrong) whose records are now stored twice.

    Recognising such a copy exactly would need the stored version's bytes: the store keeps
    only the hash of each version whole, and a copy may have had new records appended since
    it was restored, at line numbers that the newest version used for others (taken for those
    as duplicates, they would be lost). So it is stored, and the ingest says what happened
    and how to undo it."""
    bigger = [r for r in recorded if r.size > size and _starts_as(copy, r)]
    if not bigger:
        return None
    r = max(bigger, key=lambda rec: rec.size)
    return (f"{path}: smaller than the version of it the store holds ({size:,} < "
            f"{r.size:,} bytes, ingested {_when(r.ingested_at)}) and starting with the same "
            f"records: most likely an older copy of it (restored from a backup, a rotation "
            f"gone wrong). Read as a new file, the records it shares with that version are "
            f"now stored twice, under other leg ids. If it is such a copy, undo that with "
            f"`tracehop forget --store {shlex.quote(str(store))} {file_id[:12]}` and put the "
            f"newest file back before the next ingest")


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _not_newest_warning(path: Path, resume: Resume, recorded: Iterable[FileRecord]
                        ) -> str | None:
    """For a file read on from a version of it the store holds: the warning when the store
    holds a longer version of the same file that this one does not continue (an older copy,
    restored from a backup, in place of the newest file)."""
    newer = [r for r in recorded
             if (r.id_prefix or r.file_id[:LEG_ID_PREFIX_HEX]) == resume.id_prefix
             and r.size > resume.version_size]
    if not newer:
        return None
    r = max(newer, key=lambda rec: rec.size)
    return (f"{path}: read on from an earlier version of it the store holds "
            f"({resume.version_size:,} bytes), as it does not continue the newest one "
            f"({r.size:,} bytes, ingested {_when(r.ingested_at)}): an older copy restored in "
            f"its place? Its records at the line numbers the newest version had count as "
            f"duplicates of that version's, also any that were written to this copy since "
            f"it was restored (they are not stored). Put the newest file back, or move this "
            f"one aside and ingest it under a name of its own (its records already stored "
            f"are then stored again, none is lost)")


def _head_fields(path: Path) -> dict[str, Any]:
    head = file_head(path)
    return {} if head is None else {"head_size": head[0], "head_sha256": head[1]}


def _time_formats_hint(reason: str | None, given: str | None) -> str:
    """For a file whose every record was rejected for a start time its user's profile cannot
    parse (a profile written for `2026-11-20` given `20.11.2026`): the profile key to fix,
    with its line, since the reject reason names only the data file and column."""
    if not reason or given is None or not given.endswith(".toml") \
            or not reason.startswith("unparseable start time"):
        return ""
    line = None
    try:
        for i, text in enumerate(Path(given).read_text(encoding="utf-8").splitlines(), 1):
            if text.lstrip().startswith("formats"):
                line = i
                break
    except OSError:
        pass
    where = f"{given}:{line}" if line else given
    return (f"; fix key 'time.formats' in {where}: add the strftime format the start column "
            "is written in (docs/profiles.md)")


def _is_document_format(name: str | None) -> bool:
    """Whether ``name`` is a built-in profile read by a document reader (one JSON or XML
    document per call leg, e.g. FreeSWITCH's), not a line-by-line CSV."""
    return any(p.name == name and p.reader != "csv" for p in builtin_profiles())


def _format_hint(path: Path, given: str | None) -> str:
    """For a file that failed as a whole under ``--format given``: the format detection finds
    in it instead, and the two ways out (nothing when --format was not given, or detection
    finds nothing else). Run only on that failure path.

    A directory of mixed exports ingested with one --format, or a --format copied from another
    switch's job, failed each other file with "no SIP messages in the capture" (--format pcap
    on a CSV), a missing column, or every record rejected, without naming the format the file
    is in."""
    if given is None:
        return ""
    try:
        found = detect_format(path)
    except (TracehopError, OSError):
        # A layout that fits once split on another delimiter (a tab-separated database dump,
        # SELECT ... INTO OUTFILE, given the --format of the comma-separated one): the reject
        # reason asks "is the delimiter '\t'?", and this says which profile to copy and how.
        try:
            other = fits_with_other_delimiter(path, None)
        except (TracehopError, OSError):
            return ""
        if other is None or not other.hint:
            return ""
        return f" ({other.hint[:1].lower()}{other.hint[1:]})"
    mine = Path(given).stem if given.endswith(".toml") else given
    if found == mine:
        return ""
    return (f" (the file looks like {found}: pass --format {found}, or leave --format out to "
            "detect each file's format)")


def _ends_mid_line(path: Path) -> bool:
    """Whether the file's last byte is not a line end (a record being written)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) not in (b"\n", b"\r")
    except OSError:
        return False


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
    exact_types: bool = True,
    early: EarlySpool | None = None,
    resume: Resume | None = None,
) -> ParseResult:
    """Parse one file into legs (LEG_SCHEMA, with leg_id) and rejects (REJECT_SCHEMA).

    With ``exact_types=False`` the legs' text columns may be ``string_view`` (LEG_SCHEMA's
    names and order, Polars' own layout, no copy): what :meth:`Store.commit` sorts fastest;
    ``ingest_paths`` asks for that.

    ``profile`` is a :class:`Profile`, a format name or a profile path, or None to detect.
    Raises :class:`~tracehop.errors.InputError` / :class:`~tracehop.errors.ZoneError` when
    the file cannot be ingested at all; malformed records become rejects.

    With ``early`` (``ingest_paths``), the legs of days already read to their end are written
    to the store during the parse (invisible until its commit) and are not in the result's
    ``legs``: :meth:`EarlySpool.rows_of` counts them.

    With ``resume`` (:func:`grown_from`), a delimited file is read on from where the version
    of it already stored ends, line numbers and leg_ids going on from that version's; the
    result's ``resume`` says so (other readers read the file whole).
    """
    p = Path(path)
    shown = display_path or str(path)
    if not p.is_file():
        if not p.exists() and _is_pattern(path):
            raise UnknownFormatError(
                "no file matches this pattern", path=shown,
                hint="Check the directory and the pattern; name the files or their directory "
                "instead")
        raise UnknownFormatError("no such file", path=shown) if not p.exists() else (
            UnknownFormatError("not a regular file", path=shown)
        )
    head = read_head(p)  # empty / unreadable -> clear error before any work
    if profile is not None and fssql.detect(head, p):
        # SQL statements read as CSV with a format named by hand would give legs of garbage
        # (an account code `ACME");`): refused whatever --format says.
        raise fssql.refusal(shown)
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

    # The head read once: resuming, the header check and the batches all go by it.
    layout = read_layout(p, profile.dialect) if profile.reader == "csv" else None
    if resume is not None and not _resumable(layout, resume):
        resume = None
    unknown_columns = _columns_not_in_header(layout, profile, shown)
    hasher = _Hasher(p, resume)
    hasher.start()
    ctx = FileContext(shown, profile.name, source, tz, keep_raw)
    ctx.references = _file_references(p, profile, layout, resume)
    if unknown_columns:
        ctx.warn(unknown_columns)
    legs_parts: list[pl.DataFrame] = []
    rej_parts: list[pl.DataFrame] = []
    latin1 = 0
    latin1_first: int | None = None
    lines = 0
    if early is not None and resume is not None:
        early.id_prefix = resume.id_prefix
    for batch in _prefetched(_batches(p, profile, progress, layout, resume, tz)):
        legs, rejects = apply_profile(batch.rows, profile, ctx)
        # Kept in Polars (strings as views into the chunk's buffers) until the end, when the
        # content hash gives leg_id, or until their day is written early; the raw columns of
        # the batch are released here.
        if early is not None:
            done = not hasher.is_alive() and hasher.error is None
            early.add(legs, hasher.digest if done else None, shown)
        else:
            legs_parts.append(legs)
        del legs, batch.rows
        rej_parts.append(batch.rejects)
        rej_parts.append(rejects)
        latin1 += batch.latin1_records
        if latin1_first is None and batch.latin1_first is not None:
            latin1_first = batch.latin1_first
        lines += batch.lines
    hasher.join()
    if hasher.error is not None:
        raise UnknownFormatError(f"cannot read the file: {hasher.error.strerror}", path=shown)
    if early is not None:
        legs_parts = early.held()
    now = datetime.now(UTC)
    legs_tbl = _finish_legs(legs_parts, resume.id_prefix if resume is not None
                            else hasher.digest[:LEG_ID_PREFIX_HEX], exact_types)
    rej = pl.concat(rej_parts) if rej_parts else pl.DataFrame(
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String}
    )
    if latin1:
        ctx.warn(
            f"{shown}: {latin1} record(s) are not valid UTF-8 and were read as Latin-1"
            + (f" (the first at line {latin1_first})" if latin1_first is not None else "")
        )
    result = ParseResult(
        legs=legs_tbl,
        rejects=_rejects_table(rej.sort(LINE), shown, profile.name, source, now),
        warnings=ctx.warnings,
        format=profile.name,
        lines=lines,
        file_id=hasher.digest,
        size=hasher.size,
        resume=resume,
    )
    return result


def _shown_delimiter(d: str) -> str:
    return "\\t" if d == "\t" else d


def _header_delimiter(names: tuple[str, ...], profile: Profile) -> str | None:
    """The delimiter (as a profile writes it) that splits a header read as a single name into
    names holding the profile's start column, or None."""
    if len(names) != 1:
        return None
    for c in (",", ";", "\t", "|"):
        if c != profile.dialect.delimiter and profile.time.start in [
                n.strip().strip('"') for n in names[0].split(c)]:
            return _shown_delimiter(c)
    return None


def _required_columns(profile: Profile) -> list[tuple[str, tuple[str, ...]]]:
    """The profile keys a header must serve, each with the columns it may take: the called
    number (any one of its columns) and each column of a template (every one is needed)."""
    keys: list[tuple[str, tuple[str, ...]]] = []
    for name, spec in profile.fields:
        if spec.template is not None:
            keys += [(f"fields.{name}.template", (c,)) for c in spec.columns]
        elif name == "called_raw":
            keys.append((f"fields.{name}", spec.all_columns()))
    return keys


def _line_of(path: str, column: str) -> int | None:
    """The first line of the profile that names ``column`` in quotes, for the error."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for i, text in enumerate(lines, 1):
        if f'"{column}"' in text or f"'{column}'" in text:
            return i
    return None


def _columns_not_in_header(layout: Layout | None, profile: Profile,
                           shown: str) -> str | None:
    """For a profile that reads its column names from the file's header: an error when the
    start time's column is not there (every record would be rejected as "empty"), and a
    warning naming the other columns a user's profile uses that the header lacks (a misspelt
    name would leave that field empty on every record without a word). Built-in profiles
    may name optional columns, which only some exports have."""
    if layout is None or not profile.dialect.header:
        return None
    names = set(layout.names)
    if profile.time.start not in names:
        hint = "Check --format, or the column names in the profile's [time] section"
        # A header read as one name that another delimiter splits into the profile's columns
        # (a tab export read with the default ","): the fix is the delimiter, not the names.
        other = _header_delimiter(layout.names, profile)
        if other is not None:
            hint = (f"The header is separated by '{other}', not by the profile's "
                    f"'{_shown_delimiter(profile.dialect.delimiter)}': set "
                    f'delimiter = "{other}" in the profile\'s [csv] section')
        raise ProfileError(
            f"{shown}: the {profile.name} profile takes the call time from column "
            f"{profile.time.start!r}, which the file's header does not have "
            f"(it has: {', '.join(sorted(names)[:12])}{', ...' if len(names) > 12 else ''})",
            path=profile.path,
            hint=hint)
    if Path(profile.path).resolve().parent == BUILTIN_DIR.resolve():
        return None
    missing = sorted(c for c in profile.columns_used() if c not in names)
    if not missing:
        return None
    # The called number read from no column of the header (a typo in `called_raw = "Caled"`)
    # would store every record with no number to find it by: that is an error before anything
    # is stored, naming the key, its line and the header name it most resembles; so is a
    # template's column (the field would be empty on every record). Any other key only
    # warns, below: a profile copied from a built-in one names optional columns
    # that only some exports have (FusionPBX's accountcode, network_addr), and refusing the
    # file for them would stop an ingest that loses nothing but that field.
    for key, cols in _required_columns(profile):
        if cols and not any(c in names for c in cols):
            close = difflib.get_close_matches(cols[0], layout.names, n=1, cutoff=0.6)
            raise ProfileError(
                f"{shown}: key '{key}' of the {profile.name} profile names column "
                f"{cols[0]!r}, which the file's header does not have",
                path=profile.path,
                line=_line_of(profile.path, cols[0]),
                hint=(f"Did you mean {close[0]!r}?" if close else
                      f"The header has: {', '.join(layout.names[:12])}"
                      + (", ..." if len(layout.names) > 12 else "")))
    return (f"{shown}: profile {profile.name} names column(s) {', '.join(map(repr, missing))} "
            f"that the file's header does not have: those fields stay empty (check the "
            f"spelling against the header)")


def _resumable(layout: Layout | None, resume: Resume) -> bool:
    """A delimited layout whose data starts before the resume offset (not an old Mac file,
    which is translated whole)."""
    return layout is not None and not layout.cr_only and resume.offset >= layout.data_offset


def _prefetched(batches: Iterable[Batch]) -> Iterator[Batch]:
    """``batches``, read one ahead in a thread: the CSV parse of the next chunk (pyarrow and
    Polars release the GIL) overlaps applying the profile to this one, so both cores work.
    Memory: one more chunk's columns. An error in the reader is raised here, in order."""
    slot: queue.Queue[tuple[bool, Batch | BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[bool, Batch | BaseException | None]) -> bool:
        while not stop.is_set():  # the consumer may stop early (an error while applying)
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for b in batches:
                if not put((True, b)):
                    return
            put((True, None))
        except BaseException as e:  # handed to the consumer, raised there
            put((False, e))

    worker = threading.Thread(target=produce, daemon=True, name="tracehop-read")
    worker.start()
    try:
        while True:
            ok, item = slot.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if item is None:
                return
            assert isinstance(item, Batch)
            yield item
    finally:
        stop.set()
        worker.join()


def _batches(p: Path, profile: Profile, progress: ProgressFn | None,
             layout: Layout | None = None, resume: Resume | None = None,
             tz: str | None = None) -> Iterable[Batch]:
    if profile.reader != "csv":
        reader = document_reader(profile.reader, tz)
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
    if layout is None:
        layout = read_layout(p, profile.dialect)
    done = 0
    if resume is not None:
        # The columns (and their variant) come from the file's head; the records from the
        # first line after what the store holds.
        layout = dataclasses.replace(layout, data_offset=resume.offset,
                                     first_line=resume.first_line)
        done = resume.offset
        if progress:
            progress(resume.offset)
    used = frozenset(profile.columns_used())
    for batch in iter_batches(p, profile.dialect, layout, used=used):
        if progress:
            progress(batch.bytes_done - done)
        done = batch.bytes_done
        yield batch


def _file_references(p: Path, profile: Profile, layout: Layout | None,
                     resume: Resume | None) -> dict[tuple[str, str], pl.DataFrame] | None:
    """The ``referenced_by`` pairs of the whole file, when a profile has such rules and the
    file is read in more than one batch (or read on from where a stored version ends): one
    extra pass over the columns they name, so that a record and the one naming it are linked
    wherever the batch boundaries fall. None when each batch (the whole file) is enough."""
    rules = [r for r in profile.reference_rules() if r.referenced_by]
    if not rules or profile.reader != "csv" or layout is None:
        return None
    if resume is None and p.stat().st_size - layout.data_offset <= readers.CHUNK_BYTES:
        return None
    cols = frozenset(c for r in rules for c in (r.column, r.referenced_by) if c)
    parts: dict[tuple[str, str], list[pl.DataFrame]] = {}
    nulls = profile.dialect.null_values
    for batch in iter_batches(p, profile.dialect, layout, used=cols):
        for r in rules:
            assert r.referenced_by
            parts.setdefault((r.column, r.referenced_by), []).append(
                reference_pairs(batch.rows, r, nulls))
    return {k: pl.concat(v).unique() for k, v in parts.items()}


def _finish_legs(parts: list[pl.DataFrame], id_prefix: str, exact_types: bool) -> pa.Table:
    if not parts:
        return LEG_SCHEMA.empty_table()
    frame = pl.concat(parts, how="diagonal_relaxed", rechunk=False)
    prefix = id_prefix + ":"
    frame = frame.with_columns(
        (pl.lit(prefix) + pl.col("source_record").cast(pl.String)).alias("leg_id")
    )
    return _to_legs(frame, exact_types)


def _to_legs(frame: pl.DataFrame, exact_types: bool) -> pa.Table:
    """Legs (with leg_id) to Arrow: LEG_SCHEMA exactly, or with text left as string_view."""
    if exact_types:
        return _typed(frame)
    return conform_loose(frame.to_arrow(compat_level=pl.CompatLevel.newest()), LEG_SCHEMA)


def _typed(frame: pl.DataFrame) -> pa.Table:
    """The frame with LEG_SCHEMA's Arrow types, cast in slices (no 2 GiB string overflow)."""
    parts = []
    for off in range(0, max(frame.height, 1), ARROW_SLICE_ROWS):
        part = frame.slice(off, ARROW_SLICE_ROWS).to_arrow(compat_level=pl.CompatLevel.newest())
        parts.append(conform(conform_loose(part, LEG_SCHEMA), LEG_SCHEMA))
    return pa.concat_tables(parts)


def _concat_legs(parts: list[pa.Table]) -> pa.Table:
    """One table of all files' legs; parsers that give plain ``string`` and those that give
    ``string_view`` are brought to LEG_SCHEMA's exact types first (in slices)."""
    if not parts:
        return LEG_SCHEMA.empty_table()
    if all(p.schema.equals(parts[0].schema) for p in parts):
        return pa.concat_tables(parts)
    return pa.concat_tables([p if p.schema.equals(LEG_SCHEMA) else _typed(to_polars(p))
                             for p in parts])


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


#: Files of a document format (one JSON CDR per call leg) applied as one batch: the profile's
#: expressions cost the same for 1 row as for thousands, so applying it file by file made
#: a directory of FreeSWITCH JSON CDRs cost ~40 ms a file.
DOCUMENT_BATCH_FILES = 2000
DOCUMENT_BATCH_BYTES = 64 << 20


#: Per-file frames of a document batch merged this many at a time as they are read. A polars
#: frame of one leg costs ~100 kB whatever its size (a FreeSWITCH CDR: one file, one leg, ~45
#: columns): 2,000 of them held until the batch was applied took 200 MB more than the same
#: rows merged, and an ingest of a directory of 6,000 JSON CDRs peaked at 1.2 GB.
_FRAMES_MERGED = 64


def _merged(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """``frames`` made one (same rows, same order), and emptied."""
    one = pl.concat(frames, how="diagonal_relaxed").rechunk()
    frames.clear()
    return one


def parse_documents(
    paths: Sequence[Path],
    profile: Profile,
    tz: str | None = None,
    source: str | None = None,
    *,
    keep_raw: bool = True,
    progress: ProgressFn | None = None,
    exact_types: bool = True,
) -> list[ParseResult | TracehopError]:
    """:func:`parse_file` for many files of a document format (``profile.reader`` is not
    "csv"), with the profile applied once to all their records. One result per path, in
    order: a :class:`ParseResult`, or the error that stopped that file."""
    reader = document_reader(profile.reader, tz)
    if reader is None:
        raise ProfileError(
            f"names reader {profile.reader!r}, which is not registered", path=profile.path
        )
    results: list[ParseResult | TracehopError | None] = [None] * len(paths)
    frames: list[pl.DataFrame] = []
    reader_rejects: list[pl.DataFrame] = []
    pending: list[pl.DataFrame] = []  # read, not merged yet (_FRAMES_MERGED)
    pending_rejects: list[pl.DataFrame] = []
    ids: dict[int, tuple[str, int]] = {}
    wanted = frozenset(profile.columns_used())
    for i, p in enumerate(paths):
        try:
            read_head(p)  # empty / unreadable -> that file's error
            rows, rejects = reader(p, wanted)
            ids[i] = file_sha256(p)
        except TracehopError as e:
            results[i] = e
            continue
        except OSError as e:
            results[i] = UnknownFormatError(f"cannot read the file: {e.strerror}", path=str(p))
            continue
        if progress:
            progress(ids[i][1])
        pending.append(rows.with_columns(pl.lit(i, dtype=pl.Int32).alias(FILE)))
        pending_rejects.append(rejects.with_columns(pl.lit(i, dtype=pl.Int32).alias(FILE)))
        if len(pending) >= _FRAMES_MERGED:
            frames.append(_merged(pending))
            reader_rejects.append(_merged(pending_rejects))
    if pending:
        frames.append(_merged(pending))
        reader_rejects.append(_merged(pending_rejects))
    if frames:
        ctx = FileContext(str(paths[0]), profile.name, source, tz, keep_raw)
        try:
            legs, rejects = apply_profile(pl.concat(frames, how="diagonal_relaxed"), profile, ctx)
        except TracehopError as e:  # e.g. a zone needed and not given: every file of the batch
            return [e if r is None else r for r in results]
        # leg_id and source_file for all files at once, then one table per file.
        file_of = pl.col(FILE).cast(pl.Int64)
        keys = list(ids)
        legs = legs.with_columns(
            file_of.replace_strict(keys, [str(paths[i]) for i in keys], return_dtype=pl.String)
            .alias("source_file"),
            (file_of.replace_strict(keys, [ids[i][0][:LEG_ID_PREFIX_HEX] + ":" for i in keys],
                                    return_dtype=pl.String)
             + pl.col("source_record").cast(pl.String))
            .alias("leg_id"),
        )
        by_file = legs.partition_by(FILE, as_dict=True, maintain_order=True, include_key=False)
        rej_all = pl.concat([*reader_rejects, rejects], how="diagonal_relaxed")
        rej_by_file = rej_all.partition_by(FILE, as_dict=True, include_key=False)
        now = datetime.now(UTC)
        empty = legs.clear().drop(FILE)
        no_rejects = REJECT_SCHEMA.empty_table()
        for i in ids:
            shown = str(paths[i])
            rej = rej_by_file.get((i,))
            results[i] = ParseResult(
                legs=_to_legs(by_file.get((i,), empty), exact_types),
                rejects=no_rejects if rej is None else _rejects_table(
                    rej.sort(LINE), shown, profile.name, source, now),
                warnings=list(ctx.warnings),
                format=profile.name,
                lines=0,
                file_id=ids[i][0],
                size=ids[i][1],
            )
    return [r for r in results if r is not None]


# --- writing days early ----------------------------------------------------------------------

#: A day is written early once a batch's earliest call starts this far into the next day: a
#: Master.csv is written at call end, so calls that started on day D and ended just after
#: midnight come among the first calls of D+1. Later rows of D are not lost: they stay held
#: and go to the commit as one more file of D.
EARLY_MARGIN_US: Final = 3600 * 1_000_000
_DAY_US: Final = 86_400 * 1_000_000
#: Legs held at most before they are written, whether or not their day has been read to its
#: end (~800 bytes of memory a leg with its raw line: 1.6 GB). Without it a whole UTC day
#: is held until the next one starts: 8 GB for a 2.5 GB Master.csv of three days, and more
#: than the machine has for a big provider's day. On this kind of VM memory a process touches
#: for the first time is dear (the kernel zeroes it, the host backs it): bounding what is held
#: cut a 10M-row ingest from 42-47 to ~37 CPU-s (docs/decisions.md, "Ingest speed, fifth
#: pass"). The price: a day read in parts gets a file per part (compacted into one when a day
#: has more than the store's compact_threshold files).
SPOOL_ROWS: Final = 2_000_000


class EarlySpool:
    """The legs of one ingest's files, held per batch until their UTC day has been read to
    its end, then written as a day file by :class:`EarlyDays` while the parse goes on, so that
    sorting and writing overlap parsing instead of following it.

    A day counts as read to its end once a batch's earliest call starts
    :data:`EARLY_MARGIN_US` into the next day; every held day is written as well once more
    than :data:`SPOOL_ROWS` legs are held (a day then gets a file per part). An input that is
    not in time order never gets there: its legs are all held for the commit, as without this.
    Nothing is written before the file's content hash is known and the store does not hold
    that file yet (re-ingesting adds nothing), nor when record numbers are not increasing (leg
    ids must be distinct)."""

    def __init__(self, open_store: Callable[[], Store], wanted: Callable[[str], bool]) -> None:
        self._open_store = open_store
        self._wanted = wanted
        self.early: EarlyDays | None = None
        # key -> (first, last) start_utc of the legs written early for that file: per file,
        # so that a file taken back (drop_file) leaves the summary's span of calls.
        self._spans: dict[str, tuple[datetime, datetime]] = {}
        self._files = 0
        self.start_file()

    def start_file(self) -> str:
        """Begin a file; returns the key its early writes are known by."""
        self._files += 1
        self.key = f"{self._files}"
        self._held: list[tuple[int, int, pl.DataFrame]] = []  # first day, last day, legs
        self._last_record = -1
        self._ordered = True
        self._skip = False
        self.id_prefix: str | None = None  # a grown file's: that of its first version
        return self.key

    def rows_of(self, key: str) -> int:
        return 0 if self.early is None else self.early.given_of(key)

    def drop_file(self, key: str) -> None:
        """The file could not be ingested after all: its early day files are deleted."""
        self._spans.pop(key, None)
        if self.early is not None:
            self.early.drop(key)

    @property
    def first_utc(self) -> datetime | None:
        """The earliest start of the legs written early (of the files not taken back)."""
        return min((first for first, _last in self._spans.values()), default=None)

    @property
    def last_utc(self) -> datetime | None:
        """The latest start of the legs written early (of the files not taken back)."""
        return max((last for _first, last in self._spans.values()), default=None)

    def add(self, legs: pl.DataFrame, digest: str | None, shown: str) -> None:
        """One batch of a file's legs (no leg_id yet); ``digest`` once the hash is known."""
        if legs.height == 0:
            return
        records = legs.get_column("source_record")
        lo, hi = records.min(), records.max()
        if (records.null_count() or not isinstance(lo, int) or not isinstance(hi, int)
                or lo <= self._last_record or records.n_unique() != legs.height):
            if self.rows_of(self.key):
                # Already written rows might share a leg_id with these: not safe to go on.
                raise TracehopError(
                    f"{shown}: record numbers are not increasing from one batch to the next",
                    hint="A reader bug; ingest the file again, it was not stored",
                )
            self._ordered = False
        else:
            self._last_record = hi
        span = legs.select(
            day_expr().min().alias("lo"), day_expr().max().alias("hi"),
            pl.col("start_utc").min().dt.epoch("us").alias("first"),
        ).row(0)
        if span[0] is None:  # start_utc is never null in legs; nothing to order by otherwise
            self._ordered = False
            self._held.append((0, 0, legs))
            return
        self._held.append((int(span[0]), int(span[1]), legs))
        if not self._ordered or self._skip or digest is None:
            return
        if not self._wanted(digest):
            self._skip = True  # already stored: every leg is a duplicate, write nothing
            return
        closed = (int(span[2]) - EARLY_MARGIN_US) // _DAY_US - 1  # the last day read to its end
        if sum(frame.height for _lo, _hi, frame in self._held) > SPOOL_ROWS:
            closed = max(hi for _lo, hi, _frame in self._held)  # all of it, days open too
        self._write_through(closed, digest)

    def _write_through(self, closed: int, digest: str) -> None:
        """Write every held leg of the days up to ``closed``."""
        taken: list[pl.DataFrame] = []
        kept: list[tuple[int, int, pl.DataFrame]] = []
        for lo, hi, frame in self._held:
            if hi <= closed:
                taken.append(frame)
            elif lo <= closed:
                day = day_expr()
                taken.append(frame.filter(day <= closed))
                rest = frame.filter(day > closed)
                kept.append((closed + 1, hi, rest))
            else:
                kept.append((lo, hi, frame))
        self._held = kept
        if not taken:
            return
        frame = pl.concat(taken, how="diagonal_relaxed", rechunk=False)
        del taken
        prefix = (self.id_prefix or digest[:LEG_ID_PREFIX_HEX]) + ":"
        frame = frame.with_columns(
            (pl.lit(prefix) + pl.col("source_record").cast(pl.String)).alias("leg_id"))
        first, last = frame.get_column("start_utc").min(), frame.get_column("start_utc").max()
        if isinstance(first, datetime) and isinstance(last, datetime):
            was = self._spans.get(self.key)
            self._spans[self.key] = (first, last) if was is None else (
                min(was[0], first), max(was[1], last))
        if self.early is None:
            self.early = EarlyDays(self._open_store())
        # The file's own columns (its name, format, ...) stay one value, not a column of rows.
        constants = constant_columns(frame)
        frame = frame.drop(list(constants))
        if frame.select(day_expr().n_unique()).item() == 1:
            self.early.submit(self.key, day_of(int(frame.select(day_expr().first()).item())),
                              _to_legs(frame, exact_types=False), constants)
            return
        parts = frame.with_columns(day_expr().alias("_day")).partition_by(
            "_day", maintain_order=True, include_key=False, as_dict=True)
        for (d,), part in parts.items():
            self.early.submit(self.key, day_of(int(d)), _to_legs(part, exact_types=False),
                              constants)

    def held(self) -> list[pl.DataFrame]:
        """End of the file: the legs not written early (they go to the commit)."""
        out = [frame for _lo, _hi, frame in self._held]
        self._held = []
        return out


# --- ingest_paths ----------------------------------------------------------------------------


@dataclass
class FileSummary:
    path: str
    format: str | None = None
    read: int = 0
    legs: int = 0
    rejected: int = 0
    skipped: bool = False  # already ingested (same content)
    # Grown by nothing but a last line still being written (no line end yet): left for the
    # next run, which reads it whole.
    waiting: bool = False
    error: str | None = None
    named: bool = True  # given on the command line (not found by walking a directory)
    found_in: str | None = None  # not named: the named directory it was found in
    resumed_at: int | None = None  # grew since ingested: read on from this byte offset

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "read": self.read,
            "legs": self.legs,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "waiting": self.waiting,
            "resumed_at": self.resumed_at,
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
        """Files named by the caller from which nothing could be ingested, then each named
        directory none of whose files could be (:attr:`failed_directories`)."""
        return [f for f in self.failed if f.named] + self.failed_directories

    @property
    def failed_directories(self) -> list[FileSummary]:
        """Each named directory none of whose files could be ingested: an entry of its own,
        naming the directory and quoting its first file's error.

        A file found by walking a directory failing is only a warning (a README beside the
        CDRs). But when every file of it failed, as when a timer's `ingest /var/log/asterisk/
        cdr-csv` lacks the --tz its Master.csv needs, nothing could be ingested from a path
        named on the command line: the run exited 0, storing nothing, every time."""
        walked: dict[str, list[FileSummary]] = {}
        for f in self.per_file:
            if not f.named and f.found_in is not None:
                walked.setdefault(f.found_in, []).append(f)
        out = []
        for directory, files in walked.items():
            if all(f.error is not None for f in files):
                which = "its one file" if len(files) == 1 else f"all {len(files)} of its files"
                out.append(FileSummary(
                    path=directory, named=True,
                    error=f"{directory}: nothing could be ingested from this directory, "
                    f"{which} failed; {files[0].error}"))
        return out

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
            "errors": [{"path": f.path, "error": f.error}
                       for f in [*self.failed, *self.failed_directories]],
            "per_file": [f.to_dict() for f in self.per_file],
        }


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: The directories a store keeps in its root (tracehop/store: the Delta log, day files,
#: rejects, reader state): never input.
_STORE_DIRS: Final = (LOG_DIR, LEGS_DIR, REJECTS_DIR, STATE_DIR)


def _printable(path: str | Path) -> str:
    """``path`` as text that can be stored and printed: the bytes of a name that is not UTF-8
    (held by Python as lone surrogates) shown escaped, ``\\xe9``."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_pattern(path: str | Path) -> bool:
    """Whether ``path`` holds a shell wildcard (``*``, ``?``, ``[``)."""
    return any(c in str(path) for c in "*?[")


def _matches(pattern: str) -> list[Path]:
    """The paths a shell would expand ``pattern`` to (hidden names only when the pattern says
    so; ``**`` spans directories), in natural name order."""
    import glob

    return natural_sorted([Path(m) for m in glob.glob(pattern, recursive=True)])


def _expanded(paths: Sequence[str | Path]) -> list[str | Path]:
    """``paths`` with each wildcard that names no existing path replaced by its matches."""
    out: list[str | Path] = []
    for raw in paths:
        found = _matches(str(raw)) if _is_pattern(raw) and not Path(raw).exists() else []
        out.extend(found or [raw])
    return out


def expand_paths(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read: each named file, and every file under a named directory (in natural
    name order, :mod:`tracehop.ingest.fileorder`; hidden files skipped). The flag says whether
    the file was named explicitly.

    A path that does not exist and holds a wildcard is expanded here, as a shell would, and
    each file it matches counts as named. No shell expands it in a systemd unit's
    ``ExecStart=`` (docs/deploy.md runs ``tracehop ingest /var/spool/cdr/*.csv`` on a timer), in
    a quoted argument, or on Windows; the pattern itself used to be read as a file name
    ("no such file"). A pattern that matches nothing stays, and is reported as such."""
    out: list[tuple[Path, bool]] = []
    for raw in _expanded(paths):
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                # A store (a Delta table: `_delta_log` inside) under the directory, as with
                # `ingest /var/spool/cdr --store /var/spool/cdr/calls.store`: its log and
                # Parquet files are no input, and each run warned about every one of them.
                # A directory that is itself a store (`ingest /var/spool/cdr/* --store
                # /var/spool/cdr/calls.store`: the shell names the store among the inputs, or
                # the CDRs and the store share one directory) keeps its files, not its own.
                own = _STORE_DIRS if (Path(root) / "_delta_log").is_dir() else ()
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in own
                                 and not (Path(root) / d / "_delta_log").is_dir())
                # Natural order: rotated captures continue one another (fileorder.py).
                out.extend((f, False) for f in natural_sorted(
                    [Path(root) / f for f in files if not f.startswith(".")]))
        else:
            out.append((p, True))
    return out


def _parse_with(path: Path, profile: Profile | str | None) -> Profile | str | None:
    """What to parse ``path`` with: the document Profile (to batch), or a format name (the
    detection already done), or ``profile`` unchanged (parse_file then reports any error)."""
    if isinstance(profile, Profile):
        return profile
    try:
        if not path.is_file():
            return profile
        name = profile if isinstance(profile, str) else detect_format(path)
        if name in registered_formats():
            return name
        return resolve_profile(name)
    except (TracehopError, OSError):
        return profile


def _group_of(path: Path, how: Profile | str | None) -> tuple[str, str] | None:
    """Which files are parsed together: those of one document profile (JSON CDRs), and
    consecutive files of one directory of a format with a ``parse_group`` (rotated SIP
    captures: a call's INVITE and BYE may sit in two files)."""
    if isinstance(how, Profile):
        return ("doc", how.name) if how.reader != "csv" else None
    if isinstance(how, str):
        fmt = registered_formats().get(how)
        if fmt is not None and fmt.parse_group is not None:
            return (f"group:{fmt.parse_group.__module__}.{fmt.parse_group.__qualname__}",
                    str(path.parent))
    return None


def _scheduled(
    files: Iterable[tuple[Path, bool]],
    profile: Profile | str | None,
    parse_one: Callable[[Path, Profile | str | None], ParseResult | TracehopError],
    parse_many: Callable[[list[Path], Profile], list[ParseResult | TracehopError]],
    parse_group: Callable[[list[Path], str], list[ParseResult | TracehopError]] | None = None,
    settled: Callable[[Path], ParseResult | None] | None = None,
    shown: Callable[[Path], Path] | None = None,
) -> Iterator[tuple[Path, bool, ParseResult | TracehopError]]:
    """Each file's parse result, in order. Consecutive files of one document format (JSON
    CDRs) are parsed together by ``parse_many``; consecutive files of one directory in a
    format with a group parser by ``parse_group``; every other file by ``parse_one``. A file
    ``settled`` gives a result for (one the store holds unchanged) is neither detected nor
    parsed. ``shown``: the file as named for a plain copy of a compressed one, whose
    directory is the one that groups it."""
    group: list[tuple[Path, bool]] = []
    group_how: Profile | str | None = None
    group_key: tuple[str, str] | None = None
    group_bytes = 0

    def flush() -> Iterator[tuple[Path, bool, ParseResult | TracehopError]]:
        paths = [p for p, _ in group]
        if isinstance(group_how, Profile):
            done = parse_many(paths, group_how)
        elif len(group) == 1 or parse_group is None or not isinstance(group_how, str):
            done = [parse_one(p, group_how) for p in paths]  # one capture: its own reader
        else:
            done = parse_group(paths, group_how)
        for (p, named), res in zip(group, done, strict=True):
            yield p, named, res

    for path, named in files:
        done_before = settled(path) if settled is not None else None
        if done_before is not None:
            if group:
                yield from flush()
                group, group_how, group_key, group_bytes = [], None, None, 0
            yield path, named, done_before
            continue
        how = _parse_with(path, profile)
        # A compressed file's plain copy lives in a temporary directory; it belongs with the
        # files of its original's directory (tcpdump -C -z gzip compresses each finished
        # file, not the one being written: the two halves of a call must still meet).
        key = _group_of(shown(path) if shown is not None else path, how)
        if group and (
            key != group_key
            or len(group) >= DOCUMENT_BATCH_FILES
            or (isinstance(group_how, Profile) and group_bytes >= DOCUMENT_BATCH_BYTES)
        ):
            yield from flush()
            group, group_how, group_key, group_bytes = [], None, None, 0
        if key is not None:
            group.append((path, named))
            group_how, group_key = how, key
            with contextlib.suppress(OSError):
                group_bytes += path.stat().st_size
            continue
        yield path, named, parse_one(path, how)
    if group:
        yield from flush()


def _renamed(res: ParseResult | TracehopError, copy: Path, path: Path,
             unpacked: Unpacked) -> ParseResult | TracehopError:
    """``res`` of a compressed file's plain ``copy`` as that of ``path``, the file as named:
    its legs' and rejects' source_file, its warnings, or its error's message."""
    if isinstance(res, TracehopError):
        res.message = unpacked.rename(res.message)
        res.args = (res.message,)
        if res.hint:
            res.hint = unpacked.rename(res.hint)
        if getattr(res, "path", None) is not None:
            res.path = unpacked.rename(str(res.path))  # type: ignore[attr-defined]
        return res

    def named(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index("source_file")
        if i < 0 or not t.num_rows:
            return t
        col = t.column(i)
        fixed = pl.Series(col).replace(str(copy), str(path)).to_arrow().cast(col.type)
        return t.set_column(i, t.schema.field(i), fixed)

    return dataclasses.replace(res, legs=named(res.legs), rejects=named(res.rejects),
                               warnings=[unpacked.rename(w) for w in res.warnings])


def _versions_of(path: Path, by_path: dict[str, list[FileRecord]]) -> list[FileRecord]:
    """The store's records that may be an earlier version of ``path``: the same path, the
    live file it was rotated from (``Master.csv`` for ``Master.csv.1`` or
    ``Master.csv-20261207``: logrotate's copytruncate leaves the old bytes under the new name,
    perhaps with lines written since the last ingest), or a file of the same name in another
    directory (a copy). :func:`grown_from` checks the bytes."""
    key = _path_key(path)
    out = list(by_path.get(key, ()))
    name = Path(key).name
    for i, ch in enumerate(name):
        if ch in ".-_" and i > 0:
            out += by_path.get(str(Path(key).with_name(name[:i])), ())
    # A copy of the live file kept elsewhere (an archive of Master.csv taken after it grew):
    # the same name in another directory. grown_from checks the bytes, so another server's
    # Master.csv is never taken for a version of this one.
    seen = {id(r) for r in out}
    for other, recs in by_path.items():
        if other != key and Path(other).name == name:
            out += [r for r in recs if id(r) not in seen]
    return out


def _path_key(path: str | Path) -> str:
    """A path as the store's file records are matched by: absolute, symlinks resolved."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return str(path)


#: The formats whose writer puts each record with an account code in Master.csv and in
#: ``<accountcode>.csv`` beside it, and the setting that stops the copies. Asterisk cdr_csv:
#: cdr.conf ``accountlogs`` (on by default). FreeSWITCH mod_cdr_csv (mod_cdr_csv.c
#: ``my_on_reporting``) does the same unless ``master-file-only`` is set, which the shipped
#: cdr_csv.conf.xml leaves commented out: a cdr-csv directory ingested whole stored those
#: calls twice, with no word, because only Asterisk's copies were named.
ACCOUNT_LOG_FIX: Final = {
    "asterisk_cdr_csv": "cdr.conf accountlogs=yes",
    "freeswitch_cdr_csv": "cdr_csv.conf.xml master-file-only is not set",
    "freeswitch_cdr_csv_asterisk": "cdr_csv.conf.xml master-file-only is not set",
    "freeswitch_cdr_csv_opencdrrate": "cdr_csv.conf.xml master-file-only is not set",
}


def _account_log_warning(path: Path, res: ParseResult) -> str:
    setting = ACCOUNT_LOG_FIX[res.format or ""]
    off = ("set accountlogs=no" if res.format == "asterisk_cdr_csv"
           else 'set <param name="master-file-only" value="true"/>')
    switch = "Asterisk" if res.format == "asterisk_cdr_csv" else "FreeSWITCH"
    return (f"{path}: {switch} writes these records of account {path.stem!r} to "
            f"{path.parent / 'Master.csv'} as well ({setting}): "
            f"ingesting both stores each call twice; ingest Master.csv only, or {off}")


def _account_log(path: Path, res: ParseResult) -> bool:
    """Whether ``path`` is one of the per-account files Asterisk's cdr_csv or FreeSWITCH's
    mod_cdr_csv writes beside Master.csv by default: ``<accountcode>.csv``, every record of
    that account, each also in Master.csv."""
    if (res.format not in ACCOUNT_LOG_FIX or path.suffix != ".csv" or path.name == "Master.csv"
            or not (path.parent / "Master.csv").is_file() or not res.legs.num_rows
            or "account" not in res.legs.column_names):
        return False
    accounts = res.legs.column("account")
    return accounts.null_count == 0 and set(accounts.unique().to_pylist()) == {path.stem}


def _continues(res: ParseResult) -> bool:
    """A file of a grouped format (a rotated capture) that holds messages but no leg of its
    own: its BYEs and answers completed legs of an earlier file. It is recorded (so that
    re-ingesting adds nothing), not reported as empty."""
    fmt = registered_formats().get(res.format or "")
    return fmt is not None and fmt.parse_group is not None and res.lines > 0


def _ids_unique(res: ParseResult) -> bool:
    """Whether ``res``'s leg_ids are distinct, known without hashing them: a profile gives
    ``<file hash>:<source_record>``, so distinct record numbers suffice (one integer pass), and
    two files of one batch never share a hash (a repeated file is skipped before this). Legs of
    a registered format build their own ids: the store checks those."""
    if res.format in registered_formats() or res.file_id is None:
        return False
    records = res.legs.column("source_record")
    return records.null_count == 0 and bool(pl.Series(records).n_unique() == res.legs.num_rows)


def ingest_paths(
    paths: Sequence[str | Path],
    store: Store | str | Path,
    format: str | None = None,
    tz: str | None = None,
    source: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    keep_raw: bool = True,
    overlap: bool = True,
) -> IngestSummary:
    """Ingest files and directories into ``store`` in one commit. See the module docstring.

    ``overlap``: write the days of a large time-ordered file while it is still being parsed
    (:class:`EarlySpool`); False holds every leg until the commit (benchmarks compare both).

    ``progress(advance_bytes, total_bytes)`` is called as the files are read.
    """
    started = time.perf_counter()
    if tz is not None:
        resolve_zone(tz)  # unknown zone: fail before touching anything
    for option, value in (("--source", source), ("--store", None if isinstance(store, Store)
                                                 else str(store))):
        # Bytes that are not UTF-8 (a script in a Latin-1 locale): kept as text in every leg
        # (the source) or handed to pyarrow (the store's path), they crashed the run with a
        # UnicodeEncodeError traceback once the files had been read.
        if value is not None and _printable(value) != value:
            raise TracehopError(f"{option} {_printable(value)} is not UTF-8 text",
                                hint=f"Give {option} in UTF-8 (or plain ASCII)")
    profile: Profile | str | None = None
    if format is not None:
        fmts = registered_formats()
        profile = format if format in fmts else resolve_profile(format)
    else:
        builtin_profiles()  # a broken built-in profile fails here, not per file
    files = expand_paths(paths)
    if not files:
        # Only directories were named, and they hold no file: name them (the error named none).
        given = [str(p) for p in _expanded(paths)]
        raise UnknownFormatError(
            "the directory holds no files to ingest" if len(given) == 1
            else "no files to ingest" + (f" in {', '.join(given)}" if given else ""),
            path=given[0] if len(given) == 1 else None,
            hint="Name CDR files, or the directories that hold them (files and directories "
                 "whose name starts with '.', and stores, are skipped)")
    named_dirs = [Path(p) for p in _expanded(paths) if Path(p).is_dir()]

    def found_in(path: Path, named: bool) -> str | None:
        return None if named else next(
            (_printable(d) for d in named_dirs if path.is_relative_to(d)), None)

    # A name that is not UTF-8 (copied from a Latin-1 system: "caf\xe9.csv") cannot be kept as
    # the legs' source_file, nor printed: it crashed the whole run with a traceback. It is
    # that file's error, before anything is read.
    misnamed = [(f, named) for f, named in files if _printable(f) != str(f)]
    files = [(f, named) for f, named in files if _printable(f) == str(f)]
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
            Store.check_creatable(store_path)  # but a --store it cannot be made in: say so now
    if st is not None:
        known = {r.file_id: r for r in st.ingested_files()}
    by_path: dict[str, list[FileRecord]] = {}  # versions of each path already ingested
    for r in known.values():
        by_path.setdefault(_path_key(r.path), []).append(r)

    summary = IngestSummary(files=len(files) + len(misnamed))
    for f, named in misnamed:
        shown = _printable(f)
        error = (f"{shown}: the file name is not UTF-8 (its bytes are shown escaped): tracehop "
                 "keeps each record's file name as text. Rename it in UTF-8, e.g. convmv -f "
                 "latin1 -t utf8 --notest FILE, then ingest it")
        summary.per_file.append(FileSummary(path=shown, named=named, error=error,
                                            found_in=found_in(f, named)))
        if not named:
            summary.warnings.append(f"skipped: {error}")
    unique_ids = True  # no leg_id repeats within the batch (see _ids_unique)
    legs_parts: list[pa.Table] = []
    rej_parts: list[pa.Table] = []
    records: list[FileRecord] = []

    def advance(n: int) -> None:
        if progress:
            progress(n, total)

    advance(0)  # the bar knows its total before the first chunk is read

    def open_store() -> Store:
        nonlocal st
        if st is None:
            st = Store.open(store_path, create=True)
        return st

    spool = EarlySpool(open_store, lambda digest: overlap and digest not in known)
    early_rows: dict[int, int] = {}  # id(ParseResult) -> its legs written early

    def parse_one(path: Path, how: Profile | str | None) -> ParseResult | TracehopError:
        if path in unpacked.errors:
            return unpacked.errors[path]
        key = spool.start_file()
        # A compressed file's plain copy is read, under the compressed file's name.
        shown = unpacked.shown(path)
        recorded = _versions_of(shown, by_path)
        try:
            res = parse_file(
                path, how, tz, source, keep_raw=keep_raw, progress=advance,
                display_path=str(shown), exact_types=False, early=spool,
                resume=grown_from(path, recorded) if recorded else None,
            )
        except TracehopError as e:
            spool.drop_file(key)
            if spool.early is not None and e is spool.early.failed_as:
                raise  # the store's error (an early write failed), not this file's
            return e
        early_rows[id(res)] = spool.rows_of(key)
        return res

    def parse_many(paths: list[Path], doc: Profile) -> list[ParseResult | TracehopError]:
        return parse_documents(paths, doc, tz, source, keep_raw=keep_raw, progress=advance,
                               exact_types=False)

    def parse_group(paths: list[Path], how: str) -> list[ParseResult | TracehopError]:
        fmt = registered_formats()[how]
        assert fmt.parse_group is not None
        try:
            done: list[ParseResult | TracehopError] = list(fmt.parse_group(paths, tz, source))
        except TracehopError:
            # One file cannot be read: read each on its own so the error is that file's alone.
            return [parse_one(p, how) for p in paths]
        for p, res in zip(paths, done, strict=True):
            if isinstance(res, ParseResult):
                res.format = res.format or how
            with contextlib.suppress(OSError):
                advance(p.stat().st_size)
        return done

    def already_ingested(copy: Path) -> ParseResult | None:
        # A file the store holds unchanged (a cron job's ingest of a whole spool directory
        # every few minutes) is not parsed again: 3,000 FreeSWITCH JSON files took 14 s a run,
        # a 2M-row Master.csv 3 s. Hashed first only when a stored version has its path and
        # size, so a new file is still hashed beside its parse; the hash decides.
        shown = unpacked.shown(copy)
        try:
            size = copy.stat().st_size
        except OSError:
            return None
        if not any(r.size == size for r in by_path.get(_path_key(shown), ())):
            return None
        digest, hashed = file_sha256(copy)
        record = known.get(digest)
        if record is None:
            return None
        advance(hashed)
        return ParseResult(legs=LEG_SCHEMA.empty_table(), rejects=REJECT_SCHEMA.empty_table(),
                           format=record.format, file_id=digest, size=hashed,
                           rows_known=record.rows_read)

    unpacked = Unpacked()

    def grew(n: int) -> None:
        nonlocal total
        total += n

    def plain_files() -> Iterator[tuple[Path, bool]]:
        # Each compressed file is decompressed when its turn comes (tracehop/ingest/unpack.py).
        for f, named in files:
            yield unpacked.plain(f, grew, advance), named

    try:
        for copy, named, got in _scheduled(plain_files(), profile, parse_one, parse_many,
                                           parse_group, already_ingested, unpacked.shown):
            path = unpacked.shown(copy)
            res = got if path == copy else _renamed(got, copy, path, unpacked)
            fs = FileSummary(path=str(path), named=named, found_in=found_in(path, named))
            summary.per_file.append(fs)
            if isinstance(res, TracehopError):
                e = res
                fs.error = str(e) + _format_hint(copy, format)
                if not named:
                    summary.warnings.append(f"skipped: {fs.error}")
                continue
            fs.format = res.format
            if _account_log(path, res):
                summary.warnings.append(_account_log_warning(path, res))
            fs.legs = res.legs.num_rows + early_rows.pop(id(res), 0)
            fs.rejected = res.rejects.num_rows
            # A grown file: the records of the part already stored count as read and duplicate.
            before = res.resume.rows_before if res.resume is not None else 0
            fs.read = fs.legs + fs.rejected + before + res.rows_known
            summary.read += fs.read
            summary.warnings.extend(w for w in res.warnings if w not in summary.warnings)
            file_id, size = res.file_id, res.size
            if file_id is None:
                file_id, size = file_sha256(copy)
            summary.bytes_read += size
            if file_id in known:
                fs.skipped = True
                summary.duplicates += fs.read
                continue
            if fs.read == 0 and not _continues(res):
                # An export with a header and no call (a period with no calls, a filter that
                # matched none): say what the file holds and what to check, not just "none".
                fs.error = (f"{path}: no SIP messages in the capture. Check that it holds "
                            "the signalling: the capture filter (tcpdump -s 0 'port 5060 or "
                            "port 5080', or your SBC's signalling ports) and the interface "
                            "(the carrier-facing one, or -i any)" if res.format in
                            _CAPTURE_FORMATS else
                            f"{path}: no records in the file ({res.format} layout, but nothing "
                            "after its header or leading lines). Check the export's date range "
                            "and filter, and that the export finished writing"
                            ) + _format_hint(copy, format)
                continue
            summary.duplicates += before
            fs.resumed_at = res.resume.offset if res.resume is not None else None
            if fs.legs == 0 and fs.rejected == 1 and res.resume is not None \
                    and _ends_mid_line(copy):
                # A live file (Asterisk appending to Master.csv) caught in the middle of a
                # write, with nothing new but that line: not a failure of the file. The line
                # is not read yet (the store keeps the version it has, and the next run reads
                # on from there), so it counts in no total.
                fs.read -= 1
                summary.read -= 1
                fs.rejected = 0
                fs.skipped = fs.waiting = True
                summary.warnings.append(
                    f"{path}: nothing new but a line still being written (no line end yet): "
                    "it is read when the file has grown")
                continue
            if fs.legs == 0 and fs.rejected:
                # Every record rejected (a wrong delimiter, --format naming another layout): the
                # file failed as a whole, so the store is left as it was (DESIGN §7). Recording
                # it, or its rejects, would make the corrected run skip it as already ingested.
                # Its records still count as read and rejected in this run's summary.
                first = res.rejects.slice(0, 1).to_pylist()[0]
                capture = res.format in _CAPTURE_FORMATS  # numbered by frame, not line
                if res.resume is not None:
                    # A file that grew: its stored part was fine, the new lines are not.
                    fs.error = (
                        f"{path}: nothing could be ingested, the {fs.rejected} record(s) added "
                        f"since the stored version were all rejected (line "
                        f"{first['source_record']}: {first['reason']}); the store was left as "
                        f"it was: repair those lines, and the next run reads on from the "
                        f"stored version")
                    summary.rejected += fs.rejected
                    continue
                # A per-leg document file (FreeSWITCH <uuid>.cdr.json / .cdr.xml) whose one
                # document does not parse was cut short (copied while mod_json_cdr wrote it):
                # its format was detected from it, so --format is not the way out.
                cut_document = format is None and _is_document_format(res.format)
                fs.error = (
                    f"{path}: nothing could be ingested, all {fs.rejected} records were rejected "
                    f"({'frame' if capture else 'line'} {first['source_record']}: "
                    f"{first['reason']}); the store was left as it was, so "
                    + ("the file is read again once it is complete or repaired"
                       if capture or cut_document
                       else "a run with the right --format reads the file again")
                ) + _format_hint(copy, format) + _time_formats_hint(first["reason"], format)
                summary.rejected += fs.rejected
                continue
            # A file in the place of a longer version of itself (restored from a backup):
            # said, with the way back. Only the same path: a copy kept elsewhere is no loss.
            same_path = by_path.get(_path_key(path), [])
            warning = (
                _older_copy_warning(path, copy, size, file_id, same_path, store_path.absolute())
                if res.resume is None else
                _not_newest_warning(path, res.resume, same_path))
            if warning is not None:
                summary.warnings.append(warning)
            known[file_id] = FileRecord(
                # Absolute: a grown file is found by its path whatever directory the next run
                # starts in, or however the path is spelled (grown_from).
                file_id=file_id, path=_path_key(path), size=size, rows_read=fs.read,
                format=res.format,
                source=source, rejected=fs.rejected,
                id_prefix=res.resume.id_prefix if res.resume is not None else None,
                first_line=res.resume.first_line if res.resume is not None else None,
                legs_given=fs.legs,
                **_head_fields(copy),
            )
            records.append(known[file_id])
            legs_parts.append(res.legs)
            rej_parts.append(res.rejects)
            unique_ids = unique_ids and _ids_unique(res)

        # The last file's legs: the commit below must hold the only reference (no file was
        # read when every one had a name that is not UTF-8).
        if files:
            del res
        if records:
            # The commit gets the only reference to the legs, so that it can free each unsorted
            # column as soon as it is sorted (a 10M-row batch's columns are GBs).
            batch = [_concat_legs(legs_parts)]
            legs_parts.clear()
            rejects = pa.concat_tables(rej_parts) if rej_parts else REJECT_SCHEMA.empty_table()
            if batch[0].num_rows:
                starts = pl.Series(batch[0].column("start_utc"))
                lo, hi = starts.min(), starts.max()
                summary.first_utc = lo if isinstance(lo, datetime) else None
                summary.last_utc = hi if isinstance(hi, datetime) else None
                del starts
            early_first, early_last = spool.first_utc, spool.last_utc
            if early_first is not None and (summary.first_utc is None
                                            or early_first < summary.first_utc):
                summary.first_utc = early_first
            if early_last is not None and (summary.last_utc is None
                                           or early_last > summary.last_utc):
                summary.last_utc = early_last
            st = open_store()
            t_commit = time.perf_counter()
            # The commit makes the early day files visible (or deletes them if it fails).
            result = st.commit(batch.pop(), rejects, records, unique_leg_ids=unique_ids,
                               early=spool.early)
            spool.early = None
            summary.commit_s = time.perf_counter() - t_commit
            summary.stored += result.stored
            # Rejects another run of the same file recorded meanwhile count as duplicates, as
            # the legs it stored first do: read = stored + rejected + duplicates still holds.
            summary.duplicates += result.duplicates + result.rejects_known
            summary.rejected += result.rejected
            summary.version = result.version
            if result.compact_error:
                summary.warnings.append(compact_warning(result.compact_error))
    finally:
        if spool.early is not None:  # not handed to a commit: its files are deleted
            spool.early.abort()
        unpacked.close()
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
