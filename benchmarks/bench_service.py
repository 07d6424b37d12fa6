"""Load test of `tracehop serve` on loopback while an ingest commits to the same store.

1. builds (or reuses, ``--store``) a store of N synthetic legs (bench_store's generator);
2. starts an **ingest** in another process: it commits ``--ingest-rows`` new legs every
   ``--ingest-every`` seconds (each commit also carries one marker call to a number the store
   never saw) until told to stop;
3. **baseline**, side by side: the same inquiries through ``Matcher.lookup`` in this process
   (no HTTP, no auth, no audit), one at a time, for ``--baseline`` lookups;
4. starts ``tracehop serve`` as its own process on 127.0.0.1 (never any other address) and
   drives it with ``--clients`` concurrent httpx clients (one inquiry per request) until
   ``--requests`` were sent or ``--duration`` seconds (at most 60) passed;
5. checks that nothing failed or got lost: every request got a 200 and an answer for the
   number it asked about, the audit log holds exactly one verified entry per answer, and
   every marker call the ingest committed is found through the service (live data).

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).

    python benchmarks/bench_service.py --rows 10000000               # run on a shared machine
    python benchmarks/bench_service.py --rows 100000000 --chunk 5000000 --keep /tmp/store100m
    python benchmarks/bench_service.py --store /tmp/store100m        # reuse a kept store
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import T0, generate_chunk
from harness import build_store, interpolated, machine, publish, write_peers_toml

from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.numbers import normalise
from tracehop.peers import PeerDirectory
from tracehop.respond.audit import verify
from tracehop.schema import empty_rejects
from tracehop.service.tokens import add_token
from tracehop.store import FileRecord, Store

HOST = "127.0.0.1"  # loopback only: this load test never targets another address
DAYS = 30


def marker(k: int) -> tuple[str, datetime]:
    """The k-th marker call the ingest commits: a fictional 555-01xx number, one per hour."""
    return f"+1212555{100 + k % 100:04d}", T0 + timedelta(hours=k, seconds=7)


def ingest_worker(store_dir: str, rows: int, every: float, stop_file: str, out: str) -> None:
    """Runs in its own process: commit new legs (and one marker call) until stop_file exists."""
    store = Store.open(store_dir)
    rng = np.random.default_rng(int(time.time()))
    pool = rng.integers(12012000000, 19899999999, max(1, rows))
    t0_us = int(T0.timestamp() * 1_000_000)
    k = 0
    commits: list[dict[str, Any]] = []
    while not os.path.exists(stop_file) and k < 100:
        t = time.perf_counter()
        day = k % DAYS
        lo = t0_us + day * 86_400_000_000
        table = generate_chunk(rng, pool, rows, lo, lo + 86_400_000_000, 1000 + k)
        called, at = marker(k)
        mark = pl.DataFrame({
            "leg_id": [f"marker-{time.time_ns()}-{k}"], "source": ["bench"],
            "source_file": ["ingest"], "source_record": [k], "start_utc": [at],
            "called_e164": [called], "called_raw": [called[1:]], "direction": ["inbound"],
            "ingress_trunk": ["IN-PEER-0001"], "disposition": ["answered"],
        }).with_columns(pl.col("start_utc").dt.cast_time_unit("us")).to_arrow()
        import pyarrow as pa

        legs = pa.concat_tables([table, mark], promote_options="default")
        rec = FileRecord(file_id=os.urandom(32).hex(), path=f"ingest-{k}.csv", size=0,
                         rows_read=legs.num_rows)
        res = store.commit(legs, empty_rejects(), [rec])
        commits.append({"k": k, "version": res.version, "stored": res.stored,
                        "seconds": time.perf_counter() - t})
        Path(out).write_text(json.dumps(commits))
        k += 1
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def sample_inquiries(store: Store, n: int, seed: int) -> list[dict[str, str]]:
    """Inquiries about stored inbound legs (time shifted by up to ±60 s), as JSON objects."""
    snap = store.snapshot()
    legs = (pl.scan_parquet(snap.all_files())
            .filter(pl.col("direction") == "inbound")
            .select("called_e164", "calling_e164", "start_utc")
            .gather_every(max(1, snap.rows // (n * 8)))
            .collect())
    legs = legs.filter(normalise(legs["called_e164"]).is_not_null()
                       & normalise(legs["calling_e164"]).is_not_null())
    pick = legs.sample(n, seed=seed, with_replacement=n > legs.height)
    rng = np.random.default_rng(seed)
    shift = rng.integers(-60, 61, n)
    return [{"called": c, "calling": k,
             "time": (t + timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for (c, k, t), s in zip(pick.iter_rows(), shift, strict=True)]


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, token: str, inquiries: list[dict[str, str]], clients: int,
               total: int, duration: float) -> dict[str, Any]:
    """``clients`` concurrent clients; each sends one inquiry per request, back to back."""
    lat: list[float] = []
    failures: list[str] = []
    sent = ok = 0
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=60) as client:
        async def worker() -> None:
            nonlocal sent, ok
            while sent < total and time.perf_counter() < deadline:
                q = inquiries[sent % len(inquiries)]
                sent += 1
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/inquiries", json=q)
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")
                    continue
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    continue
                a = r.json()
                if a["inquiry"]["called"] != q["called"] or a["status"] not in (
                        "upstream", "point_of_entry", "unmapped", "ambiguous", "not_found",
                        "originating"):
                    failures.append(f"wrong answer for {q}: {a['inquiry']}")
                    continue
                ok += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"sent": sent, "answered": ok, "failures": failures,
            "elapsed": elapsed, "lat": lat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=2_000_000)
    ap.add_argument("--store", type=Path, help="reuse this store (the ingest adds to it)")
    ap.add_argument("--keep", type=Path, help="build the store here and keep it")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--matchers", type=int, default=None, help="tracehop serve --matchers")
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--duration", type=float, default=60.0, help="at most 60 s")
    ap.add_argument("--baseline", type=int, default=500)
    ap.add_argument("--ingest-rows", type=int, default=100_000)
    ap.add_argument("--ingest-every", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--build-only", action="store_true", help="build --keep DIR and stop")
    ap.add_argument("--ingest-worker", nargs=4, metavar=("STORE", "EVERY", "STOP", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ingest_worker:
        store_dir, every, stop, out = args.ingest_worker
        ingest_worker(store_dir, args.ingest_rows, float(every), stop, out)
        return
    duration = min(args.duration, 60.0)

    work = Path(tempfile.mkdtemp(prefix="bench_service_"))
    try:
        if args.store:
            store_dir = args.store
            store, built = Store.open(store_dir), 0.0
        else:
            store_dir = args.keep or work / "store"
            t = time.perf_counter()
            store = build_store(store_dir, args.rows, args.chunk, DAYS, args.seed)
            built = time.perf_counter() - t
        rows = store.snapshot().rows
        if args.build_only:
            print(f"built {rows:,} legs in {built:.0f} s")
            return
        inquiries = sample_inquiries(store, 5_000, args.seed)
        peers = write_peers_toml(work / "peers.toml")
        tokens, audit = work / "tokens.json", work / "audit.jsonl"
        token = add_token(tokens, "bench")

        stop, commits_file = work / "stop", work / "commits.json"
        ingest = subprocess.Popen([sys.executable, __file__, "--ingest-rows",
                                   str(args.ingest_rows), "--ingest-worker", str(store_dir),
                                   str(args.ingest_every), str(stop), str(commits_file)])
        server: subprocess.Popen[bytes] | None = None
        try:
            # baseline: the matcher alone, in-process, one inquiry at a time (ingest running)
            matcher = Matcher(store, PeerDirectory.load(peers))
            base_lat = []
            base_cpu = time.process_time()
            for q in inquiries[: args.baseline]:
                inq = Inquiry.parse(q["called"], q["time"], q["calling"])
                t = time.perf_counter()
                matcher.lookup(inq)
                base_lat.append(time.perf_counter() - t)
            base_cpu = time.process_time() - base_cpu

            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "tracehop.cli", "serve", "--store", str(store_dir),
                 "--peers", str(peers), "--tokens", str(tokens), "--audit", str(audit),
                 "--host", HOST, "--port", str(port), "--rate-limit", "100000000",
                 *(["--matchers", str(args.matchers)] if args.matchers else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            url = f"http://{HOST}:{port}"
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            v_start = httpx.get(f"{url}/v1/health").json()["store"]["version"]
            # CPU per request, server process only: the service's own cost beside the
            # matcher's, and unlike latency not inflated by waiting for a share of the CPUs.
            cpu0 = process_cpu_s(server.pid)
            res = asyncio.run(load(url, token, inquiries, args.clients, args.requests,
                                   duration))
            server_cpu = process_cpu_s(server.pid) - cpu0
            v_end = httpx.get(f"{url}/v1/health").json()["store"]["version"]
            loadavg = os.getloadavg()[0]
        finally:
            stop.touch()
            ingest.wait(timeout=600)
        commits = json.loads(commits_file.read_text()) if commits_file.exists() else []
        # live data: every marker the ingest committed is answered through the service
        markers = [{"called": marker(c["k"])[0],
                    "time": marker(c["k"])[1].strftime("%Y-%m-%dT%H:%M:%SZ"), "window": 30}
                   for c in commits]
        found = 0
        if markers:
            r = httpx.post(f"{url}/v1/inquiries", json=markers,
                           headers={"Authorization": f"Bearer {token}"}, timeout=120)
            found = sum(a["status"] == "upstream" for a in r.json())
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        report = verify(audit)
        audited = report.entries
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the store is in it unless --keep/--store

    lat_ms = [x * 1000 for x in res["lat"]]
    base_ms = [x * 1000 for x in base_lat]
    base_p50, base_p99 = interpolated(base_ms, 0.50), interpolated(base_ms, 0.99)
    qps = res["answered"] / res["elapsed"]
    base_qps = len(base_lat) / sum(base_lat)
    expected_audit = res["sent"] + len(markers)
    ok = (not res["failures"] and res["answered"] == res["sent"] and report.ok
          and audited == expected_audit and found == len(markers))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python benchmarks/bench_service.py " + " ".join(sys.argv[1:])
    ingested = sum(c["stored"] for c in commits)
    lines = [
        f"### bench_service — {when}",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine()}; store {rows:,} legs"
        + (f" (built in {built:.0f} s)" if built else "")
        + f"; {args.clients} concurrent clients on 127.0.0.1, one inquiry per request, "
        f"server and ingest each in their own process",
        "",
        "| path | requests | inquiries/s | p50 | p99 | CPU per inquiry |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline: `Matcher.lookup` in-process, sequential | {len(base_lat):,} | "
        f"{base_qps:,.0f} | {base_p50:.1f} ms | {base_p99:.1f} ms | "
        f"{base_cpu / max(1, len(base_lat)) * 1000:.1f} ms |",
        f"| **`tracehop serve`, {args.clients} clients** (auth, audit fsync, rate limit) | "
        f"{res['sent']:,} | **{qps:,.0f}** | {interpolated(lat_ms, 0.50):.1f} ms | "
        f"{interpolated(lat_ms, 0.99):.1f} ms | {server_cpu / max(1, res['sent']) * 1000:.1f} ms |",
        "",
        f"Service vs baseline throughput: {qps / base_qps:.2f}×. During the load test the "
        f"ingest committed {len(commits)} times ({ingested:,} legs; store version "
        f"{v_start} → {v_end} as seen by /v1/health). Failed requests: "
        f"{len(res['failures'])}, lost: {res['sent'] - res['answered'] - len(res['failures'])}; "
        f"audit log: {audited:,} entries for {expected_audit:,} answers, chain "
        f"{'verified' if report.ok else 'BROKEN'}; marker calls from the running ingest "
        f"found through the service: {found}/{len(markers)}. "
        f"{'OK' if ok else 'FAILED'}.",
        "",
    ]
    if rows < 100_000_000:
        lines[-1:-1] = [
            "",
            f"Run at {rows:,} legs, not the issue's 100M, because the 2 vCPUs are shared with "
            f"other engineers' jobs (1-min load average {loadavg:.1f} at the end of the load "
            "test). Full size: `python benchmarks/bench_service.py --rows 100000000 "
            "--chunk 5000000 --keep /tmp/store100m` (then `--store /tmp/store100m`).",
        ]
    publish("\n".join(lines), record=not args.no_record)
    if res["failures"]:
        print("first failures:", *res["failures"][:5], sep="\n  ")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
