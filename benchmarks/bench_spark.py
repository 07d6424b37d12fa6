"""Benchmark the same batch on DuckDB and on Spark ``local[2]``, side by side (issue 8).

Builds (or reuses, ``--store``) a store of N synthetic legs with bench_batch's generator (30
UTC days, Zipf-ish called numbers, half inbound), writes the same inquiry file bench_batch
writes (90% call examples from stored legs, 10% numbers never seen, which go through the ±24 h
widening pass), and answers it with ``Matcher.lookup_many(strategy="join")``:

1. **DuckDB** (the baseline): one in-process connection.
2. **Spark local[2]**: the session start is timed apart; the batch is run twice (cold: first
   queries after start, JIT and file listing; warm: the second run).

Both engines run the very same SQL strings; the answers are compared in full
(``TracebackAnswer.to_dict()``) and the count of identical answers is reported.

    python benchmarks/bench_spark.py --rows 1000000              # development size
    python benchmarks/bench_spark.py --rows 10000000 --keep /tmp/spark10m   # the issue's size
    python benchmarks/bench_spark.py --store /tmp/spark10m       # reuse a kept store

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import write_inquiries
from harness import PEERS, add_store_options, machine, open_store, publish

from tracehop.engines.duckdb import DuckDBEngine
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.respond.inquiries import read_inquiries


def _answers(matcher: Matcher, inquiries: list[Inquiry]) -> tuple[list[dict[str, Any]], float]:
    t = time.perf_counter()
    out = [a.to_dict() for a in matcher.lookup_many(inquiries, strategy="join")]
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_store_options(ap, rows=1_000_000, seed=11)
    ap.add_argument("--inquiries", type=int, default=10_000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_spark_"))
    store, _, built = open_store(args, tmp)
    snap = store.snapshot()
    rows, files = snap.rows, snap.file_count
    inq_path = tmp / "inquiries.csv"
    write_inquiries(store, inq_path, args.inquiries, args.seed)
    inquiries = [r.inquiry for r in read_inquiries(inq_path).rows if r.inquiry is not None]
    load = os.getloadavg()[0]

    # -- DuckDB, the baseline --------------------------------------------------------------------
    ref, duck_s = _answers(Matcher(store, PEERS, DuckDBEngine()), inquiries)

    # -- Spark local[2] ----------------------------------------------------------------------
    from tracehop.engines.spark import SparkEngine, stop_session

    t = time.perf_counter()
    engine = SparkEngine()
    start_s = time.perf_counter() - t
    spark = Matcher(store, PEERS, engine)
    cold, cold_s = _answers(spark, inquiries)
    warm, warm_s = _answers(spark, inquiries)
    stop_session()

    same = sum(a == b for a, b in zip(ref, cold, strict=True))
    same_warm = sum(a == b for a, b in zip(ref, warm, strict=True))
    found = sum(a["status"] != "not_found" for a in ref)
    n = len(inquiries)
    lines = [
        f"### bench_spark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/bench_spark.py {' '.join(sys.argv[1:])}`".rstrip() + "  ",
        f"Machine: {machine(load, memory='24 GB')}; store {rows:,} legs in "
        f"{files} day files ({built}); {n:,} inquiries ({found:,} found), "
        "`Matcher.lookup_many(strategy=\"join\")`",
        "",
        "| engine | run | time | per inquiry | × DuckDB |",
        "|---|---|---:|---:|---:|",
        f"| DuckDB (baseline) | batch | {duck_s:.2f} s | {duck_s / n * 1e3:.2f} ms | 1.0 |",
        f"| Spark local[2] | session start | {start_s:.1f} s | | |",
        f"| Spark local[2] | batch, cold | {cold_s:.2f} s | {cold_s / n * 1e3:.2f} ms | "
        f"{cold_s / duck_s:.1f} |",
        f"| Spark local[2] | batch, warm | {warm_s:.2f} s | {warm_s / n * 1e3:.2f} ms | "
        f"{warm_s / duck_s:.1f} |",
        "",
        f"Answers identical to DuckDB's: cold {same:,}/{n:,}, warm {same_warm:,}/{n:,}.",
        "",
    ]
    publish("\n".join(lines), record=not args.no_record)
    shutil.rmtree(tmp, ignore_errors=True)
    if same != n or same_warm != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
