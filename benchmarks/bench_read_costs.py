"""What one day file costs the batch read and a point lookup, under layout variants (issue 5).

The batch matcher reads each day file once with Polars (:func:`tracehop.engines.keyfetch.
read_parts`), asking for the legs to ~1,000 called numbers; a single lookup asks DuckDB for one
number in ±120 s. This takes one day file of a store (the largest), draws ``--numbers`` called
numbers from it, and measures, best of ``--reps``:

- the batch read's CPU seconds with every column the matcher reads, with only the columns that
  hold a value in the file (what read_parts does), and with the number column alone;
- then, for the file re-written with other page sizes or with no compression on chosen
  columns (same rows, same order): the batch read's CPU and DuckDB's point-lookup p50.

    python benchmarks/bench_read_costs.py --store STORE100M
    python benchmarks/bench_read_costs.py --store STORE100M --pages 8192,1024 --plain leg_id,call_id
    python benchmarks/bench_read_costs.py --store STORE100M --numbers 333 --datafusion

``--datafusion`` (needs ``pip install datafusion``, not a tracehop dependency) adds, for each
variant, the same read by DataFusion with its Parquet filter pushdown, which fetches and
decodes only the pages holding a selected row (the page index): the comparison behind
"Notes (open targets, 2026-12-07 13:35-14:00 UTC)" in benchmarks/RESULTS.md. 333 numbers a
file is what the 10,000-inquiry batch on the 100M store asks of each of its 30 day files.

CPU seconds, not wall time, because the read is measured on a shared machine.
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
from harness import machine, publish

from tracehop.engines.keyfetch import all_null_columns, read_parts
from tracehop.match.matcher import READ_COLUMNS
from tracehop.schema import LEG_SCHEMA
from tracehop.store import Store
from tracehop.store.layout import MAX_ROWS_PER_PAGE, write_options


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_cpu(f: Callable[[], object], reps: int) -> float:
    out = float("inf")
    for _ in range(reps):
        c = cpu()
        f()
        out = min(out, cpu() - c)
    return out


def polars_read(path: str, numbers: list[str], columns: list[str]) -> pl.DataFrame:
    return (pl.scan_parquet(path, hive_partitioning=False)
            .filter(pl.col("called_e164").is_in(pl.Series(numbers).implode()))
            .select(columns).collect())


def datafusion_read(path: str, numbers: list[str], columns: list[str]) -> object:
    """The batch read as DataFusion runs it: one ``IN`` list, filter pushed into the Parquet
    scan (late materialisation: the other columns decoded only in pages with a selected row)."""
    from datafusion import SessionConfig, SessionContext

    ctx = SessionContext(
        SessionConfig().with_target_partitions(1)
        .set("datafusion.execution.parquet.pushdown_filters", "true"))
    ctx.register_parquet("legs", path)
    values = ", ".join(f"'{n}'" for n in numbers)  # E.164 text from the file: no quotes in it
    return ctx.sql(f"SELECT {', '.join(columns)} FROM legs "
                   f"WHERE called_e164 IN ({values})").to_arrow_table()


def point_p50_ms(path: str, probes: list[tuple[str, int]]) -> float:
    con = duckdb.connect()
    cols = ", ".join(READ_COLUMNS)
    lat = []
    for rep in range(2):  # the first round warms the connection and the page cache
        for called, us in probes:
            q = (f"SELECT {cols} FROM read_parquet(['{path}']) WHERE called_e164 = '{called}' "
                 f"AND epoch_us(start_utc) BETWEEN {us - 120_000_000} AND {us + 120_000_000}")
            t = time.perf_counter()
            con.sql(q).to_arrow_table()
            if rep:
                lat.append(time.perf_counter() - t)
    con.close()
    return statistics.median(lat) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--numbers", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=200, help="point lookups per variant")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pages", default="8192,1024", help="page sizes (rows) to re-write with")
    ap.add_argument("--plain", default="leg_id,call_id",
                    help="columns to re-write with no compression (empty: skip)")
    ap.add_argument("--datafusion", action="store_true",
                    help="also time the read with DataFusion (pip install datafusion)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    if args.datafusion:
        try:
            import datafusion  # noqa: F401
        except ImportError:
            sys.exit("--datafusion needs DataFusion: pip install datafusion")

    files = Store.open(args.store).snapshot().all_files()
    path = max(files, key=os.path.getsize)
    table = pq.read_table(path, schema=LEG_SCHEMA)
    rng = random.Random(5)
    called, starts = table.column("called_e164"), table.column("start_utc")
    picks = [rng.randrange(table.num_rows) for _ in range(args.numbers)]
    numbers = sorted({called[i].as_py() for i in picks})
    probes = [(called[i].as_py(), starts[i].value) for i in picks[: args.probes]]
    every = list(READ_COLUMNS)
    valued = [c for c in every if c not in all_null_columns(path)]
    selected = polars_read(path, numbers, ["called_e164"]).height

    lines = [
        f"### bench_read_costs — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/bench_read_costs.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine(os.getloadavg()[0])}; file: {table.num_rows:,} legs, "
        f"{os.path.getsize(path) / 1e6:.0f} MB; {len(numbers):,} numbers asked, "
        f"{selected:,} legs selected",
        "",
        "| batch read of the file (Polars, prefiltered) | columns | CPU s (best of "
        f"{args.reps}) |",
        "|---|---:|---:|",
    ]
    for label, cols in (("every column the matcher reads", every),
                        ("only the columns holding a value (read_parts)", valued),
                        ("the number column alone", ["called_e164"])):
        s = best_cpu(lambda cols=cols: polars_read(path, numbers, cols), args.reps)
        lines.append(f"| {label} | {len(cols)} | {s:.3f} |")
    s = best_cpu(lambda: list(read_parts([(path, {"called_e164": numbers})], READ_COLUMNS)),
                 args.reps)
    lines += [f"| `read_parts` itself | {len(valued)} | {s:.3f} |", ""]

    # (label, rows per page, columns written uncompressed): everything else as the store writes
    variants: list[tuple[str, int, list[str]]] = [
        (f"pages of {size:,} rows", size, [])
        for size in (int(x) for x in args.pages.split(",") if x)]
    plain = [c for c in args.plain.split(",") if c]
    if plain:
        variants.append((f"no compression on {', '.join(plain)}", MAX_ROWS_PER_PAGE, plain))
    df_head = (" DataFusion read CPU s |", "---:|") if args.datafusion else ("", "")
    lines += ["| file re-written with | size MB | batch read CPU s | DuckDB point lookup p50 |"
              + df_head[0], "|---|---:|---:|---:|" + df_head[1]]
    with tempfile.TemporaryDirectory(prefix="bench_read_costs_") as d:
        for label, page_rows, uncompressed in variants:
            opts = write_options(table.schema)
            opts["max_rows_per_page"] = page_rows
            opts["compression"] = {**opts["compression"], **dict.fromkeys(uncompressed, "none")}
            out = str(Path(d) / "variant.parquet")
            pq.write_table(table, out, **opts)
            s = best_cpu(lambda out=out: list(read_parts([(out, {"called_e164": numbers})],
                                                         READ_COLUMNS)), args.reps)
            p50 = point_p50_ms(out, probes)
            row = f"| {label} | {os.path.getsize(out) / 1e6:.0f} | {s:.3f} | {p50:.2f} ms |"
            if args.datafusion:
                # the first query of a session pays DataFusion's start-up: best of reps + 1
                df_s = best_cpu(lambda out=out: datafusion_read(out, numbers, valued),
                                args.reps + 1)
                row += f" {df_s:.3f} |"
            lines.append(row)
    lines.append("")
    publish("\n".join(lines), record=not args.no_record)


if __name__ == "__main__":
    main()
