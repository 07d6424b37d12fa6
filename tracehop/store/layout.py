"""Where the store keeps its files and how each Parquet file is written (DESIGN.md §4).

::

    STORE/_delta_log/00000000000000000000.json    the transaction log (Delta Lake)
    STORE/legs/day=2026-10-01/part-<uuid>.parquet  call legs of one UTC day, sorted by
                                                   (called_e164, start_utc); no `day` column in
                                                   the file: it lives in the path and the log
    STORE/_rejects/part-<uuid>.parquet             rejected records (REJECT_SCHEMA)

The rejects sit under a ``_``-prefixed directory on purpose: Delta readers and VACUUM treat such
directories as hidden, so a ``VACUUM`` run by another Delta tool on the legs table does not
delete them, and no Delta reader mistakes them for leg files.

The write settings are the measured "c2" layout of research/perf.md: with ~1M-row row groups,
a page index, pages of at most 8192 rows and no dictionary on the high-cardinality columns,
DuckDB reads about 0.3 MB per point lookup (3 ms p50 at 100M rows) instead of a whole row
group. Pages are LZ4_RAW-compressed except for the two evidence-only text columns (zstd) and
the columns LZ4 cannot pack (uncompressed): DESIGN §4 names zstd, but measured here LZ4 halves
the CPU of the reads that decide a lookup's and a batch's speed, for files ~1.7x larger, and
pages LZ4 cannot pack are cheaper still to read as they are (docs/decisions.md, "Page codec").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from tracehop.schema import DICTIONARY_COLUMNS, LEG_SCHEMA, PER_FILE_COLUMNS, nulls
from tracehop.store.log import fsync_dir

if TYPE_CHECKING:
    import polars as pl

# Polars, pyarrow.compute and pyarrow.parquet are imported in the functions that write:
# opening a store and taking a snapshot (the `tracehop lookup` path) must not pay ~0.4 s
# of imports (benchmarks/bench_lookup.py, process timing).

LEGS_DIR: Final = "legs"
REJECTS_DIR: Final = "_rejects"
SORT_KEYS: Final[tuple[str, ...]] = ("called_e164", "start_utc")

ROW_GROUP_SIZE: Final = 1_048_576
MAX_ROWS_PER_PAGE: Final = 8192
#: Large enough that the row limit, not the byte limit, ends a page.
DATA_PAGE_SIZE: Final = 64 * 1024 * 1024
#: The evidence-only text columns: read for one answer's own leg, never scanned, and the
#: biggest values of a row (a whole CDR line, a signed JWT). They keep zstd, which packs them
#: ~2x tighter than LZ4. Every other column is written with LZ4_RAW: a lookup or a batch
#: decompresses its pages, and zstd's decompression was more than half of a batch read's CPU
#: (docs/decisions.md, "Page codec").
ZSTD_COLUMNS: Final[tuple[str, ...]] = ("raw_record", "identity_raw")
#: A column whose values LZ4 would pack to no less than 1/MIN_LZ4_RATIO of their size is
#: written uncompressed: hashes, random SIP Call-IDs, spoofed calling numbers, timestamps.
#: Decompressing such pages costs every read CPU for little saved space. Measured on a 3.3M-row
#: day file of the 100M bench store (benchmarks/bench_read_costs.py): six such columns written
#: plain made the batch read of the file 21% cheaper in CPU (0.238 to 0.187 s), the file 15%
#: larger, and left DuckDB's point lookup unchanged (5.4-5.6 ms).
MIN_LZ4_RATIO: Final = 1.7
#: Rows of a file's first row group whose values decide its columns' codecs.
CODEC_SAMPLE_ROWS: Final = 65_536

_EPOCH = date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000


def write_options(schema: pa.Schema, sample: pa.Table | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`pyarrow.parquet.write_table` (the measured layout).

    With ``sample`` (the rows about to be written, in store order), a column LZ4 would not
    pack to under 1/:data:`MIN_LZ4_RATIO` of its size is written uncompressed
    (:func:`page_codecs`)."""
    import pyarrow.parquet as pq

    names = set(schema.names)
    sorting = (
        [pq.SortingColumn(schema.get_field_index(k), nulls_first=False) for k in SORT_KEYS]
        if all(k in names for k in SORT_KEYS)
        else None
    )
    return {
        "row_group_size": ROW_GROUP_SIZE,
        "max_rows_per_page": MAX_ROWS_PER_PAGE,
        "data_page_size": DATA_PAGE_SIZE,
        "write_page_index": True,
        "compression": page_codecs(schema, sample),
        "use_dictionary": [c for c in DICTIONARY_COLUMNS if c in names],
        "write_statistics": True,
        "sorting_columns": sorting,
        # No ARROW:schema in the footer: the Parquet types alone read back as exactly
        # LEG_SCHEMA (timestamps are isAdjustedToUTC, read as tz "UTC"), whether the writer
        # was handed `string` or Polars' `string_view` columns, so every file reads the same.
        "store_schema": False,
    }


def page_codecs(schema: pa.Schema, sample: pa.Table | None = None) -> dict[str, str]:
    """The page codec of each column: zstd for :data:`ZSTD_COLUMNS`, LZ4_RAW for the others,
    except, when ``sample`` is given, the text and 64-bit columns whose first
    :data:`CODEC_SAMPLE_ROWS` values (as PLAIN pages hold them, in pages' worth) LZ4 packs
    by less than :data:`MIN_LZ4_RATIO`: those are written uncompressed. The same rows always
    get the same codecs."""
    codecs = {c: "zstd" if c in ZSTD_COLUMNS else "lz4_raw" for c in schema.names}
    if sample is None:
        return codecs
    for name, codec in codecs.items():
        if codec != "lz4_raw" or name in DICTIONARY_COLUMNS or name not in sample.column_names:
            continue
        pages = _plain_pages(sample.column(name).slice(0, CODEC_SAMPLE_ROWS))
        raw = sum(len(p) for p in pages)
        if raw >= 4096:
            packed = sum(len(pa.compress(p, codec="lz4_raw", asbytes=True)) for p in pages)
            if raw < MIN_LZ4_RATIO * packed:
                codecs[name] = "none"
    return codecs


def _plain_pages(col: pa.ChunkedArray) -> list[bytes]:
    """The non-null values of a text or 64-bit column as PLAIN encoding writes them (Parquet
    format, "Plain": a 4-byte little-endian length before each text value), cut in pages of
    :data:`MAX_ROWS_PER_PAGE` values, since each page is compressed on its own; [] for the
    other types."""
    import numpy as np

    arr = col.combine_chunks()
    t = arr.type
    if t in (pa.string_view(), pa.large_string()):  # pyarrow has no filter for views
        arr, t = arr.cast(pa.string()), pa.string()
    arr = arr.drop_null()
    if t == pa.string():
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32,
                                count=len(arr) + 1, offset=4 * arr.offset)
        data = arr.buffers()[2]
        # The values' bytes in place (a sliced sample shares its table's buffer: no copy).
        text = np.frombuffer(b"" if data is None else data, dtype=np.uint8)
        out = []
        for lo in range(0, len(arr), MAX_ROWS_PER_PAGE):
            o = offsets[lo: lo + MAX_ROWS_PER_PAGE + 1]
            n = len(o) - 1
            lengths = np.diff(o).astype("<i4")
            # Each value's bytes after its length: positions shifted by 4 bytes per value.
            page = np.empty(4 * n + int(o[-1] - o[0]), dtype=np.uint8)
            starts = o[:-1] - o[0] + 4 * np.arange(1, n + 1)
            prefix = (starts[:, None] - 4 + np.arange(4)).ravel()
            page[prefix] = lengths.view(np.uint8)
            mask = np.ones(page.size, dtype=bool)
            mask[prefix] = False
            page[mask] = text[o[0]: o[-1]]
            out.append(page.tobytes())
        return out
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_timestamp(t)) \
            and t.bit_width == 64:
        values = np.frombuffer(arr.buffers()[1], dtype=np.uint8,
                               count=8 * len(arr), offset=8 * arr.offset)
        step = 8 * MAX_ROWS_PER_PAGE
        return [values[lo: lo + step].tobytes() for lo in range(0, values.size, step)]
    return []


def day_dir(day: date) -> str:
    return f"{LEGS_DIR}/day={day.isoformat()}"


def new_leg_path(day: date) -> str:
    """A fresh relative path for a leg file of ``day`` (unique: no writer ever reuses one)."""
    return f"{day_dir(day)}/part-{uuid.uuid4().hex}.parquet"


def new_reject_path() -> str:
    return f"{REJECTS_DIR}/part-{uuid.uuid4().hex}.parquet"


def day_numbers(start_utc: pa.ChunkedArray | pa.Array) -> pa.Array:
    """UTC day of each timestamp as days since 1970-01-01 (int64), by floor division."""
    import pyarrow.compute as pc

    us = pc.cast(start_utc, pa.int64())
    if isinstance(us, pa.ChunkedArray):
        us = us.combine_chunks()
    # floor division: a call at 1969-12-31T23:59:59Z belongs to day -1, not day 0.
    q = pc.divide(us, _US_PER_DAY)
    back = pc.multiply(q, _US_PER_DAY)
    return pc.if_else(pc.greater(back, us), pc.subtract(q, 1), q)


def day_of(n: int) -> date:
    return _EPOCH + timedelta(days=n)


#: Rows per Arrow slice when sorted rows go back from Polars to Arrow. Arrow's ``string`` keeps
#: 32-bit offsets, so one array holds at most 2 GiB of text: a 10M-row ingest keeping
#: raw_record (~250 B a line) is 2.5 GB in one column. Slices of this many rows (the row-group
#: size) stay far below the limit and are kept as separate chunks of one column.
ARROW_SLICE_ROWS: Final = ROW_GROUP_SIZE

_STRING_TYPES: Final = (pa.string(), pa.large_string(), pa.string_view())


def conform_loose(table: pa.Table, schema: pa.Schema = LEG_SCHEMA) -> pa.Table:
    """Like :func:`tracehop.schema.conform`, but a text column may stay ``large_string`` or
    ``string_view`` (what Polars hands over without a copy): the store sorts in Polars and casts
    to ``string`` slice by slice (:func:`arrow_slices`), so casting here would copy every string
    once more, and over 2 GiB could not be done in one array."""
    n = table.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type and not (f.type == pa.string() and col.type in _STRING_TYPES):
                col = col.cast(f.type)
            arrays.append(col)
        else:
            arrays.append(nulls(n, f.type))
    return pa.Table.from_arrays(arrays, names=schema.names)


def to_polars(table: pa.Table) -> pl.DataFrame:
    """The table as a Polars frame (zero-copy for ``string_view`` columns, and Polars gathers
    strings as 16-byte views: sorting never copies the text, whatever its size)."""
    import polars as pl

    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def arrow_slices(
    frame: pl.DataFrame, schema: pa.Schema = LEG_SCHEMA, *, exact: bool = False
) -> pa.Table:
    """``frame`` as an Arrow table with ``schema``'s columns, in slices of
    :data:`ARROW_SLICE_ROWS` rows (separate chunks).

    Text stays ``string_view`` (no copy: Polars' own layout, which has no 2 GiB limit) unless
    ``exact``: then every column gets exactly ``schema``'s type, cast slice by slice, so that
    no ``string`` chunk can pass the 2 GiB offset limit."""
    import polars as pl

    parts = []
    for off in range(0, max(frame.height, 1), ARROW_SLICE_ROWS):
        part = frame.slice(off, ARROW_SLICE_ROWS).to_arrow(compat_level=pl.CompatLevel.newest())
        cols = []
        for f in schema:
            col = part.column(f.name)
            loose = f.type == pa.string() and col.type in _STRING_TYPES and not exact
            cols.append(col if col.type == f.type or loose else col.cast(f.type))
        fields = [f.with_type(c.type) for f, c in zip(schema, cols, strict=True)]
        parts.append(pa.Table.from_arrays(cols, schema=pa.schema(fields)))
    return pa.concat_tables(parts)


def exact_columns(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """Just ``names``, with LEG_SCHEMA's exact types (for pyarrow.compute, which has few
    ``string_view`` kernels)."""
    cols = [table.column(n) for n in names]
    types = [LEG_SCHEMA.field(n).type for n in names]
    return pa.Table.from_arrays(
        [c if c.type == t else c.cast(t) for c, t in zip(cols, types, strict=True)], names=names
    )


def day_expr() -> pl.Expr:
    """The store's partition of a leg (its UTC day of ``start_utc``) as a Polars expression."""
    import polars as pl

    # The UTC date, as days since 1970-01-01 (a call at 1969-12-31T23:59:59Z is day -1).
    return pl.col("start_utc").dt.date().cast(pl.Int32)


def _called_key(frame: pl.DataFrame) -> pl.Series | None:
    """An integer in the same order as the called_e164 text (null where it is null), or None
    if a value is not ``+<digits>`` (1 to 15 of them): the digits right-padded with zeros to
    15, times 16, plus their count. A prefix pads to the same digits and has the smaller
    count, so it sorts first, as in text ("+1312" < "+13120" < "+1313"). Integers compare
    several times faster than strings.

    The digits are read by ``str.to_integer`` and padded by a power of ten: 0.21 CPU-s per
    3.5M numbers, against 0.35 for a regex check and a padded-string cast. What the integer
    parse would also accept (a sign after the "+") is refused by the checks beside it."""
    import polars as pl

    text = pl.col("called_e164")
    count = text.str.len_bytes().cast(pl.Int64) - 1  # digits after the "+"
    parts = frame.select(
        text.str.slice(1).str.to_integer(base=10, strict=False).alias("value"),
        count.alias("count"),
        (text.str.starts_with("+") & ~text.str.starts_with("++") & ~text.str.starts_with("+-")
         & (count >= 1) & (count <= 15)).alias("shape"),
        text.is_null().alias("missing"),
    )
    bad = parts.select(
        (~pl.col("missing") & (pl.col("value").is_null() | ~pl.col("shape"))).any()).item()
    if bad:
        return None
    n = pl.col("count").cast(pl.UInt64)
    return parts.select(
        pl.col("value").cast(pl.UInt64) * pl.lit(10, dtype=pl.UInt64).pow(15 - n) * 16 + n
    ).to_series()


#: Sort key for a leg without a called number: after every real key (those are < 1.6e16).
_NO_CALLED: Final = (1 << 54) - 1
#: Days one batch may span for day and called number to share one 64-bit key (10 bits).
_PACKED_DAYS: Final = 1 << 10


def constant_columns(frame: pl.DataFrame) -> dict[str, str]:
    """Those of ``frame``'s :data:`~tracehop.schema.PER_FILE_COLUMNS` that hold one value in
    every row, with the value. The writer leaves them out of its sorted copy and adds them
    back to each row group from :func:`tracehop.schema.constant`, instead of sorting and
    copying 16 bytes a row of each.

    The test is a min, a max and a null count: free for the literal columns apply makes
    (Polars keeps ``pl.lit`` as one scalar until something needs it row by row), one pass over
    a materialised column."""
    import polars as pl

    names = [c for c in PER_FILE_COLUMNS
             if c in frame.columns and frame.schema[c] == pl.String]
    if not names or frame.height == 0:
        return {}
    row = frame.select(
        e for i, c in enumerate(names)
        for e in (pl.col(c).min().alias(f"lo{i}"), pl.col(c).max().alias(f"hi{i}"),
                  pl.col(c).null_count().alias(f"nulls{i}"))
    ).row(0)
    constants: dict[str, str] = {}
    for i, c in enumerate(names):
        lo, hi, missing = row[3 * i : 3 * i + 3]
        if missing == 0 and isinstance(lo, str) and lo == hi:
            constants[c] = lo
    return constants


def store_permutation(frame: pl.DataFrame, by_day: bool) -> pl.Series:
    """Row indices in store order: (day,) called_e164, start_utc; legs without a called number
    last within their day; ties keep their input order (a stable sort).

    Sorting is done on integers: day and the called number's order key packed into one
    64-bit key when the batch spans at most 1024 days, then start time. A multi-column sort
    with a string key costs about seven times as much CPU (benchmarks/bench_ingest.py)."""
    import polars as pl

    called = _called_key(frame)
    start = pl.col("start_utc").dt.epoch("us").alias("s")
    if called is None:  # some called_e164 is not "+<digits>": sort on the text itself
        text_keys: list[str | pl.Expr] = ["called_e164", start]
        if by_day:
            text_keys.insert(0, day_expr())
        order = pl.arg_sort_by(text_keys, nulls_last=True, maintain_order=True)
        return frame.select(order).to_series()
    keys = frame.select(
        (day_expr() if by_day else pl.lit(0, dtype=pl.Int32)).alias("d"),
        called.fill_null(_NO_CALLED).alias("c"),
        start,
    )
    lo, hi = keys.get_column("d").min(), keys.get_column("d").max()
    assert isinstance(lo, int) and isinstance(hi, int)
    if hi - lo < _PACKED_DAYS:
        packed = (pl.col("d") - lo).cast(pl.UInt64) * (1 << 54) + pl.col("c")
        order = pl.arg_sort_by([packed, pl.col("s")], maintain_order=True)
    else:
        order = pl.arg_sort_by(["d", "c", "s"], maintain_order=True)
    return keys.select(order).to_series()


def _sort_frame(frame: pl.DataFrame, by_day: bool) -> pl.DataFrame:
    """``frame`` in store order (see :func:`store_permutation`). Each column is made one chunk
    first (gathering across many chunks costs several times more) and strings are gathered as
    16-byte views, never copied; columns with no value are not gathered at all."""
    import polars as pl

    if frame.height == 0:
        return frame
    idx = store_permutation(frame, by_day)
    cols = []
    # Column by column, taken out of the frame: once the caller holds no other reference,
    # each unsorted column is freed as soon as its sorted copy exists (peak: one batch plus
    # one column, not two batches).
    for name in frame.columns:
        s = frame.drop_in_place(name)
        cols.append(s if s.null_count() == s.len() else s.rechunk().gather(idx))
        del s
    return pl.DataFrame(cols)


def split_sorted(table: pa.Table | pl.DataFrame) -> dict[date, pa.Table]:
    """The legs of each UTC day, in store order, as LEG_SCHEMA tables (one sort for all days;
    a Polars frame passed in is consumed: its columns are moved out as they are sorted;
    never an Arrow ``take`` over the whole column, which concatenates its chunks first: a copy,
    and ``ArrowInvalid: offset overflow`` past 2 GiB of text)."""
    frame = to_polars(table) if isinstance(table, pa.Table) else table
    if frame.height == 0:
        return {}
    frame = _sort_frame(frame, by_day=True)
    days = frame.select(day_expr()).to_series().rle()
    out: dict[date, pa.Table] = {}
    offset = 0
    for n, d in days.struct.unnest().iter_rows():
        out[day_of(int(d))] = arrow_slices(frame.slice(offset, n))
        offset += n
    return out


def sort_legs(table: pa.Table) -> pa.Table:
    """Rows in store order within one day: (called_e164, start_utc), no called number last."""
    if table.num_rows == 0:
        return table
    return arrow_slices(_sort_frame(to_polars(table), by_day=False), table.schema, exact=True)


def write_parquet(root: Path, rel: str, table: pa.Table) -> int:
    """Write ``table`` at ``root/rel`` with the store's settings, fsynced; returns its size.

    The file is durable before any commit can reference it, so a committed version never
    points to a file a crash could lose.
    """
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as f:
            import pyarrow.parquet as pq

            pq.write_table(table, f, **write_options(table.schema, table))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        # A full disk mid-write: the caller never learns the name, so no clean-up of its
        # would find this file; it is no use to anyone.
        path.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path.stat().st_size


def read_legs(root: Path, rels: list[str], columns: list[str] | None = None) -> pa.Table:
    """Read leg files into one table with LEG_SCHEMA (or the chosen columns)."""
    schema = LEG_SCHEMA if columns is None else pa.schema([LEG_SCHEMA.field(c) for c in columns])
    if not rels:
        return schema.empty_table()
    import pyarrow.parquet as pq

    tables = []
    for r in rels:
        try:
            tables.append(pq.read_table(root / r, columns=columns, schema=schema))
        except (OSError, pa.ArrowInvalid) as e:
            # A file the log names that is gone or is not Parquet: say which and how to get
            # past it (store/damaged.py), not a traceback or "cannot write to the store".
            from tracehop.store.damaged import data_file_error, is_damage

            if is_damage(e):
                raise data_file_error(root, r, e) from e
            raise
    return pa.concat_tables(tables)
