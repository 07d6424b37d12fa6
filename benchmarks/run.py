"""The whole benchmark suite in one command: generate a CDR set, then ingest, lookup, batch,
store, SIP, service and chain benchmarks; one table; RESULTS.md updated.

Steps (``--only`` picks some):

- **generate**: ``--rows`` records per format (Asterisk ``cdr_csv`` Master.csv, FreeSWITCH
  ``cdr_csv`` example template, Cisco CUCM CDR, Ribbon ``.ACT``; ``--formats`` picks), written
  vectorised by :mod:`tracehop.sim.bulk` in the exact layouts the switches write; any size,
  100M+ included, in bounded memory;
- **ingest**: ``tracehop.ingest.ingest_paths`` on each generated file into a fresh store, side by
  side with a plain ``pyarrow.csv.read_csv`` of the same file (the baseline ratio);
- **lookup / batch / store / service / sip / ingest-10m**: the individual benchmarks the other
  parts of tracehop keep (``benchmarks/bench_*.py``), run as subprocesses with the sizes given
  here (``--store-rows``, ``--sip-messages``); each appends its own detailed table to RESULTS.md
  and this table shows its wall time and exit status;
- **chain**: the simulated provider network of ``tracehop demo`` with ``--chain-calls``
  campaign calls in ``--chain-ordinary`` ordinary calls: write, ingest every provider, trace
  every campaign call in process and then over HTTP (one ``tracehop serve`` per provider), check
  every chain against ground truth; per-hop latency percentiles, HTTP vs in-process ratio.

    python benchmarks/run.py                                  # development size (minutes)
    python benchmarks/run.py --rows 100000000 --store-rows 100000000 --chunk 5000000
    python benchmarks/run.py --only generate,ingest --rows 10000000
    python benchmarks/run.py --only chain --chain-calls 200

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
STEPS = ("generate", "ingest", "ingest-10m", "lookup", "batch", "store", "sip", "service",
         "chain")
TZ = {"asterisk_cdr_csv": "America/Chicago", "freeswitch_cdr_csv": "America/New_York",
      # CUCM times are epoch UTC; a Ribbon record names its Node Time Zone (New York here)
      "cisco_cucm_cdr": "UTC", "ribbon_sbc_act": "America/New_York"}
#: header lines the pyarrow baseline must skip (CUCM: column names, then SQL types)
BASELINE_SKIP = {"cisco_cucm_cdr": 2}


@dataclass
class Row:
    step: str
    size: str
    seconds: float
    rate: str = ""
    baseline: str = ""
    note: str = ""


def fmt_n(n: float) -> str:
    return f"{n:,.0f}"


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def generate(args: argparse.Namespace, work: Path) -> tuple[list[Row], dict[str, Path]]:
    from tracehop.sim.bulk import FILE_NAMES, write_bulk

    rows, files = [], {}
    for fmt in args.formats:
        path = work / fmt / FILE_NAMES[fmt]
        t = time.perf_counter()
        write_bulk(path, fmt, args.rows, seed=args.seed, chunk=args.chunk)
        dt = time.perf_counter() - t
        mb = path.stat().st_size / 1e6
        files[fmt] = path
        rows.append(Row(f"generate {fmt}", f"{fmt_n(args.rows)} rows, {mb:,.0f} MB", dt,
                        f"{fmt_n(args.rows / dt)} rows/s"))
    return rows, files


def ingest(args: argparse.Namespace, work: Path, files: dict[str, Path]) -> list[Row]:
    import pyarrow.csv as pacsv

    from tracehop.ingest import ingest_paths
    from tracehop.store import Store

    out = []
    for fmt, path in files.items():
        t = time.perf_counter()
        if fmt == "ribbon_sbc_act":
            # START/STOP/ATTEMPT records have different widths: no single CSV read takes them,
            # so the baseline is reading the bytes and counting the call records
            n_base, tail = 0, b""
            with path.open("rb") as fh:
                while block := fh.read(1 << 24):
                    # carry the last bytes over so a record start split by a block is counted
                    text = tail[-8:] + block
                    n_base += text.count(b"\nSTOP,") + text.count(b"\nATTEMPT,")
                    tail = block if len(block) >= 8 else tail + block
        else:
            table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, block_size=1 << 24,
                skip_rows=BASELINE_SKIP.get(fmt, 0)))
            n_base = table.num_rows
            del table
        base = time.perf_counter() - t
        store_dir = work / f"store-{fmt}"
        shutil.rmtree(store_dir, ignore_errors=True)
        t = time.perf_counter()
        summary = ingest_paths([path], Store.open(store_dir, create=True), format=fmt,
                               tz=TZ[fmt], source="bench")
        dt = time.perf_counter() - t
        assert n_base == summary.read, (n_base, summary.read)
        out.append(Row(f"ingest {fmt}", f"{fmt_n(summary.read)} rows", dt,
                       f"{fmt_n(summary.read / dt)} rows/s",
                       f"{'byte scan' if fmt == 'ribbon_sbc_act' else 'pyarrow.csv'} "
                       f"{base:.1f} s ({dt / base:.1f}× its time)",
                       f"stored {fmt_n(summary.stored)}, rejected {fmt_n(summary.rejected)}"))
        if not args.keep:
            shutil.rmtree(store_dir, ignore_errors=True)
    return out


def sub_bench(name: str, script: str, flags: dict[str, object], args: argparse.Namespace) -> Row:
    """Run another part's benchmark as a subprocess, passing only the flags it knows."""
    path = HERE / script
    if not path.exists():
        return Row(name, "", 0.0, note=f"{script} not written yet")
    helptext = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                              text=True, timeout=120).stdout
    cmd = [sys.executable, str(path)]
    for flag, value in flags.items():
        if flag in helptext:
            cmd += [flag] if value is True else [flag, str(value)]
    if args.no_record:
        for nr in ("--no-record", "--no-append"):
            if nr in helptext:
                cmd.append(nr)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    dt = time.perf_counter() - t
    log = Path(args.work) / f"{script}.log"
    log.write_text(r.stdout + "\n--- stderr ---\n" + r.stderr, encoding="utf-8")
    shown = " ".join(c if " " not in c else repr(c) for c in cmd[1:]).replace(str(HERE.parent)
                                                                              + "/", "")
    status = "ok" if r.returncode == 0 else f"exit {r.returncode} (see {log})"
    size = ", ".join(f"{k.lstrip('-')} {fmt_n(v) if isinstance(v, int) else v}"
                     for k, v in flags.items() if k in helptext and v is not True)
    return Row(name, size, dt, note=f"{status}: `python {shown}`")


def chain(args: argparse.Namespace, work: Path) -> list[Row]:
    from tracehop.demo.run import build, ingest_all, trace_campaign
    from tracehop.sim.network import demo_network
    from tracehop.sim.traffic import generate as gen_traffic

    out_dir = work / "chain"
    shutil.rmtree(out_dir, ignore_errors=True)
    net = demo_network()
    t = time.perf_counter()
    traffic = gen_traffic(net, campaign_calls=args.chain_calls,
                          ordinary_calls=args.chain_ordinary, seed=args.seed)
    builds = build(out_dir, net, traffic)
    t_write = time.perf_counter() - t
    t = time.perf_counter()
    ingest_all(builds)
    t_ingest = time.perf_counter() - t
    legs = sum(b.legs for b in builds.values())
    rows = [Row("chain: simulate + write", f"{len(traffic.calls):,} calls, {legs:,} legs, "
                                           f"{len(builds)} providers", t_write),
            Row("chain: ingest all providers", f"{legs:,} legs", t_ingest,
                f"{fmt_n(legs / t_ingest)} legs/s",
                note="; ".join(f"{b.name} {b.ingest_s:.1f} s" for b in builds.values()))]
    results = {}
    for mode in ("in process", "HTTP"):
        stages: dict[str, float] = {}
        verdicts = trace_campaign(net, traffic, builds, http=mode == "HTTP", seed=args.seed,
                                  stages=stages)
        hops = [h.elapsed_s * 1000 for v in verdicts for h in v.chain.hops]
        ok = sum(v.correct for v in verdicts)
        results[mode] = stages["trace"]
        rows.append(Row(
            f"chain: trace ({mode})", f"{len(verdicts)} chains, {len(hops)} hops",
            stages["trace"], f"{len(verdicts) / stages['trace']:.1f} chains/s",
            "" if mode == "in process" else
            f"{stages['trace'] / results['in process']:.2f}× in-process time",
            f"{ok}/{len(verdicts)} correct; hop p50 {statistics.median(hops):.1f} ms, "
            f"p95 {pct(hops, 0.95):.1f} ms"
            + (f"; {len(builds)} servers started in {stages['start responders']:.1f} s"
               if mode == "HTTP" else "")))
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return rows


def table(rows: list[Row]) -> str:
    head = "| step | size | time | rate | vs baseline | note |\n|---|---|---:|---:|---|---|\n"
    return head + "\n".join(
        f"| {r.step} | {r.size} | {r.seconds:,.1f} s | {r.rate} | {r.baseline} | {r.note} |"
        for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="generated CDR rows per format")
    ap.add_argument("--formats", default=",".join(TZ), help="comma-separated bulk formats")
    ap.add_argument("--chunk", type=int, default=1_000_000, help="rows per generated chunk")
    ap.add_argument("--store-rows", type=int, default=1_000_000,
                    help="legs in the stores of bench_lookup / bench_batch / bench_store / "
                         "bench_service")
    ap.add_argument("--ingest-rows", type=int, default=10_000_000,
                    help="rows for bench_ingest.py (its 10M-row Asterisk target)")
    ap.add_argument("--sip-messages", type=int, default=200_000)
    ap.add_argument("--chain-calls", type=int, default=100)
    ap.add_argument("--chain-ordinary", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=",".join(STEPS), help=f"steps: {', '.join(STEPS)}")
    ap.add_argument("--work", default=None, help="working directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep generated files and stores")
    ap.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()
    args.formats = [f for f in args.formats.split(",") if f]
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(STEPS)
    if unknown:
        ap.error(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(STEPS)}")
    work = Path(args.work or tempfile.mkdtemp(prefix="tracehop-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    args.work = str(work)
    started = datetime.now(UTC)
    rows: list[Row] = []
    files: dict[str, Path] = {}
    try:
        if "generate" in only or "ingest" in only:
            r, files = generate(args, work)
            rows += r
        if "ingest" in only:
            rows += ingest(args, work, files)
        store = {"--rows": args.store_rows, "--chunk": min(args.chunk, 5_000_000)}
        subs = {
            "ingest-10m": ("bench_ingest.py", {"--rows": args.ingest_rows}),
            "lookup": ("bench_lookup.py", store),
            "batch": ("bench_batch.py", store),
            "store": ("bench_store.py", store),
            "sip": ("bench_sip.py", {"--messages": args.sip_messages}),
            "service": ("bench_service.py", store),
        }
        for step, (script, flags) in subs.items():
            if step in only:
                print(f"running {script} ...", file=sys.stderr, flush=True)
                rows.append(sub_bench(step, script, flags, args))
        if "chain" in only:
            rows += chain(args, work)
    finally:
        if not args.keep:
            for f in files.values():
                f.unlink(missing_ok=True)
    text = table(rows)
    print(text)
    if not args.no_record:
        cmd = "python benchmarks/run.py " + " ".join(sys.argv[1:])
        machine = (f"{platform.machine()}, {os.cpu_count()} vCPU (shared with other work), "
                   f"Python {platform.python_version()}")
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write(f"\n### run.py suite — {started:%Y-%m-%d %H:%M} UTC\n\n"
                    f"Command: `{cmd.strip()}`  \nMachine: {machine}  \n"
                    f"Sizes: generated {fmt_n(args.rows)} rows per format "
                    f"({', '.join(args.formats)}); stores of {fmt_n(args.store_rows)} legs for "
                    f"the lookup/batch/store/service benchmarks; chain: "
                    f"{args.chain_calls} campaign calls in {args.chain_ordinary} ordinary calls. "
                    f"Full size: `python benchmarks/run.py --rows 100000000 --store-rows "
                    f"100000000 --chunk 5000000`.\n\n{text}\n")
        print(f"appended to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
