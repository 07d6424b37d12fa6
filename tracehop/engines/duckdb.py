"""DuckDB, the default engine: in-process, and the one engine that uses the Parquet page index.

One connection is opened and reused for the life of the engine (a new connection costs the
metadata cache and ~0.5 ms; research/perf.md §3). ``parquet_metadata_cache`` keeps file footers
and page indexes in memory, which is what brings a warm point lookup to ~3 ms. The session time
zone is UTC so that any timestamp the engine prints or casts is UTC.

Parquet-backed tables become a view that adds ``start_us = epoch_us(start_utc)``; DuckDB pushes a
filter on that expression, and the equality on ``called_e164``, into the Parquet scan (checked
with EXPLAIN). The view is re-created only when its file list changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa

from tracehop.engines.base import START_US, TableSource
from tracehop.errors import EngineError


def _quote(text: str) -> str:
    """A SQL string literal (paths come from the store; quotes are doubled, never trusted)."""
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    """Runs portable SQL over store files and Arrow tables on one reused DuckDB connection."""

    name = "duckdb"

    def __init__(self, *, threads: int | None = None) -> None:
        import duckdb

        self._duckdb = duckdb
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET parquet_metadata_cache=true")
        self._con.execute("SET TimeZone='UTC'")
        if threads is not None:
            self._con.execute(f"SET threads={int(threads)}")
        self._views: dict[str, tuple[str, ...]] = {}
        self._arrow: dict[str, pa.Table] = {}
        # One connection is not safe for concurrent use; the HTTP service may call from threads.
        self._lock = threading.Lock()

    def _register(self, name: str, source: TableSource) -> None:
        if not name.isidentifier():
            raise EngineError(f"table name {name!r} is not an identifier")
        if isinstance(source, pa.Table):
            if name in self._views:
                self._con.execute(f"DROP VIEW IF EXISTS {name}")
                del self._views[name]
            self._con.register(name, source)
            self._arrow[name] = source  # keep it alive while registered
            return
        files = tuple(str(f) for f in source)
        if self._views.get(name) == files:
            return
        if name in self._arrow:
            self._con.unregister(name)
            del self._arrow[name]
        if files:
            listing = ", ".join(_quote(f) for f in files)
            scan = f"read_parquet([{listing}], hive_partitioning=false)"
        else:
            # No file for that range: an empty relation with the store's columns.
            from tracehop.schema import LEG_SCHEMA

            empty_name = f"_{name}_empty"
            self._con.register(empty_name, LEG_SCHEMA.empty_table())
            self._arrow[empty_name] = LEG_SCHEMA.empty_table()
            scan = empty_name
        self._con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS "
            f"SELECT *, epoch_us(start_utc) AS {START_US} FROM {scan}"
        )
        self._views[name] = files

    def run(self, sql: str, tables: dict[str, TableSource]) -> pa.Table:
        with self._lock:
            try:
                for name, source in tables.items():
                    self._register(name, source)
                result: pa.Table = self._con.sql(sql).to_arrow_table()
            except self._duckdb.Error as e:
                raise EngineError(f"DuckDB query failed: {e}",
                                  hint="This is a bug in tracehop or a damaged store file"
                                  ) from None
            return result

    def read_in(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                columns: Sequence[str]) -> pa.Table:
        """The batch matcher's read, with Polars (:mod:`tracehop.engines.keyfetch`): DuckDB
        turns a long ``IN`` list into a join and then decodes every page of every column."""
        from tracehop.engines.keyfetch import read_in

        return read_in(parts, columns)

    def read_parts(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                   columns: Sequence[str]) -> Iterator[pa.Table]:
        """:meth:`read_in` one part at a time, in order, reading ahead."""
        from tracehop.engines.keyfetch import read_parts

        return read_parts(parts, columns)

    def explain_analyze(self, sql: str, tables: dict[str, TableSource]) -> str:
        """EXPLAIN ANALYZE text, to check that a lookup prunes (used by the benchmark)."""
        with self._lock:
            for name, source in tables.items():
                self._register(name, source)
            rows = self._con.sql("EXPLAIN ANALYZE " + sql).fetchall()
            return "\n".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        with self._lock:
            self._con.close()
