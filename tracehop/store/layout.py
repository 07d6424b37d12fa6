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
group.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from tracehop.schema import DICTIONARY_COLUMNS, LEG_SCHEMA
from tracehop.store.log import fsync_dir

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

_EPOCH = date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000


def write_options(schema: pa.Schema) -> dict[str, Any]:
    """Keyword arguments for :func:`pyarrow.parquet.write_table` (the measured layout)."""
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
        "compression": "zstd",
        "use_dictionary": [c for c in DICTIONARY_COLUMNS if c in names],
        "write_statistics": True,
        "sorting_columns": sorting,
    }


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


def store_order(table: pa.Table, day_no: pa.Array | None = None) -> pa.Array:
    """The permutation that puts rows in store order: (day, called_e164, start_utc).

    Legs without a called number go last within their day. Polars computes it (multi-threaded,
    several times faster than pyarrow's sort_indices on string keys); the columns stay in Arrow.
    """
    import polars as pl

    keys: dict[str, pl.Series] = {}
    if day_no is not None:
        keys["d"] = pl.Series("d", day_no.to_numpy(zero_copy_only=False))
    for k in SORT_KEYS:
        s = pl.from_arrow(table.column(k))
        assert isinstance(s, pl.Series)
        keys[k] = s
    order = pl.DataFrame(keys).select(
        pl.arg_sort_by(list(keys), nulls_last=True, maintain_order=True)
    ).to_series()
    return pa.array(order.to_numpy(), pa.uint32())


def take(table: pa.Table, indices: pa.Array) -> pa.Table:
    """``table.take(indices)``, one column per thread: pyarrow releases the GIL in take, and
    gathering string columns is most of the cost of sorting a batch."""
    n = len(indices)

    def one(col: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        # Columns a source does not have are all null (schema.conform): nothing to gather.
        return pa.nulls(n, col.type) if col.null_count == len(col) else col.take(indices)

    if table.num_rows < 200_000 or (os.cpu_count() or 1) < 2:
        cols = [one(c) for c in table.columns]
    else:
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            cols = list(pool.map(one, table.columns))
    return pa.Table.from_arrays(cols, schema=table.schema)


def sort_legs(table: pa.Table) -> pa.Table:
    """Rows in store order within one day: (called_e164, start_utc), no called number last."""
    return take(table, store_order(table))


def write_parquet(root: Path, rel: str, table: pa.Table) -> int:
    """Write ``table`` at ``root/rel`` with the store's settings, fsynced; returns its size.

    The file is durable before any commit can reference it, so a committed version never
    points to a file a crash could lose.
    """
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        import pyarrow.parquet as pq

        pq.write_table(table, f, **write_options(table.schema))
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
    return path.stat().st_size


def read_legs(root: Path, rels: list[str], columns: list[str] | None = None) -> pa.Table:
    """Read leg files into one table with LEG_SCHEMA (or the chosen columns)."""
    schema = LEG_SCHEMA if columns is None else pa.schema([LEG_SCHEMA.field(c) for c in columns])
    if not rels:
        return schema.empty_table()
    import pyarrow.parquet as pq

    tables = [pq.read_table(root / r, columns=columns, schema=schema) for r in rels]
    return pa.concat_tables(tables)
