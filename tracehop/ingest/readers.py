"""Reading a delimited CDR file in bounded chunks, with exact line numbers and rejects.

Switch CSV is rarely RFC 4180 (research/cdr_formats.md §13): field counts vary with the
switch's configuration, quotes are broken or unterminated, bytes are not UTF-8, lines end in
LF, CRLF or CR alone. This module turns a file into batches of string columns plus, for every
record, its 1-based physical line number (``_line``, the number an editor shows) and its text
(``_raw``); every line that is not a well-formed record becomes a reject with a reason.

Speed (benchmarks/bench_ingest.py): the file is read in chunks of about 64 MB cut at line
ends, each read once into its own buffer (no concatenation: a fresh 64 MB copy costs as much
in page faults as in copying). A chunk takes the fast path when it is regular: pyarrow's
multi-threaded CSV parser splits the fields (records with the wrong number of fields come back
through ``invalid_row_handler``, which is only called for those), and ``_raw`` is built
without copying any text: one Arrow ``string_view`` per physical line pointing into the chunk
buffer (:func:`line_views`; Arrow columnar format, "Variable-size Binary View Layout"). The
two are aligned line for line; if they cannot be (a quoted field spanning lines, an
unterminated quote, a stray NUL byte), that chunk alone goes through Python's :mod:`csv`
module, which tracks physical lines exactly. Non-UTF-8 records are decoded as Latin-1, one
record at a time, and counted.

The byte scans (line ends, quotes) are numpy compares over 1 MB blocks of the chunk, which
also tell whether it is all ASCII: then neither the line views nor the parsed fields need a
UTF-8 check (fields are parsed as binary and viewed as text). The parsed columns reach Polars
as ``string_view`` cast in Arrow (no text copied). Read stage of ``python
benchmarks/bench_ingest.py --rows 1000000 --stages --repeat 3``, best of 4, machine loaded:
1.06-1.30 CPU-s before these, 0.72-0.87 after.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from tracehop.errors import UnreadableFileError
from tracehop.ingest.profile import Dialect
from tracehop.schema import VIEW_INLINE

CHUNK_BYTES: Final = 64 << 20
#: How far a chunk may be extended to close a quoted field that spans lines.
MAX_QUOTE_EXTENSION: Final = 4 << 20
#: Lines looked at to decide which column variant (16-21 fields, ...) a file uses.
SNIFF_LINES: Final = 500
LINE_SEP: Final = "\x00"  # a byte no CDR text contains: reads a chunk as whole lines

LINE: Final = "_line"
RAW: Final = "_raw"
REASON: Final = "_reason"
#: A document reader's note on a record it read in a doubtful way (Acme's zone abbreviation
#: read on its US meaning): apply_profile passes each distinct text on as an ingest warning.
WARNING: Final = "_warning"
#: A document reader's companion of a number column (``<column>_noa``): the number's Nature of
#: Address as the switch recorded it, one of :data:`NOA_VALUES` (Ribbon writes it per number).
#: apply_profile reads an international one with its country code (ITU-T Q.763 §3.9).
NOA_SUFFIX: Final = "_noa"
NOA_VALUES: Final = ("international", "national", "subscriber", "unknown")


@dataclass
class Batch:
    rows: pl.DataFrame  # the file's columns (String) + _line (Int64) + _raw (String)
    rejects: pl.DataFrame  # _line, _reason, _raw
    bytes_done: int  # file offset reached
    latin1_records: int  # records decoded with the Latin-1 fallback
    lines: int  # physical lines consumed
    latin1_first: int | None = None  # the line of the first Latin-1 record


@dataclass(frozen=True)
class Layout:
    """What the head of the file says: column names, expected field count, where data starts."""

    names: tuple[str, ...]
    expected: int
    first_line: int  # 1-based line number of the first data line
    expected_label: str  # "18", or "16-21" when the file's own count is not an allowed one
    data_offset: int  # byte offset of the first data line
    cr_only: bool  # old Mac line ends (CR alone): translated to LF before parsing


def _decode_line(b: bytes) -> tuple[str, bool]:
    try:
        return b.decode("utf-8"), False
    except UnicodeDecodeError:
        return b.decode("latin-1"), True


def _split_fields(line: str, dialect: Dialect) -> list[str]:
    reader = csv.reader(
        [line],
        delimiter=dialect.delimiter,
        quotechar=dialect.quote or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE,
        strict=False,
    )
    try:
        return next(reader, [])
    except csv.Error:  # a NUL byte, or a CR inside an unquoted field: not this dialect
        return [line]


def skips_after_header(line: str, dialect: Dialect) -> bool:
    """Whether ``line``, after the header, is one of the ``skip_after_header`` lines: any line
    is, unless the profile says what such a line looks like (``skip_after_header_match``,
    CUCM's SQL types); then a line that does not match is the first record."""
    rx = dialect.skip_after_header_match
    return rx is None or re.search(rx, line) is not None


def read_layout(path: Path, dialect: Dialect) -> Layout:
    """Read the header (if any) and sniff the field count of the first records."""
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if not head.strip():
        raise UnreadableFileError(
            "the file is empty", path=path, hint="Check that the export finished writing."
        )
    cr_only = b"\n" not in head and b"\r" in head
    if cr_only:
        head = head.replace(b"\r", b"\n")
    lines = head.split(b"\n")
    if len(head) == 1 << 20 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut by the 1 MB window
    pos = 0
    line_no = 1
    for _ in range(dialect.skip_lines):
        if not lines:
            break
        pos += len(lines.pop(0)) + 1
        line_no += 1
    names: tuple[str, ...]
    if dialect.header:
        if not lines:
            raise UnreadableFileError("no header line", path=path)
        raw = lines.pop(0)
        pos += len(raw) + 1
        line_no += 1
        text, _ = _decode_line(raw.rstrip(b"\r"))
        names = tuple(_dedupe([n.strip().lstrip("\ufeff") for n in _split_fields(text, dialect)]))
        expected = len(names)
        counts_ok: list[int] = [expected]
        for _ in range(dialect.skip_after_header):  # e.g. CUCM's line of SQL column types
            if not lines or not skips_after_header(
                    _decode_line(lines[0].rstrip(b"\r"))[0], dialect):
                break
            pos += len(lines.pop(0)) + 1
            line_no += 1
    else:
        names = dialect.columns
        counts: dict[int, int] = {}
        # Record-aware: a quoted field may span lines, so count fields per CSV record.
        text = "\n".join(_decode_line(raw.rstrip(b"\r"))[0] for raw in lines[:SNIFF_LINES])
        reader = csv.reader(
            io.StringIO(text, newline=""),
            delimiter=dialect.delimiter,
            quotechar=dialect.quote or '"',
            quoting=csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE,
            strict=False,
        )
        sniffed: list[list[str]] = []
        allowed = dialect.field_counts or (len(names),)
        text_lines = text.split("\n")
        try:
            at = 0
            for row in reader:
                if reader.line_num - at == 1 and dialect.quote:
                    # One line: unescaped caller-ID quotes count as the reader will take them
                    # (a record of 18 fields must not look like one of 19).
                    mended = split_lenient(text_lines[at], dialect)
                    if len(mended) != len(row) and len(mended) in allowed:
                        row = mended
                at = reader.line_num
                if row and any(f.strip() for f in row):
                    counts[len(row)] = counts.get(len(row), 0) + 1
                    sniffed.append(row)
        except csv.Error:
            pass  # a NUL byte or the like: decide on what was read
        seen = sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0]))
        in_allowed = [n for n, _ in seen if n in allowed]
        counts_ok = in_allowed[:1]
        if in_allowed:
            expected = in_allowed[0]
        elif seen:
            mode = seen[0][0]
            expected = min(allowed, key=lambda a: (abs(a - mode), -a))
        else:
            expected = max(allowed)
        names = _variant_names(dialect, expected, sniffed) or names[:expected]
    label = str(expected)
    if not dialect.header and expected not in counts_ok:
        allowed_all = dialect.field_counts or (len(dialect.columns),)
        lo, hi = min(allowed_all), max(allowed_all)
        label = str(lo) if lo == hi else f"{lo}-{hi}"
    return Layout(names, expected, line_no, label, pos, cr_only)


def _reject_cut_line(batch: Batch, line: int) -> Batch:
    """``batch`` with the file's last line, which has no line end and is no whole record (the
    file ends in the middle of one: copied while it was being written), among the rejects. A
    cut at a field boundary would otherwise read as a shorter layout of the format (cdr_csv
    has several), a damaged leg that would stay when the file grows and the line is read
    again whole, as the same leg, under the same line number. Already a reject (an open
    quote): left as it is."""
    rows = batch.rows
    if LINE not in rows.columns:
        return batch
    hit = rows.filter(pl.col(LINE) == line)
    if not hit.height:
        return batch
    reason = ("the last line has no line end and is not a whole record: the file was cut in "
              "the middle of it (copied while it was being written?); ingesting the file again "
              "once it is complete reads the record")
    rejects = pl.concat([batch.rejects, pl.DataFrame({
        LINE: [line], REASON: [reason], RAW: [hit.get_column(RAW)[0] if RAW in hit.columns
                                              else None]},
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String})], how="vertical_relaxed")
    return replace(batch, rows=rows.filter(pl.col(LINE) != line), rejects=rejects)


def whole_record(raw: bytes, dialect: Dialect, layout: Layout) -> bool:
    """Whether ``raw``, a file's last line without a line end, reads as a whole record: the
    file's own number of fields (not another width a cut at a field boundary could give),
    its last value not an open quote. Exports often end without a final line end; a file
    being written ends in the middle of a record."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if not text.strip():
        return True  # nothing there to lose
    if cut_in_quote(text, dialect):
        return False
    if len(_split_fields(text, dialect)) == layout.expected:
        return True
    return bool(dialect.quote) and len(split_lenient(text, dialect)) == layout.expected


def cut_in_quote(line: str, dialect: Dialect) -> bool:
    """Whether ``line`` ends inside a quoted value: its last field opens a quote that nothing
    closes (``...,"PCM`` or ``...,"``). That is a record cut short (a file copied while it
    was written), never an unescaped quote inside a value, which :func:`split_lenient` may
    read: the lenient reading of such a line would pass the cut value off as whole."""
    q = dialect.quote
    if not q:
        return False
    last = line.rstrip("\r").rsplit(dialect.delimiter, 1)[-1]
    return last.startswith(q) and (len(last) == 1 or not last.endswith(q))


def split_lenient(line: str, dialect: Dialect) -> list[str]:
    """The fields of one line, reading a quote inside a quoted field as a closing quote only
    when a delimiter or the line end follows it (else as a character; ``""`` still as one).

    Asterisk-derived exports write a caller ID's name quotes unescaped (research/cdr_formats.md
    §13: PBXware ``""Smith, John" <2025550111>"``, cdr_csv of old releases alike): RFC 4180
    reads ``""`` as an escaped quote and the name's comma as a delimiter, one field too many.
    On a well-formed line this gives what csv does (a closing quote is always followed by a
    delimiter or the line end, an inner one always doubled); it is only tried on lines whose
    fields do not count right, one line at a time."""
    d, q = dialect.delimiter, dialect.quote
    if not q:
        return line.split(d)
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        buf: list[str] = []
        if i < n and line[i] == q:
            i += 1
            while True:  # from quote to quote (str.find: no loop over characters)
                k = line.find(q, i)
                if k < 0:  # unterminated: the rest of the line
                    buf.append(line[i:])
                    i = n
                    break
                buf.append(line[i:k])
                if k + 1 >= n or line[k + 1] == d:  # the closing quote
                    i = k + 1
                    break
                buf.append(q)  # a doubled quote is one; a lone one is a character
                i = k + 2 if line[k + 1] == q else k + 1
        j = line.find(d, i)
        buf.append(line[i:] if j < 0 else line[i:j])
        fields.append("".join(buf))
        if j < 0:
            return fields
        i = j + 1


def _variant_names(dialect: Dialect, fields: int,
                   sniffed: list[list[str]]) -> tuple[str, ...] | None:
    """The column names of the first ``[[csv.variant]]`` for ``fields`` fields whose ``when``
    holds for most sniffed records of that many fields (or that has no ``when``); None: the
    first ``fields`` names of ``columns``."""
    rows = [r for r in sniffed if len(r) == fields]
    for v in dialect.variants:
        if v.fields != fields:
            continue
        if v.when_column is None or v.when_regex is None:
            return v.columns
        at = v.columns.index(v.when_column)
        pattern = re.compile(v.when_regex)
        hits = sum(1 for r in rows if pattern.search(r[at].strip()))
        if rows and hits * 2 > len(rows):
            return v.columns
    return None


def _other_widths(dialect: Dialect, layout: Layout, items: list[tuple[int, str, list[str]]],
                  used: frozenset[str] | None) -> tuple[pl.DataFrame | None, set[int]]:
    """Records of another allowed field count than the file's (a Master.csv whose cdr.conf
    changed mid-file: 16 fields, then 18): each width named as a file of that width would be
    (its ``[[csv.variant]]`` or the first names of ``columns``). ``items``: (line, raw text,
    fields). Returns their rows (the file's column set may differ: the frames are joined by
    name) and the lines taken; the others stay rejects."""
    if dialect.header or not dialect.field_counts:
        return None, set()
    by_width: dict[int, list[tuple[int, str, list[str]]]] = {}
    for item in items:
        width = len(item[2])
        if width != layout.expected and width in dialect.field_counts:
            by_width.setdefault(width, []).append(item)
    frames = []
    taken: set[int] = set()
    for width, group in by_width.items():
        names = _variant_names(dialect, width, [f for _, _, f in group]) \
            or dialect.columns[:width]
        keep = [(i, n) for i, n in enumerate(names) if used is None or n in used]
        data = {n: pl.Series(n, [f[i] for _, _, f in group], dtype=pl.String)
                for i, n in keep}
        data[LINE] = pl.Series(LINE, [line for line, _, _ in group], dtype=pl.Int64)
        data[RAW] = pl.Series(RAW, [raw for _, raw, _ in group], dtype=pl.String)
        frames.append(pl.DataFrame(data))
        taken.update(line for line, _, _ in group)
    if not frames:
        return None, set()
    return pl.concat(frames, how="diagonal"), taken


def _mend_quotes(dialect: Dialect, layout: Layout, lines: list[int], raws: list[str],
                 used: frozenset[str] | None) -> tuple[pl.DataFrame | None, set[int]]:
    """Records whose fields count right when read by :func:`split_lenient` (unescaped quotes
    in a caller ID): their rows, with the file's columns, and their lines."""
    if not dialect.quote:
        return None, set()
    good = [(line, raw, f) for line, raw in zip(lines, raws, strict=True)
            if "\n" not in raw and not cut_in_quote(raw, dialect)
            and len(f := split_lenient(raw, dialect)) == layout.expected]
    if not good:
        return None, set()
    keep = [(i, n) for i, n in enumerate(layout.names) if used is None or n in used]
    data = {n: pl.Series(n, [f[i] for _, _, f in good], dtype=pl.String) for i, n in keep}
    data[LINE] = pl.Series(LINE, [line for line, _, _ in good], dtype=pl.Int64)
    data[RAW] = pl.Series(RAW, [raw for _, raw, _ in good], dtype=pl.String)
    return pl.DataFrame(data), {line for line, _, _ in good}


def _with_other_widths(rows: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """``rows`` and the records of other widths, in line order (column sets joined by name;
    the text columns as the file's own are, Polars' string_view)."""
    extra = extra.with_columns(pl.col(c).cast(rows.schema[c]) for c in extra.columns
                               if c in rows.schema)
    return pl.concat([rows, extra], how="diagonal_relaxed").sort(LINE)


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for i, n in enumerate(names):
        base = n or f"column_{i + 1}"
        cand, k = base, 2
        while cand in out:
            cand, k = f"{base}_{k}", k + 1
        out.append(cand)
    return out


ReadAt = Callable[[int, int], bytes]  # (offset, size) -> up to size bytes from offset

#: Bytes compared at a time by the numpy scans below. A compare of a whole 64 MB chunk makes a
#: 64 MB temporary in fresh pages, which the kernel zeroes first: on this machine that cost
#: more than the compare (perf: clear_page_erms under UBYTE_equal). Blocks this small reuse
#: the same memory.
SCAN_BLOCK: Final = 1 << 20


def _newlines(raw: np.ndarray) -> tuple[np.ndarray, bool]:
    """Indices of the LF bytes of the uint8 array ``raw`` (int64, in order), and whether all
    its bytes are ASCII (found in the same pass over each block, while it is in cache)."""
    parts = []
    ascii_only = True
    for lo in range(0, len(raw), SCAN_BLOCK):
        block = raw[lo : lo + SCAN_BLOCK]
        parts.append(np.flatnonzero(block == 10) + lo)
        ascii_only = ascii_only and int(block.max()) < 0x80
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), ascii_only


def _count(buf: bytes, byte: bytes, stop: int) -> int:
    """Occurrences of one ``byte`` in ``buf[:stop]``: a numpy compare over the bytes in place,
    block by block, less CPU than ``bytes.count`` (a byte-by-byte loop for one character):
    0.025 against 0.09 CPU-s on the 250 MB file of ``bench_ingest.py --rows 1000000``."""
    raw = np.frombuffer(buf, dtype=np.uint8, count=stop)
    b = byte[0]
    return sum(
        int(np.count_nonzero(raw[lo : lo + SCAN_BLOCK] == b))
        for lo in range(0, stop, SCAN_BLOCK)
    )


def _chunks(
    read_at: ReadAt, start: int, quote: bytes | None, size: int
) -> Iterator[tuple[bytes, int, bool]]:
    """Chunks of whole lines from offset ``start``: (buffer, end, balanced quotes). The chunk
    is ``buffer[:end]``; bytes after ``end`` (the start of a line the read cut) are read again
    at the head of the next chunk, so no chunk is ever copied to be joined with the next one
    (a fresh 64 MB copy costs as much in page faults as in copying). A chunk is extended while
    its quotes are unbalanced, so that a quoted field spanning lines stays in one chunk
    (bounded by MAX_QUOTE_EXTENSION); only then is it copied."""
    pos = start
    while True:
        buf = read_at(pos, size)
        if not buf:
            return
        end = len(buf)
        if len(buf) == size:  # not the end of the file: stop at the last line end
            end = buf.rfind(b"\n") + 1
            while end == 0:  # one line longer than a chunk: read on to its end
                more = read_at(pos + len(buf), size)
                if not more:
                    end = len(buf)
                    break
                nl = more.find(b"\n")
                buf += more if nl < 0 else more[: nl + 1]
                end = len(buf) if nl >= 0 else 0
        odd = quote is not None and _count(buf, quote, end) % 2 == 1
        if odd and quote is not None:
            more = read_at(pos + end, MAX_QUOTE_EXTENSION)
            taken = 0
            while odd and taken < len(more):
                nl = more.find(b"\n", taken)
                if nl >= 0:
                    stop = nl + 1
                elif len(more) < MAX_QUOTE_EXTENSION:  # the last line of the file
                    stop = len(more)
                else:  # the extension ends inside a line: give up at the last line end
                    break
                odd = (odd + more.count(quote, taken, stop)) % 2 == 1
                taken = stop
            buf = buf[:end] + more[:taken]
            end = len(buf)
        yield buf, end, not odd
        pos += end


def iter_batches(
    path: Path,
    dialect: Dialect,
    layout: Layout,
    chunk_bytes: int | None = None,
    used: frozenset[str] | None = None,
) -> Iterator[Batch]:
    """Read ``path`` after its header as batches of records and rejects. With ``used``, only
    those columns are materialised (the others are still counted and checked)."""
    quote = dialect.quote.encode() if dialect.quote else None
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    line_no = layout.first_line
    try:
        fh = path.open("rb")
    except OSError as e:
        raise UnreadableFileError(f"cannot read the file: {e.strerror}", path=path) from None
    with fh:
        read_at: ReadAt
        if layout.cr_only:
            # CR-only files are small spreadsheet exports: translate all at once.
            fh.seek(layout.data_offset)
            data = fh.read().replace(b"\r", b"\n")
            first = 0

            def read_at(off: int, n: int) -> bytes:
                return data[off : off + n]
        else:
            fd = fh.fileno()
            first = layout.data_offset

            def read_at(off: int, n: int) -> bytes:
                # pread: a fresh buffer, filled once (no zeroing, no copy through a
                # buffered reader), at an absolute offset.
                return os.pread(fd, n, off)

        offset = layout.data_offset
        # Where the file ends, in the offsets `offset` counts in (a CR-only file's data were
        # read whole from data_offset).
        total = (layout.data_offset + len(data) if layout.cr_only
                 else os.fstat(fh.fileno()).st_size)
        for buf, end, balanced in _chunks(read_at, first, quote, chunk_bytes):
            cut: int | None = None
            if offset + end >= total and end and buf[end - 1:end] != b"\n":
                start = buf.rfind(b"\n", 0, end) + 1
                if not whole_record(buf[start:end], dialect, layout):
                    cut = line_no + buf.count(b"\n", 0, start)
            offset += end
            batch = _parse_chunk(buf, end, dialect, layout, line_no, balanced, used)
            if cut is not None:
                batch = _reject_cut_line(batch, cut)
            batch.bytes_done = offset
            line_no += batch.lines
            yield batch


def _parse_chunk(
    buf: bytes,
    end: int,
    dialect: Dialect,
    layout: Layout,
    first_line: int,
    balanced: bool,
    used: frozenset[str] | None,
) -> Batch:
    """Parse ``buf[:end]`` (whole lines), without copying it on the fast path."""
    latin1 = at = 0
    fast = None
    chunk = buf
    if balanced and buf.find(LINE_SEP.encode(), 0, end) < 0:
        try:
            view = pa.py_buffer(buf).slice(0, end)  # zero-copy
            fast = _fast_chunk(view, dialect, layout, first_line, used)
        except _NotUtf8:
            # Rare: fix the chunk (Latin-1 for the records that are not UTF-8) and retry.
            chunk, latin1, at = _fix_encoding(buf[:end])
            fast = _fast_chunk(pa.py_buffer(chunk), dialect, layout, first_line, used)
    else:
        chunk, latin1, at = _fix_encoding(buf[:end])
    if fast is None:
        if not latin1:
            chunk, latin1, at = _fix_encoding(buf[:end])
        batch = _slow_chunk(chunk, dialect, layout, first_line)
        if used is not None:
            keep = [c for c in batch.rows.columns if c in used or c in (LINE, RAW)]
            batch.rows = batch.rows.select(keep)
        # Physical lines, as line_views counts them on the fast path (where they come free).
        batch.lines = _count(buf, b"\n", end) + (0 if end and buf[end - 1] == 10 else 1)
    else:
        batch = fast
    batch.latin1_records = latin1
    if latin1:
        batch.latin1_first = first_line + at
    return batch


class _NotUtf8(Exception):
    """The chunk holds bytes that are not UTF-8."""


def _fix_encoding(chunk: bytes) -> tuple[bytes, int, int]:
    """Re-encode a chunk as UTF-8, decoding each line that is not UTF-8 as Latin-1; also the
    number of such lines and the index of the first (for the warning to name its line)."""
    try:
        chunk.decode("utf-8")
        return chunk, 0, 0
    except UnicodeDecodeError:
        pass
    out: list[bytes] = []
    fixed = 0
    first = 0
    for i, line in enumerate(chunk.split(b"\n")):
        try:
            line.decode("utf-8")
            out.append(line)
        except UnicodeDecodeError:
            out.append(line.decode("latin-1").encode("utf-8"))
            if not fixed:
                first = i
            fixed += 1
    return b"\n".join(out), fixed, first


def _empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String})


def field_count_reason(found: int, layout: Layout, dialect: Dialect, text: str) -> str:
    d = dialect.delimiter
    expected = layout.expected
    shown = "\\t" if d == "\t" else d
    reason = f"expected {layout.expected_label} fields separated by '{shown}', found {found}"
    others = [
        c for c in (";", "\t", "|", ",")
        if c != d and text.count(c) >= expected - 1 and text.count(c) > text.count(d)
    ]
    if found < expected and others:
        o = "\\t" if others[0] == "\t" else others[0]
        return f"{reason}: is the delimiter '{o}'? (a different layout needs its own profile)"
    if found <= 1:
        if not text.strip():
            return f"{reason}: empty record"
        return f"{reason}: not a record of this format"
    if found < expected:
        return f"{reason}: the record is incomplete (cut short?)"
    return f"{reason}: extra fields (a different column layout, or an unquoted '{shown}')"


def line_views(data: pa.Buffer) -> pl.Series:
    """Each physical line of ``data`` as a String value, without its line end ("\\n", or
    "\\r\\n"); an empty line is null. No text is copied: the values are Arrow string views
    into ``data`` (which the Series keeps alive), built in a few vectorised numpy steps, then
    checked as UTF-8 by Arrow (:class:`_NotUtf8` if a line is not)."""
    return _line_views(data)[0]


def _line_views(data: pa.Buffer) -> tuple[pl.Series, bool]:
    """:func:`line_views`, and whether ``data`` is all ASCII."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends_nl, ascii_only = _newlines(raw)
    n = len(ends_nl) + (0 if raw.size == 0 or raw[-1] == 10 else 1)
    starts = np.zeros(n, dtype=np.int64)
    starts[1:] = ends_nl[: n - 1] + 1
    ends = np.empty(n, dtype=np.int64)
    ends[: len(ends_nl)] = ends_nl[:n]
    if n > len(ends_nl):
        ends[-1] = raw.size
    if n:
        ends -= (ends > starts) & (raw[np.maximum(ends - 1, 0)] == 13)  # CRLF: drop the CR
    lens = (ends - starts).astype(np.int32)
    views = np.zeros((n, 4), dtype=np.int32)
    views[:, 0] = lens
    view_bytes = views.view(np.uint8).reshape(n, 16)
    long = lens > VIEW_INLINE
    # Long lines: their first 4 bytes as one little-endian int32, and their offset. Nearly
    # every CDR line is long: then whole columns are written, not masked rows (a masked 2-D
    # assignment was a third of this function's CPU).
    rows = slice(None) if bool(long.all()) else long
    long_starts = starts[rows]
    prefix = raw[long_starts].astype(np.uint32)
    for k in range(1, 4):
        prefix |= raw[long_starts + k].astype(np.uint32) << (8 * k)
    views[rows, 1] = prefix.view(np.int32)
    views[rows, 3] = long_starts  # buffer 0 (the chunk), at this offset
    short = np.flatnonzero(~long & (lens > 0))
    for k in range(VIEW_INLINE):  # short lines are rare in CDRs: at most 12 small passes
        short = short[lens[short] > k]
        if not short.size:
            break
        view_bytes[short, 4 + k] = raw[starts[short] + k]
    valid = np.packbits(lens > 0, bitorder="little")
    arr = pa.Array.from_buffers(
        pa.string_view(), n, [pa.py_buffer(valid), pa.py_buffer(views), data]
    )
    # ASCII is UTF-8: the full check (every line's bytes as UTF-8) is only needed otherwise.
    # The views themselves are right by construction (tests/test_ingest_lines.py).
    try:
        arr.validate(full=not ascii_only)
    except pa.ArrowInvalid as e:
        raise _NotUtf8 from e
    series = pl.from_arrow(arr)
    assert isinstance(series, pl.Series)
    return series.alias(RAW), ascii_only


def _fast_chunk(
    data: pa.Buffer,
    dialect: Dialect,
    layout: Layout,
    first_line: int,
    used: frozenset[str] | None,
) -> Batch | None:
    names = list(layout.names)
    include = [n for n in names if used is None or n in used] or names[:1]
    bad_texts: list[str] = []
    bad_counts: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_texts.append(row.text)
        bad_counts.append(row.actual_columns)
        return "skip"

    try:  # the parser and the line views both read the chunk in place
        lines, ascii_only = _line_views(data)
        # An ASCII chunk is parsed to binary (no UTF-8 check of every value: ASCII is UTF-8),
        # then viewed as text: 0.35 against 0.40 CPU-s per 1M records of the bench file.
        text = pa.binary() if ascii_only else pa.string()
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote or False,
                double_quote=True,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: text for n in names},
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pl.exceptions.PolarsError) as e:
        if "utf" in str(e).lower():
            raise _NotUtf8 from None
        return None
    n_lines = lines.len()  # physical lines: the same count as _parse_chunk's slow path
    # pyarrow ends a quoted value at the line end (newlines_in_values off), so a record cut
    # inside its last value, the tail of a file copied while it was written, would come out
    # whole when another line's unescaped quote evens the chunk's quote count: the slow path
    # rejects it. Only the chunk's last line can be one, and one line costs nothing to check.
    tail = lines.drop_nulls().tail(1).to_list()
    if dialect.quote and tail and cut_in_quote(str(tail[0]), dialect):
        return None
    line_nos = pl.int_range(first_line, first_line + n_lines, dtype=pl.Int64, eager=True)
    if bad_texts:
        is_bad = lines.is_in(list(set(bad_texts))).fill_null(False)
        if int(is_bad.sum()) != len(bad_texts):
            return None
    else:
        is_bad = pl.Series(dtype=pl.Boolean)
    good_lines = lines.filter(~is_bad) if bad_texts else lines
    good_nos = line_nos.filter(~is_bad) if bad_texts else line_nos
    if good_lines.len() != table.num_rows:
        return None
    # One chunk per column: Polars aligns misaligned chunks (pyarrow's parse blocks against
    # the single-chunk line columns) by copying every column, in each later step. The parse
    # blocks are cast to string_view and joined in Arrow (views pointing into pyarrow's
    # buffers, no text copied), which Polars takes as it is; from_arrow of `string` copies
    # every value into Polars' views and then joins the blocks again.
    views = pa.Table.from_arrays(
        [_as_text(c).cast(pa.string_view()) for c in table.columns], names=table.column_names
    ).combine_chunks()
    rows = pl.from_arrow(views, rechunk=False)
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(good_nos.alias(LINE), good_lines.alias(RAW))
    # Blank lines are not records (pyarrow hands them back as rows of empty strings); polars
    # reads them as nulls. Filtering copies every column, so only when there are some.
    if good_lines.null_count():
        rows = rows.filter(pl.col(RAW).is_not_null())
    if bad_texts:
        bad = pl.DataFrame({LINE: line_nos.filter(is_bad), RAW: lines.filter(is_bad)})
        by_text = dict(zip(bad_texts, bad_counts, strict=True))
        mended, taken = _mend_quotes(dialect, layout, bad[LINE].to_list(), bad[RAW].to_list(),
                                     used)
        if mended is not None:
            rows = _with_other_widths(rows, mended)
            bad = bad.filter(~pl.col(LINE).is_in(list(taken)))
        if not dialect.header and any(c in dialect.field_counts and c != layout.expected
                                      for c in bad_counts):
            items = [(line, raw, _split_fields(raw, dialect))
                     for line, raw in zip(bad[LINE].to_list(), bad[RAW].to_list(), strict=True)]
            extra, taken = _other_widths(dialect, layout, items, used)
            if extra is not None:
                rows = _with_other_widths(rows, extra)
                bad = bad.filter(~pl.col(LINE).is_in(list(taken)))
        reasons = [
            field_count_reason(by_text[t], layout, dialect, t) for t in bad[RAW].to_list()
        ]
        rejects = bad.with_columns(pl.Series(REASON, reasons, dtype=pl.String)).select(
            LINE, REASON, RAW
        )
    else:
        rejects = _empty_rejects()
    return Batch(rows, rejects, 0, 0, n_lines)


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text column of the parse as ``string``: binary (from an ASCII chunk) is viewed as
    string without a copy or a check."""
    if col.type == pa.binary():
        return pa.chunked_array([c.view(pa.string()) for c in col.chunks], pa.string())
    return col


#: Lines a quoted field may span (_Records); a CDR value with more line ends is not a value.
MAX_RECORD_LINES: Final = 64


class _Records:
    """The records of a chunk's physical lines, as csv.reader reads them, except that a quote
    left open at a line end continues onto the next lines only when that makes a record of an
    allowed width: a line cut inside a quoted field (a record truncated by a copy taken while
    the switch was writing, or a crash) then ends at its line end, and the next line is a
    record of its own, not swallowed into the reject. ``line_num``: physical lines consumed."""

    def __init__(self, physical: list[str], fmt: dict[str, Any], quote: str | None,
                 widths: set[int]) -> None:
        self._lines = physical
        self._fmt = fmt
        self._quote = quote
        self._widths = widths
        self.line_num = 0

    def __next__(self) -> list[str]:
        i = self.line_num
        lines = self._lines
        if i >= len(lines):
            raise StopIteration
        q = self._quote
        if q and lines[i].count(q) % 2:
            odd, j = True, i + 1
            stop = min(len(lines), i + MAX_RECORD_LINES)
            while odd and j < stop:
                odd = (lines[j].count(q) % 2 == 1) != odd
                j += 1
            if not odd:
                reader = csv.reader(lines[i:j], **self._fmt)
                try:
                    fields = next(reader, [])
                except csv.Error:  # a NUL byte: reported for the line alone, below
                    fields = []
                if reader.line_num == j - i and len(fields) in self._widths:
                    self.line_num = j
                    return fields
        self.line_num = i + 1  # first, so that a csv.Error below still moves on
        return next(csv.reader([lines[i].rstrip("\r\n")], **self._fmt), [])


def _slow_chunk(
    chunk: bytes, dialect: Dialect, layout: Layout, first_line: int
) -> Batch:
    """Exact but slow: Python's csv module, record by record, tracking physical lines."""
    text = chunk.decode("utf-8")  # already fixed by _fix_encoding
    physical = text.splitlines(keepends=True)
    fmt = {"delimiter": dialect.delimiter, "quotechar": dialect.quote or '"',
           "quoting": csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE, "strict": False}
    widths = {layout.expected} | (set() if dialect.header else set(dialect.field_counts))
    reader = _Records(physical, fmt, dialect.quote, widths)
    names = list(layout.names)
    cols: list[list[str]] = [[] for _ in names]
    good_lines: list[int] = []
    good_raw: list[str] = []
    rej_lines: list[int] = []
    rej_reasons: list[str] = []
    rej_raw: list[str] = []
    other: list[tuple[int, str, list[str]]] = []  # records of another allowed width
    consumed = 0
    q = dialect.quote
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. NUL byte
            start = consumed
            consumed = reader.line_num
            raw = "".join(physical[start:consumed]).rstrip("\r\n")
            rej_lines.append(first_line + start)
            rej_reasons.append(f"unreadable record: {e}")
            rej_raw.append(raw)
            continue
        start = consumed
        consumed = reader.line_num
        raw = "".join(physical[start:consumed]).rstrip("\r\n")
        if not raw.strip():
            continue
        line = first_line + start
        if q and raw.count(q) % 2:
            # An odd quote count is a record cut short, or a value with an unescaped quote in
            # it (FreeSWITCH writes caller names as given: "5" TV Deals"), which the lenient
            # split reads when the line has the right number of fields that way.
            mended = (split_lenient(raw, dialect)
                      if "\n" not in raw and not cut_in_quote(raw, dialect) else [])
            if len(mended) != layout.expected:
                rej_lines.append(line)
                rej_reasons.append(
                    "unterminated quote: the record is truncated (file copied while being "
                    "written?), or a value holds a quote that is not doubled"
                )
                rej_raw.append(raw)
                continue
            fields = mended
        if len(fields) != layout.expected and q and "\n" not in raw:
            mended = split_lenient(raw, dialect)
            if len(mended) == layout.expected:
                fields = mended
        if len(fields) != layout.expected:
            if not dialect.header and len(fields) in dialect.field_counts:
                other.append((line, raw, fields))
                continue
            rej_lines.append(line)
            rej_reasons.append(field_count_reason(len(fields), layout, dialect, raw))
            rej_raw.append(raw)
            continue
        for i in range(len(names)):
            cols[i].append(fields[i])
        good_lines.append(line)
        good_raw.append(raw)
    data: dict[str, pl.Series] = {
        n: pl.Series(n, cols[i], dtype=pl.String) for i, n in enumerate(names)
    }
    data[LINE] = pl.Series(LINE, good_lines, dtype=pl.Int64)
    data[RAW] = pl.Series(RAW, good_raw, dtype=pl.String)
    rows = pl.DataFrame(data)
    if other:
        extra, _ = _other_widths(dialect, layout, other, None)
        if extra is not None:
            rows = _with_other_widths(rows, extra)
    rejects = pl.DataFrame(
        {LINE: rej_lines, REASON: rej_reasons, RAW: rej_raw},
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String},
    )
    return Batch(rows, rejects, 0, 0, 0)
