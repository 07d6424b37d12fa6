"""Reading store rows by key from local Parquet files, without a full-width scan.

A batch of inquiries (:mod:`tracehop.match.matcher`) needs the matcher's columns of the legs
to a few thousand called numbers spread over every day file. As a SQL join DuckDB decodes
every projected column of every row it scans: its join filters do not reach the Parquet pages
(research/perf.md §4), a large ``IN`` list becomes a join too, and a disjunction of point
ranges or a ``file_row_number`` filter is not pruned either (measured: 14-15 s for 9,000 rows
on the 10M bench store, against 5.8 s to decode all 27 columns of every row; on one 3.3M-row
day file of the 100M store, 300 numbers' legs: DuckDB 0.30 s for 3 wide columns, Polars 0.25).

Polars evaluates a filter on the filter's own columns first and decodes the other columns only
for the rows it selects (its "prefiltered" Parquet decoding). :func:`read_parts` is the read
the batch matcher uses (one table per day file, in day order, read ahead), :func:`read_in` the
same in one table (its related pass): per day file, the legs whose called number (or call key)
is one the inquiries touching that day ask for, with every column the decision needs.
Engines that read local files (DuckDB) offer it through
:class:`tracehop.engines.base.KeyFetcher`; the others run the portable SQL.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from tracehop.engines.base import START_US
from tracehop.errors import EngineError
from tracehop.schema import LEG_SCHEMA


def read_in(parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
            columns: Sequence[str]) -> pa.Table:
    """``columns`` plus ``start_us`` of the legs of each ``(file, match)`` part where, for any
    column of ``match``, the value is one of that column's values: :func:`read_parts` in one
    table, the largest files read first (the pool's last read is then a short one)."""
    order = sorted(range(len(parts)), key=lambda k: -_size(parts[k][0]))
    tables = list(read_parts([parts[k] for k in order], columns))
    if not tables:
        return _schema(columns).empty_table()
    return pa.concat_tables(tables)


def read_parts(parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
               columns: Sequence[str]) -> Iterator[pa.Table]:
    """One table per ``(file, match)`` part, in the order given: ``columns`` plus
    ``start_us`` of the legs where, for any column of ``match``, the value is one of that
    column's values. The pool reads ahead while the caller works on the tables already
    yielded (the batch matcher decides the inquiries whose days are read while the later
    days are still being read).

    This is the batch matcher's one read of the store (:mod:`tracehop.match.matcher`): each
    day file is asked only for the numbers (or call keys) whose time range touches that day,
    and all the columns the decision needs come back from the same read. Polars' prefiltered
    decoding tests the key column first, then decodes the other columns only in the pages
    holding a selected row. Measured on a 3.3M-row day file of the 100M bench store (LZ4
    pages, 1,000 numbers, 1,741 legs): 0.058 CPU-s for the key column alone (0.042 to decode
    it, 0.016 for the test), 0.24 in all; the cost barely depends on the page size (8,192 to
    1,024 rows: 0.29 to 0.27) because every projected column's bytes are fetched whatever
    is selected. A key scan followed by a fetch paid the key column twice for the same pages.

    A column that holds no value in a file (its footer statistics count only nulls: the STIR
    columns of a CDR store, the trunk columns of a SIP capture) is not read from that file but
    filled with nulls, and a match on such a column is dropped (it can select nothing): each
    projected column costs Polars ~3-5 ms per file even when every value is null. On the same
    file: 0.336 CPU-s with the 27 columns, 0.266 with the 13 that hold values
    (benchmarks/RESULTS.md, "Notes (batch read, 2026-12-07)").

    Files are read on a small thread pool: Polars releases the GIL, and one file's read keeps
    about one core busy (it does not use a second one).
    """
    schema = _schema(columns)
    if not parts:
        return
    import polars as pl

    def one(part: tuple[str, Mapping[str, Sequence[str]]]) -> pa.Table:
        path, match = part
        tests = {c: list(dict.fromkeys(v)) for c, v in match.items() if v}
        if not tests:
            return schema.empty_table()
        try:
            empty = all_null_columns(path)
            tests = {c: v for c, v in tests.items() if c not in empty}
            if not tests:
                return schema.empty_table()
            read = [c for c in columns if c not in empty]
            found = (
                pl.scan_parquet(path, hive_partitioning=False)
                .filter(pl.any_horizontal([pl.col(c).is_in(pl.Series(c, v, dtype=pl.String)
                                                                  .implode())
                                           for c, v in tests.items()]))
                .select([*read, pl.col("start_utc").dt.epoch("us").alias(START_US)])
                .collect()
            )
        except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as e:
            # A day file gone or cut short: the same StoreError (file, day, the forget that
            # gets past it) as a point lookup gives through DuckDB. "Re-ingest that day" was
            # no way back: the source files are recorded as ingested, so it adds nothing.
            from tracehop.store.damaged import first_damaged

            if (damaged := first_damaged([path], e)) is not None:
                raise damaged from None
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EngineError(f"reading store rows failed: {path}: {first}",
                              hint="A store file is missing or damaged: restore it from a "
                              "backup, or re-ingest that day") from None
        got = found.to_arrow()
        n = got.num_rows
        return pa.Table.from_arrays(
            [pa.nulls(n, f.type) if f.name in empty else got.column(f.name).cast(f.type)
             for f in schema], schema=schema)

    if len(parts) == 1:
        yield one(parts[0])
        return
    pool = ThreadPoolExecutor(max_workers=min(len(parts), _workers()))
    try:
        yield from pool.map(one, parts)
    finally:
        # A caller that stops early (an error while deciding) does not wait for the reads
        # not yet started.
        pool.shutdown(wait=True, cancel_futures=True)


def _schema(columns: Sequence[str]) -> pa.Schema:
    return pa.schema([*(LEG_SCHEMA.field(c) for c in columns), pa.field(START_US, pa.int64())])


@functools.lru_cache(maxsize=4096)
def _all_null(path: str, size: int, mtime_ns: int) -> frozenset[str]:
    import pyarrow.parquet as pq

    md = pq.read_metadata(path)
    out = set()
    for j in range(md.num_columns):
        chunks = [md.row_group(g).column(j) for g in range(md.num_row_groups)]
        # Without a null count in every row group's statistics the column is read: a file
        # written by another tool may carry no statistics at all.
        if chunks and all(c.statistics is not None and c.statistics.has_null_count
                          and c.statistics.null_count == c.num_values for c in chunks):
            out.add(md.schema.column(j).name)
    return frozenset(out)


def all_null_columns(path: str) -> frozenset[str]:
    """Columns of the Parquet file at ``path`` whose every value is null, from its footer
    statistics (no data page is read). Cached per file version: store files are never
    rewritten in place, and size and mtime tell a replaced file apart."""
    st = os.stat(path)
    return _all_null(path, st.st_size, st.st_mtime_ns)


def _workers() -> int:
    # One read per core (a read is CPU-bound: page decompression and decoding), at most 4:
    # more reads at once only hold more pages in memory.
    return max(1, min(4, os.cpu_count() or 1))


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # read it anyway: the read names the missing file
