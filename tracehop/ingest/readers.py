"""Reading a delimited CDR file in bounded chunks, with exact line numbers and rejects.

Switch CSV is rarely RFC 4180 (research/cdr_formats.md §13): field counts vary with the
switch's configuration, quotes are broken or unterminated, bytes are not UTF-8, lines end in
LF, CRLF or CR alone. This module turns a file into batches of string columns plus, for every
record, its 1-based physical line number (``_line``, the number an editor shows) and its text
(``_raw``); every line that is not a well-formed record becomes a reject with a reason.

Speed (benchmarks/bench_ingest.py): the file is read in chunks of about 64 MB cut at line
ends. A chunk takes the fast path when it is regular: pyarrow's multi-threaded CSV parser
splits the fields (records with the wrong number of fields come back through
``invalid_row_handler``, which is only called for those), and Polars reads the same bytes as
whole lines for ``_raw``. The two are aligned line for line; if they cannot be (a quoted field
spanning lines, an unterminated quote, a stray NUL byte), that chunk alone goes through
Python's :mod:`csv` module, which tracks physical lines exactly. Non-UTF-8 records are decoded
as Latin-1, one record at a time, and counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from tracehop.errors import UnreadableFileError
from tracehop.ingest.profile import Dialect

CHUNK_BYTES: Final = 64 << 20
#: How far a chunk may be extended to close a quoted field that spans lines.
MAX_QUOTE_EXTENSION: Final = 4 << 20
#: Lines looked at to decide which column variant (16-21 fields, ...) a file uses.
SNIFF_LINES: Final = 500
LINE_SEP: Final = "\x00"  # a byte no CDR text contains: reads a chunk as whole lines

LINE: Final = "_line"
RAW: Final = "_raw"
REASON: Final = "_reason"


@dataclass
class Batch:
    rows: pl.DataFrame  # the file's columns (String) + _line (Int64) + _raw (String)
    rejects: pl.DataFrame  # _line, _reason, _raw
    bytes_done: int  # file offset reached
    latin1_records: int  # records decoded with the Latin-1 fallback
    lines: int  # physical lines consumed


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
            if not lines:
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
        try:
            for row in reader:
                if row and any(f.strip() for f in row):
                    counts[len(row)] = counts.get(len(row), 0) + 1
        except csv.Error:
            pass  # a NUL byte or the like: decide on what was read
        allowed = dialect.field_counts or (len(names),)
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
        names = names[:expected]
    label = str(expected)
    if not dialect.header and expected not in counts_ok:
        allowed_all = dialect.field_counts or (len(dialect.columns),)
        lo, hi = min(allowed_all), max(allowed_all)
        label = str(lo) if lo == hi else f"{lo}-{hi}"
    return Layout(names, expected, line_no, label, pos, cr_only)


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for i, n in enumerate(names):
        base = n or f"column_{i + 1}"
        cand, k = base, 2
        while cand in out:
            cand, k = f"{base}_{k}", k + 1
        out.append(cand)
    return out


def _chunks(fh: BinaryIO, quote: bytes | None, size: int) -> Iterator[tuple[bytes, bool]]:
    """Chunks of whole lines, and whether the chunk's quotes are balanced. A chunk is extended
    while its quotes are unbalanced, so that a quoted field spanning lines stays in one chunk
    (bounded by MAX_QUOTE_EXTENSION)."""
    while True:
        buf = fh.read(size)
        if not buf:
            return
        if not buf.endswith(b"\n"):
            buf += fh.readline()
        odd = quote is not None and buf.count(quote) % 2 == 1
        if odd and quote is not None:
            extra: list[bytes] = []
            grown = 0
            while odd and grown < MAX_QUOTE_EXTENSION:
                more = fh.readline()
                if not more:
                    break
                extra.append(more)
                grown += len(more)
                odd = (odd + more.count(quote)) % 2 == 1
            buf = b"".join([buf, *extra])
        yield buf, not odd


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
        fh.seek(layout.data_offset)
        if layout.cr_only:
            # CR-only files are small spreadsheet exports: translate all at once.
            data = fh.read().replace(b"\r", b"\n")
            source: Iterator[tuple[bytes, bool]] = _chunks(io.BytesIO(data), quote, chunk_bytes)
        else:
            source = _chunks(fh, quote, chunk_bytes)
        offset = layout.data_offset
        for chunk, balanced in source:
            offset += len(chunk)
            batch = _parse_chunk(chunk, dialect, layout, line_no, balanced, used)
            batch.bytes_done = offset
            line_no += batch.lines
            yield batch


def _parse_chunk(
    chunk: bytes,
    dialect: Dialect,
    layout: Layout,
    first_line: int,
    balanced: bool,
    used: frozenset[str] | None,
) -> Batch:
    n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    latin1 = 0
    fast = None
    if balanced and LINE_SEP.encode() not in chunk:
        try:
            fast = _fast_chunk(chunk, dialect, layout, first_line, n_lines, used)
        except _NotUtf8:
            # Rare: fix the chunk (Latin-1 for the records that are not UTF-8) and retry.
            chunk, latin1 = _fix_encoding(chunk)
            fast = _fast_chunk(chunk, dialect, layout, first_line, n_lines, used)
    else:
        chunk, latin1 = _fix_encoding(chunk)
    if fast is None:
        if not latin1:
            chunk, latin1 = _fix_encoding(chunk)
        batch = _slow_chunk(chunk, dialect, layout, first_line)
        if used is not None:
            keep = [c for c in batch.rows.columns if c in used or c in (LINE, RAW)]
            batch.rows = batch.rows.select(keep)
    else:
        batch = fast
    batch.latin1_records = latin1
    batch.lines = n_lines
    return batch


class _NotUtf8(Exception):
    """The chunk holds bytes that are not UTF-8."""


def _fix_encoding(chunk: bytes) -> tuple[bytes, int]:
    """Re-encode a chunk as UTF-8, decoding each line that is not UTF-8 as Latin-1."""
    try:
        chunk.decode("utf-8")
        return chunk, 0
    except UnicodeDecodeError:
        pass
    out: list[bytes] = []
    fixed = 0
    for line in chunk.split(b"\n"):
        try:
            line.decode("utf-8")
            out.append(line)
        except UnicodeDecodeError:
            out.append(line.decode("latin-1").encode("utf-8"))
            fixed += 1
    return b"\n".join(out), fixed


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


def _fast_chunk(
    chunk: bytes,
    dialect: Dialect,
    layout: Layout,
    first_line: int,
    n_lines: int,
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

    try:
        table = pacsv.read_csv(
            io.BytesIO(chunk),
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
                column_types={n: pa.string() for n in names},
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        lines = pl.read_csv(
            chunk,
            has_header=False,
            separator=LINE_SEP,
            quote_char=None,
            schema={RAW: pl.String},
        )[RAW]
    except (pa.ArrowInvalid, pl.exceptions.PolarsError) as e:
        if "utf" in str(e).lower():
            raise _NotUtf8 from None
        return None
    if lines.len() != n_lines:
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
    rows = pl.from_arrow(table)
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(good_nos.alias(LINE), good_lines.alias(RAW))
    # Blank lines are not records (pyarrow hands them back as rows of empty strings); polars
    # reads them as nulls. Filtering copies every column, so only when there are some.
    if good_lines.null_count():
        rows = rows.filter(pl.col(RAW).is_not_null())
    if bad_texts:
        bad = pl.DataFrame({LINE: line_nos.filter(is_bad), RAW: lines.filter(is_bad)})
        by_text = dict(zip(bad_texts, bad_counts, strict=True))
        reasons = [
            field_count_reason(by_text[t], layout, dialect, t) for t in bad[RAW].to_list()
        ]
        rejects = bad.with_columns(pl.Series(REASON, reasons, dtype=pl.String)).select(
            LINE, REASON, RAW
        )
    else:
        rejects = _empty_rejects()
    return Batch(rows, rejects, 0, 0, n_lines)


def _slow_chunk(chunk: bytes, dialect: Dialect, layout: Layout, first_line: int) -> Batch:
    """Exact but slow: Python's csv module, record by record, tracking physical lines."""
    text = chunk.decode("utf-8")  # already fixed by _fix_encoding
    physical = text.splitlines(keepends=True)
    reader = csv.reader(
        physical,
        delimiter=dialect.delimiter,
        quotechar=dialect.quote or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE,
        strict=False,
    )
    names = list(layout.names)
    cols: list[list[str]] = [[] for _ in names]
    good_lines: list[int] = []
    good_raw: list[str] = []
    rej_lines: list[int] = []
    rej_reasons: list[str] = []
    rej_raw: list[str] = []
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
            rej_lines.append(line)
            rej_reasons.append(
                "unterminated quote: the record is truncated (file copied while being written?)"
            )
            rej_raw.append(raw)
            continue
        if len(fields) != layout.expected:
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
    rejects = pl.DataFrame(
        {LINE: rej_lines, REASON: rej_reasons, RAW: rej_raw},
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String},
    )
    return Batch(rows, rejects, 0, 0, 0)
