"""Reading store rows by key from local Parquet files, without a full-width scan.

Phase 2 of a batch pass (:mod:`tracehop.match.matcher`) needs the matcher's ~27 columns of a
few thousand legs spread over every day file. As a SQL join (``tracehop.match.sql.fetch_sql``)
DuckDB decodes every projected column of every row it scans: its join filters do not reach
the Parquet pages (research/perf.md §4), and a disjunction of point ranges or a
``file_row_number`` filter is not pruned either (measured: 14-15 s for 9,000 rows on the 10M
bench store, against 5.8 s to decode all 27 columns of every row).

Polars evaluates a filter on the filter's own columns first and decodes the other columns only
for the rows it selects (its "prefiltered" Parquet decoding; perf.md §4: is_in prefilter +
join, 10,000 inquiries on 100M rows in 2.1 s). The filter here is on the two sort keys,
``called_e164`` and ``start_utc``, which are cheap to decode; an exact semi-join on the pair
follows. Engines that read local files (DuckDB) offer this as ``fetch_by_key``
(:class:`tracehop.engines.base.KeyFetcher`); the others run the portable SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from tracehop.engines.base import START_US
from tracehop.errors import EngineError
from tracehop.schema import LEG_SCHEMA


def fetch_by_key(files: Sequence[str], wanted: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``columns`` plus ``start_us`` of the legs in ``files`` whose (called_e164, start_us)
    is a row of ``wanted``; a null called number matches a null key."""
    schema = pa.schema([*(LEG_SCHEMA.field(c) for c in columns), pa.field(START_US, pa.int64())])
    if not files or wanted.num_rows == 0:
        return schema.empty_table()
    import polars as pl  # only batches pay for it; a single lookup never gets here

    keys = pl.from_arrow(wanted.select(["called_e164", START_US]))
    assert isinstance(keys, pl.DataFrame)
    keys = keys.unique()
    numbers = keys.get_column("called_e164").drop_nulls().unique()
    instants = keys.get_column(START_US).unique()
    start_us = pl.col("start_utc").dt.epoch("us")
    called = pl.col("called_e164").is_in(numbers.implode())
    if keys.get_column("called_e164").null_count():
        called = called | pl.col("called_e164").is_null()
    try:
        found = (
            pl.scan_parquet(list(files), hive_partitioning=False)
            .filter(called & start_us.is_in(instants.implode()))
            .select([*columns, start_us.alias(START_US)])
            .collect()
            # The two filters are per column; this keeps the exact pairs.
            .join(keys, on=["called_e164", START_US], how="semi", nulls_equal=True)
        )
    except (OSError, pl.exceptions.PolarsError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EngineError(f"reading store rows by key failed: {first}",
                          hint="a store file is missing or damaged: restore it from a backup, "
                          "or re-ingest that day") from None
    return found.to_arrow().cast(schema)


def prefilter(files: Sequence[str], match: Mapping[str, Sequence[str]],
              columns: Sequence[str]) -> pa.Table:
    """``columns`` plus ``start_us`` of the legs in ``files`` where, for any column of
    ``match``, its value is one of that column's values: the ``legs`` relation of a key scan,
    narrowed before the join runs.

    Measured on the 10M-row bench store (10,000 inquiries' numbers, 1.5% of the rows): 0.5 s,
    against 1.5-3 s for DuckDB's join to read the same two key columns of every row.
    """
    schema = pa.schema([*(LEG_SCHEMA.field(c) for c in columns), pa.field(START_US, pa.int64())])
    match = {c: v for c, v in match.items() if v}
    if not files or not match:
        return schema.empty_table()
    import polars as pl

    tests = [pl.col(c).is_in(pl.Series(c, list(dict.fromkeys(v)), dtype=pl.String).implode())
             for c, v in match.items()]
    try:
        found = (
            pl.scan_parquet(list(files), hive_partitioning=False)
            .filter(pl.any_horizontal(tests))
            .select([*columns, pl.col("start_utc").dt.epoch("us").alias(START_US)])
            .collect()
        )
    except (OSError, pl.exceptions.PolarsError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EngineError(f"reading store keys failed: {first}",
                          hint="a store file is missing or damaged: restore it from a backup, "
                          "or re-ingest that day") from None
    return found.to_arrow().cast(schema)
