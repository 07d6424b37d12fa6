"""Benchmark point lookups: ``Matcher.lookup`` vs the raw DuckDB query, and a ``tracehop lookup``
process end to end.

Builds (or reuses, ``--store``) a store of N synthetic legs through the Store API, with the
generator of bench_store.py (30 UTC days, Zipf-ish called numbers, half inbound, 500 trunks),
then, in one warm process:

1. **matcher**: ``Matcher.lookup`` for ``--queries`` inquiries taken from stored inbound legs
   (called number, start time shifted by up to ±60 s, calling number given) -- everything an
   answer costs: snapshot, SQL, scoring, peers, the TracebackAnswer;
2. **baseline**: the raw DuckDB query of research/perf.md on the same day files (literal SQL,
   ``start_utc BETWEEN TIMESTAMPTZ ...``, one reused connection, metadata cache on);
3. **not found**: inquiries for numbers the store never saw (narrow pass + the ±24 h widening
   pass);
4. **process**: ``tracehop lookup --json`` run as a new process ``--cli-runs`` times (wall).

    python benchmarks/bench_lookup.py --rows 2000000                 # development size
    python benchmarks/bench_lookup.py --rows 100000000 --chunk 5000000 --keep /tmp/store100m
    python benchmarks/bench_lookup.py --store /tmp/store100m         # reuse a kept store

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import T0
from harness import (
    add_store_options,
    console_script,
    nearest_rank,
    open_store,
    publish,
    write_peers_toml,
)

from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.peers import PeerDirectory
from tracehop.schema import LOOKUP_COLUMNS
from tracehop.store import Store


def sample_inquiries(store: Store, n: int, seed: int) -> list[tuple[str, str, datetime]]:
    """(called, calling, time) of stored inbound legs, the time shifted by up to ±60 s."""
    rng = np.random.default_rng(seed)
    snap = store.snapshot()
    legs = (pl.scan_parquet(snap.all_files())
            .select("called_e164", "calling_e164", "start_utc", "direction")
            .gather_every(max(1, snap.rows // (n * 8)))
            .filter(pl.col("direction") == "inbound")
            .collect()
            .sample(n, seed=seed, with_replacement=True))
    shift = rng.integers(-60, 61, n)
    return [(c, k, t + timedelta(seconds=int(s)))
            for (c, k, t, _), s in zip(legs.iter_rows(), shift, strict=True)]


def raw_sql(paths: list[str], called: str, t: datetime, window_s: int) -> str:
    """The baseline of research/perf.md: literal SQL on the day files, timestamps compared."""
    files = ", ".join(f"'{x}'" for x in paths)

    def lit(x: datetime) -> str:
        return f"TIMESTAMPTZ '{x.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"

    w = timedelta(seconds=window_s)
    return (f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM read_parquet([{files}]) "
            f"WHERE called_e164 = '{called}' AND start_utc BETWEEN {lit(t - w)} AND {lit(t + w)}")


def _parses(called: str, calling: str | None = None) -> bool:
    """Whether the CLI will accept these numbers (the generator also makes invalid NANP ones)."""
    try:
        Inquiry.parse(called, "2026-10-01T00:00:00Z", calling)
    except Exception:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_store_options(ap, rows=2_000_000, seed=5)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--cli-runs", type=int, default=5)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_lookup_"))
    try:
        store, root, built = open_store(args, tmp)
        rows = store.snapshot().rows
        peers_path = write_peers_toml(tmp / "peers.toml")
        peers = PeerDirectory.load(peers_path)
        asks = sample_inquiries(store, args.queries, args.seed)
        # The generator's numbers are random digits, not all valid NANP numbers, so the
        # inquiries are built directly (validation is not what is measured here).
        inquiries = [Inquiry(called_e164=c, time_utc=t, calling_e164=k) for c, k, t in asks]
        matcher = Matcher(store, peers)

        # 1. the matcher, warm (3 warm-up lookups first)
        for q in inquiries[:3]:
            matcher.lookup(q)
        lat, statuses = [], {}
        for q in inquiries:
            t0 = time.perf_counter()
            a = matcher.lookup(q)
            lat.append(time.perf_counter() - t0)
            statuses[a.status] = statuses.get(a.status, 0) + 1
        snap_lat = []
        for _ in range(50):
            t0 = time.perf_counter()
            store.snapshot()
            snap_lat.append(time.perf_counter() - t0)

        # 2. the raw DuckDB query on the same files, side by side
        con = duckdb.connect()
        con.execute("SET parquet_metadata_cache=true")
        snap = store.snapshot()
        sqls = []
        for q in inquiries:
            w = timedelta(seconds=q.window_s)
            sqls.append(raw_sql(snap.files_for(q.time_utc - w, q.time_utc + w), q.called_e164,
                                q.time_utc, int(q.window_s)))
        for s in sqls[:3]:
            con.sql(s).to_arrow_table()
        raw, hits = [], 0
        for s in sqls:
            t0 = time.perf_counter()
            hits += con.sql(s).to_arrow_table().num_rows > 0
            raw.append(time.perf_counter() - t0)

        # 3. not found: the narrow pass, then the ±24 h widening pass
        rng = np.random.default_rng(args.seed + 9)
        missing = [Inquiry("+1" + str(x), T0 + timedelta(days=10, seconds=int(s)))
                   for x, s in zip(rng.integers(2_000_000_000, 2_099_999_999, 100),
                                   rng.integers(0, 10 * 86400, 100), strict=True)]
        nf = []
        for q in missing:
            t0 = time.perf_counter()
            assert matcher.lookup(q).status == "not_found"
            nf.append(time.perf_counter() - t0)

        # 4. a tracehop lookup process, end to end
        exe = console_script("tracehop")  # not a version-manager shim on PATH
        c, k, t = next(a for a in asks if _parses(a[0], a[1]))
        cmd = [exe, "lookup", "--store", str(root), "--called", c, "--at",
               t.strftime("%Y-%m-%dT%H:%M:%SZ"), "--calling", k, "--peers", str(peers_path),
               "--json"]
        subprocess.run(cmd, check=True, capture_output=True)  # page cache warm, as in use
        walls, cpus = [], []
        for _ in range(args.cli_runs):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time does not depend on the other jobs sharing the machine; wall time does.
            cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # a kept store lives in --keep, not in tmp

    def ms(x: float) -> str:
        return f"{x * 1000:.2f}"

    table = [
        ("Matcher.lookup (found)", len(lat), ms(statistics.median(lat)),
         ms(nearest_rank(lat, 0.99))),
        ("raw DuckDB query (baseline)", len(raw), ms(statistics.median(raw)),
         ms(nearest_rank(raw, 0.99))),
        ("Matcher.lookup (not found, widened ±24h)", len(nf), ms(statistics.median(nf)),
         ms(nearest_rank(nf, 0.99))),
        ("store.snapshot() alone", len(snap_lat), ms(statistics.median(snap_lat)),
         ms(nearest_rank(snap_lat, 0.99))),
        ("`tracehop lookup` process (wall)", len(walls), ms(statistics.median(walls)),
         ms(max(walls))),
        ("`tracehop lookup` process (CPU user+sys)", len(cpus), ms(statistics.median(cpus)),
         ms(max(cpus))),
    ]
    ratio = statistics.median(lat) / statistics.median(raw)
    cmdline = "python benchmarks/bench_lookup.py " + " ".join(sys.argv[1:])
    head = (f"### bench_lookup: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
            f"`{cmdline}`  \nmachine: {os.cpu_count()} vCPU, {platform.machine()}, "
            f"shared with other engineers' jobs (load avg {os.getloadavg()[0]:.1f}); "
            f"store: {rows:,} rows ({built}); statuses {statuses}; baseline hit rate "
            f"{hits}/{len(raw)}\n")
    lines = ["| what | n | p50 ms | p99 ms (process: max) |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table]
    lines.append(f"\nMatcher.lookup / raw query p50 ratio: **{ratio:.2f}x**\n")
    publish(head + "\n" + "\n".join(lines) + "\n", record=not args.no_record)


if __name__ == "__main__":
    main()
