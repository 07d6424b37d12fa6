"""DuckDB, the default engine: in-process, and the one engine that uses the Parquet page index.

One connection is opened and reused for the life of the engine (a new connection costs the
metadata cache and ~0.5 ms; research/perf.md §3). ``parquet_metadata_cache`` keeps file footers
and page indexes in memory, which is what brings a warm point lookup to ~3 ms. The session time
zone is UTC so that any timestamp the engine prints or casts is UTC.

Parquet-backed tables become a common table expression in front of the query (``NOT
MATERIALIZED``: inlined as a view would be) that adds ``start_us = epoch_us(start_utc)``; DuckDB
pushes a filter on that expression, and the equality on ``called_e164``, into the Parquet scan
(checked with EXPLAIN). A view per query, as before, cost a point lookup ~2 ms of its ~10 (its
creation and its binding): 10.5 -> 8.2 ms a lookup on the 100M bench store, side by side.
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
        self._arrow: dict[str, pa.Table] = {}
        # One connection is not safe for concurrent use; the HTTP service may call from threads.
        self._lock = threading.Lock()

    def _register(self, name: str, table: pa.Table) -> None:
        """Make the Arrow ``table`` visible under ``name`` (kept alive while registered)."""
        self._con.register(name, table)
        self._arrow[name] = table

    def _scan_of(self, name: str, files: Sequence[str]) -> str:
        """The relation of store files ``files``, as SQL text: the files with ``start_us``."""
        if files:
            listing = ", ".join(_quote(str(f)) for f in files)
            scan = f"read_parquet([{listing}], hive_partitioning=false)"
        else:
            # No file for that range: an empty relation with the store's columns.
            from tracehop.schema import LEG_SCHEMA

            scan = f"_{name}_empty"
            if scan not in self._arrow:
                self._con.register(scan, LEG_SCHEMA.empty_table())
                self._arrow[scan] = LEG_SCHEMA.empty_table()
        return f"SELECT *, epoch_us(start_utc) AS {START_US} FROM {scan}"

    def _prepare(self, sql: str, tables: dict[str, TableSource]) -> str:
        """``sql`` with its store-file tables in front as common table expressions, its
        Arrow tables registered (under the lock)."""
        ctes = []
        for name, source in tables.items():
            if not name.isidentifier():
                raise EngineError(f"table name {name!r} is not an identifier")
            if isinstance(source, pa.Table):
                self._register(name, source)
            else:  # store files
                ctes.append(f"{name} AS NOT MATERIALIZED ({self._scan_of(name, source)})")
        if not ctes:
            return sql
        head = "WITH " + ",\n".join(ctes)
        body = sql.lstrip()
        return f"{head},\n{body[5:]}" if body[:5].upper() == "WITH " else f"{head}\n{body}"

    def run(self, sql: str, tables: dict[str, TableSource]) -> pa.Table:
        """Arrow tables are registered under their names; store files become a common table
        expression in front of ``sql`` (not a view: creating a view for each lookup's day
        files cost ~1.2 ms of a ~10 ms point lookup, and its binding as much again). ``NOT
        MATERIALIZED``: a query that names the files twice (the related pass) reads them as
        a view would, with its filters pushed into each scan, never as one whole table."""
        with self._lock:
            try:
                result: pa.Table = self._con.sql(self._prepare(sql, tables)).to_arrow_table()
            except self._duckdb.Error as e:
                # A store file gone or cut short: name it and say how to get past it.
                from tracehop.store.damaged import first_damaged

                files = [p for src in tables.values() if isinstance(src, list) for p in src]
                if (damaged := first_damaged(files, e)) is not None:
                    raise damaged from None
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
            rows = self._con.sql("EXPLAIN ANALYZE " + self._prepare(sql, tables)).fetchall()
            return "\n".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        with self._lock:
            self._con.close()
