"""The engine boundary: what the matcher asks of a query engine.

The matcher expresses every query once, as portable SQL (:mod:`tracehop.match.sql`), and an
engine only has to (1) make the named tables visible to that SQL and (2) run it. That is the
whole protocol, so a new engine (Spark, Trino, DataFusion) is a small module.

Tables handed to :meth:`Engine.run` are either

- a list of Parquet paths (store files, LEG_SCHEMA minus the partition column ``day``): the
  engine exposes them as one relation with every LEG_SCHEMA column present in the files **plus
  ``start_us BIGINT``, the epoch microseconds of ``start_utc``**. The SQL compares times only as
  int64 epoch-µs, because timestamp functions differ between dialects and integers do not
  (research/distributed.md). An empty list is a relation with no rows and the same columns.
- an Arrow table (inquiries, correlation keys): registered as is.

Results come back as an Arrow table. Engine failures raise :class:`tracehop.errors.EngineError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import pyarrow as pa

#: The column every engine adds to a Parquet-backed relation: epoch microseconds of start_utc.
START_US = "start_us"

TableSource: TypeAlias = "list[str] | pa.Table"


@runtime_checkable
class Engine(Protocol):
    """A query engine that runs tracehop's portable SQL."""

    name: str

    def run(self, sql: str, tables: dict[str, TableSource]) -> pa.Table:
        """Register ``tables`` under their names, run ``sql``, return the result."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


@runtime_checkable
class KeyFetcher(Protocol):
    """An engine that reads local store files by key faster than the portable SQL does
    (optional; the matcher runs the portable SQL on engines without it).

    The batch matcher reads, per day file, the legs whose called number (or correlation key)
    an inquiry touching that day asks for, with all the columns it decides on (``read_in``),
    and ranks them as a single lookup does.
    """

    def read_in(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                columns: Sequence[str]) -> pa.Table:
        """``columns`` plus ``start_us`` of the legs of each ``(file, match)`` part where,
        for any column of ``match``, the value is one of that column's values."""
        ...

    def read_parts(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                   columns: Sequence[str]) -> Iterator[pa.Table]:
        """The same read, one table per part in the order given, the next parts read while
        the caller works on the ones yielded."""
        ...


#: Engine names the CLI offers (``--engine``); DuckDB is the default.
ENGINE_NAMES: tuple[str, ...] = ("duckdb", "spark")


def open_engine(name: str = "duckdb") -> Engine:
    """A new engine by name. Optional engines import lazily: a missing extra raises
    :class:`tracehop.errors.EngineMissingError` with the pip command in its hint."""
    if name == "duckdb":
        from tracehop.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from tracehop.engines.spark import SparkEngine

        return SparkEngine()
    from tracehop.errors import ConfigError

    raise ConfigError(f"unknown engine {name!r}", hint="Choose one of: " + ", ".join(ENGINE_NAMES))
