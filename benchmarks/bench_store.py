"""Benchmark the call-leg store's layout: commit throughput, file sizes, DuckDB point lookups.

Generates N synthetic call legs (numpy + polars, seconds per 10M rows), shaped like the data of
research/perf.md: 30 UTC days, emitted in time order the way a switch writes them, called
numbers from a pool of N/5 numbers with index floor(P*u^2) (Zipf-ish: most numbers get a few
calls, some get thousands), uniform calling numbers, 500 Zipf-weighted trunks, 32-hex Call-IDs,
20-hex leg_ids. The legs go through ``Store.commit`` in chunks (one ingest per chunk), then
``Store.compact``. Then ``--queries`` point lookups (called number, +-120 s around a real call
time shifted by up to +-60 s) run on ``snapshot.files_for(...)`` through one reused DuckDB
connection with literal SQL and ``parquet_metadata_cache``, in two forms:

- ``ts``: ``start_utc BETWEEN TIMESTAMPTZ ... AND ...`` (the column itself: page-index pruning
  on both keys);
- ``us``: ``epoch_us(start_utc) BETWEEN int AND int`` (a computed column, as an engine-portable
  query writes it: only the called-number predicate can use the page index).

EXPLAIN ANALYZE of one lookup shows how much of the file was read.

    python benchmarks/bench_store.py --rows 10000000          # development size
    python benchmarks/bench_store.py --rows 100000000 --chunk 5000000 --keep /tmp/store100m

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, nearest_rank

from tracehop.schema import LOOKUP_COLUMNS, conform, empty_rejects
from tracehop.store import FileRecord, Store
from tracehop.store.layout import write_options

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def hex_strings(rng: np.random.Generator, n: int, nbytes: int) -> pl.Series:
    raw = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(nbytes), n, [None, pa.py_buffer(rng.bytes(nbytes * n))]
    )
    series = pl.from_arrow(raw.cast(pa.binary()))
    assert isinstance(series, pl.Series)
    return series.bin.encode("hex")


def generate_chunk(
    rng: np.random.Generator, pool: np.ndarray, n: int, t_lo_us: int, t_hi_us: int, chunk: int
) -> pa.Table:
    """n legs with start times in [t_lo, t_hi), in time order (as a switch emits them)."""
    start = np.sort(rng.integers(t_lo_us, t_hi_us, n))
    called = pool[(len(pool) * rng.random(n) ** 2).astype(np.int64)]
    calling = rng.integers(12012000000, 19899999999, n)
    trunk_in = np.minimum(rng.zipf(1.3, n), 500)
    trunk_out = np.minimum(rng.zipf(1.3, n), 500)
    answered = rng.random(n) < 0.7
    duration = np.where(answered, rng.lognormal(4.0, 1.0, n), 0.0).round(0)
    disp = rng.choice(np.array(["answered", "no_answer", "busy", "failed"]), n,
                      p=[0.7, 0.15, 0.1, 0.05])
    df = pl.DataFrame(
        {
            "leg_id": hex_strings(rng, n, 10),
            "source": pl.repeat("bench", n, eager=True),
            "format": pl.repeat("asterisk_cdr_csv", n, eager=True),
            "source_file": pl.repeat(f"Master-{chunk:03d}.csv", n, eager=True),
            "source_record": pl.int_range(1, n + 1, eager=True),
            "start_us": start,
            "called_e164": "+" + pl.Series(called).cast(pl.String),
            "calling_e164": "+" + pl.Series(calling).cast(pl.String),
            "direction": np.where(rng.random(n) < 0.5, "inbound", "outbound"),
            "ingress_trunk": "IN-PEER-" + pl.Series(trunk_in).cast(pl.String).str.zfill(4),
            "egress_trunk": "OUT-PEER-" + pl.Series(trunk_out).cast(pl.String).str.zfill(4),
            "call_id": hex_strings(rng, n, 16),
            "duration_s": duration,
            "billsec_s": duration,
            "disposition": disp,
        }
    ).with_columns(
        pl.col("start_us").cast(pl.Datetime("us", "UTC")).alias("start_utc"),
        pl.col("called_e164").str.slice(2).alias("called_raw"),
        pl.col("calling_e164").str.slice(2).alias("calling_raw"),
    ).drop("start_us")
    return df.to_arrow()


@dataclass
class Probe:
    called: str
    t_us: int


def lookup_sql(paths: list[str], p: Probe, window_s: int, form: str) -> str:
    files = ", ".join(f"'{x}'" for x in paths)
    cols = ", ".join(LOOKUP_COLUMNS)
    lo, hi = p.t_us - window_s * 1_000_000, p.t_us + window_s * 1_000_000
    if form == "ts":
        def lit(us: int) -> str:
            ts = datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return f"TIMESTAMPTZ '{ts}+00'"
        cond = f"start_utc BETWEEN {lit(lo)} AND {lit(hi)}"
    else:
        cond = f"epoch_us(start_utc) BETWEEN {lo} AND {hi}"
    return (f"SELECT {cols} FROM read_parquet([{files}]) "
            f"WHERE called_e164 = '{p.called}' AND {cond}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--chunk", type=int, default=2_500_000, help="rows per commit")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--window", type=int, default=120, help="+- seconds")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="store directory to keep")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_store_")) / "store"
    if root.exists():
        shutil.rmtree(root)
    store = Store.open(root, create=True, compact_threshold=10_000)  # compact once, at the end
    pool = rng.integers(12012000000, 19899999999, max(1, args.rows // 5))
    span_us = args.days * 86_400_000_000
    t0_us = int(T0.timestamp() * 1_000_000)

    n_chunks = -(-args.rows // args.chunk)
    gen_s = commit_s = base_s = 0.0
    probes: list[Probe] = []
    per_chunk = max(1, args.queries * 2 // n_chunks)
    for c in range(n_chunks):
        n = min(args.chunk, args.rows - c * args.chunk)
        lo = t0_us + span_us * c // n_chunks
        hi = t0_us + span_us * (c + 1) // n_chunks
        t = time.perf_counter()
        table = generate_chunk(rng, pool, n, lo, hi, c)
        gen_s += time.perf_counter() - t
        pick = rng.integers(0, n, per_chunk)
        sample = table.take(pa.array(pick)).select(["called_e164", "start_utc"]).to_pylist()
        probes += [Probe(r["called_e164"],
                         int(r["start_utc"].timestamp() * 1e6) + int(rng.integers(-60, 61)) * 10**6)
                   for r in sample]
        rec = FileRecord(file_id=f"{c:064x}", path=f"Master-{c:03d}.csv", size=0, rows_read=n)
        # Baseline, side by side: the same rows written once by pyarrow with the same settings,
        # unsorted, one file, no log: the floor a commit's sort + split + dedupe add to.
        t = time.perf_counter()
        conformed = conform(table)
        pq.write_table(conformed, root.parent / "baseline.parquet",
                       **write_options(conformed.schema))
        base_s += time.perf_counter() - t
        del conformed
        t = time.perf_counter()
        res = store.commit(table, empty_rejects(), [rec])
        commit_s += time.perf_counter() - t
        assert res.stored == n, res
        del table
    snap_before = store.snapshot()
    t = time.perf_counter()
    comp = store.compact()
    compact_s = time.perf_counter() - t
    snap = store.snapshot()
    size = sum(f.size for f in snap.data_files())
    assert snap.rows == args.rows

    # --- lookups -----------------------------------------------------------------------------
    con = duckdb.connect()
    con.sql("SET parquet_metadata_cache=true")
    con.sql("SET TimeZone='UTC'")
    rng.shuffle(probes)  # type: ignore[arg-type]
    probes = probes[: args.queries]
    w = timedelta(seconds=args.window)
    results: dict[str, tuple[float, float, float]] = {}
    for form in ("ts", "us"):
        lat: list[float] = []
        hits = 0
        for i, p in enumerate([*probes[:3], *probes]):
            at = datetime.fromtimestamp(p.t_us / 1e6, UTC)
            t = time.perf_counter()
            paths = snap.files_for(at - w, at + w)
            out = con.sql(lookup_sql(paths, p, args.window, form)).to_arrow_table()
            dt = (time.perf_counter() - t) * 1000
            if i >= 3:  # 3 warm-up queries
                lat.append(dt)
                hits += out.num_rows > 0
        results[form] = (statistics.median(lat), nearest_rank(lat, 0.99), hits / len(lat))
    # EXPLAIN ANALYZE on one lookup: how much was read
    p = probes[0]
    at = datetime.fromtimestamp(p.t_us / 1e6, UTC)
    plan_text = "\n".join(
        str(r[1]) for r in con.sql(
            "EXPLAIN ANALYZE " + lookup_sql(snap.files_for(at - w, at + w), p, args.window, "ts")
        ).fetchall()
    )
    read = re.search(r"Data Read:\s*([\d.]+\s*[kKMG]?B)", plan_text)
    groups = re.search(r"Row Groups Scanned:\s*(\d+ / \d+)", plan_text)

    rows_per_s = args.rows / commit_s
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| rows / days / commits | {args.rows:,} / {args.days} / {n_chunks} |",
        f"| generate (not counted) | {gen_s:.1f} s |",
        f"| Store.commit (dedupe + split + sort + write + log) | {commit_s:.1f} s, "
        f"**{rows_per_s / 1e6:.2f}M rows/s** |",
        f"| baseline: pyarrow write_table of the same rows, same settings, unsorted | "
        f"{base_s:.1f} s, {args.rows / base_s / 1e6:.2f}M rows/s (commit / baseline = "
        f"{commit_s / base_s:.2f}x) |",
        f"| files before / after compaction | {snap_before.file_count} / {snap.file_count} |",
        f"| Store.compact | {compact_s:.1f} s ({comp.files_removed} files -> "
        f"{comp.files_added}, {sum(d.rows for d in comp.days):,} rows rewritten) |",
        f"| store size | {size / 1e9:.2f} GB, {size / args.rows:.1f} B/row |",
        f"| lookup ±{args.window}s, `start_utc BETWEEN TIMESTAMPTZ` | p50 "
        f"**{results['ts'][0]:.2f} ms**, p99 {results['ts'][1]:.2f} ms, hit rate "
        f"{results['ts'][2]:.2f} ({len(probes)} queries) |",
        f"| lookup ±{args.window}s, `epoch_us(start_utc) BETWEEN int` | p50 "
        f"{results['us'][0]:.2f} ms, p99 {results['us'][1]:.2f} ms, hit rate "
        f"{results['us'][2]:.2f} |",
        f"| EXPLAIN ANALYZE of one lookup | data read {read.group(1) if read else '?'}, "
        f"row groups scanned {groups.group(1) if groups else '?'} |",
    ]
    table = "\n".join(lines)
    print(table)
    print("\nEXPLAIN ANALYZE (one lookup):\n" + plan_text)
    if not args.no_record:
        cmd = "python benchmarks/bench_store.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if v is not None and k not in ("no_record", "keep", "seed")
        )
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write(
                f"\n## store layout: commit, compaction, point lookup "
                f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n"
                f"Command: `{cmd}`. Machine: {os.cpu_count()} vCPU / 24 GB ({platform.machine()}),"
                f" shared with other engineers' jobs (load average "
                f"{os.getloadavg()[0]:.1f} at the end). Baseline: research/perf.md c2 layout at "
                f"100M rows, DuckDB + metadata cache warm p50 3.0 ms / p99 3.8 ms; pyarrow "
                f"rewrite 1.44M rows/s.\n\n{table}\n"
            )
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
