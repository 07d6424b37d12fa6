"""Ingest speed: a generated Asterisk Master.csv into a store, end to end (issue 2 "Speed").

Target: >= 500k rows/s for 10M rows on the 2-vCPU machine. Side by side, the baseline is a
plain ``pyarrow.csv.read_csv`` of the same file (all columns as strings, no normalisation,
nothing written): the ratio says what the whole pipeline costs compared with only parsing.

The file is written by a vectorised Polars generator: 18 columns as cdr_csv writes them
(loguniqueid + loguserfield; strings quoted with doubled quotes in clid, durations bare, an
empty unquoted answer for unanswered calls), America/New_York local times over three days,
10-digit called numbers, 11-digit calling numbers, carrier trunks in the channel, uniqueid =
UTC epoch (so the writer's offset is inferred, as on a real switch).

    python benchmarks/bench_ingest.py --rows 10000000          # full size (≈ 2.5 GB file)
    python benchmarks/bench_ingest.py --rows 1000000           # while others share the box
    python benchmarks/bench_ingest.py --rows 2000000 --stages  # + CPU of each stage, one by one
    python benchmarks/bench_ingest.py --rows 1000000 --stages --repeat 3  # best of 3 (CPU)

``--stages`` runs the pipeline's stages again one after the other (no overlap) and reports the
CPU seconds of each per 1M rows: where the time goes, and what bounds rows/s on 2 cores.

Each ingest runs in a process of its own, as ``tracehop ingest`` does: the memory allocators
keep what they freed (tracehop/allocators.py), so a second ingest in one process reuses pages
the first one paid for, and on this VM first-touch pages are ~30% of an ingest's CPU
(benchmarks/RESULTS.md, "Notes (ingest memory, 2026-12-07)"). ``--in-process`` runs them in
this process instead: with ``--repeat 2`` its second run is the warm figure of a long-lived
process (``tracehop serve``, or the later files of one ``tracehop ingest DIR``).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from harness import machine, publish

from tracehop.ingest.run import ingest_paths

TRUNKS = np.array(["carrierA", "carrierB", "peer_3", "telco-x", "1500"])
COLUMNS = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
           "lastdata", "start", "answer", "end", "duration", "billsec", "disposition",
           "amaflags", "uniqueid", "userfield"]


def generate(n: int, path: Path, seed: int = 1, block: int = 2_000_000) -> None:
    """Write ``n`` cdr_csv records to ``path`` in blocks (bounded memory)."""
    rng = np.random.default_rng(seed)
    t0 = 1_780_000_000  # 2026-05-28
    ny_offset = -4 * 3600  # EDT all through the generated days
    with path.open("wb") as fh:
        for first in range(0, n, block):
            m = min(block, n - first)
            epoch = np.sort(t0 + (first + np.arange(m)) * (3 * 86400) // n)
            answered = rng.random(m) < 0.6
            ring = rng.integers(0, 20, m)
            talk = np.where(answered, rng.integers(1, 600, m), 0)
            area = rng.integers(200, 999, (2, m))
            exch = rng.integers(200, 999, (2, m))
            line = rng.integers(0, 9999, (2, m))
            base = pl.DataFrame({
                "e": epoch + ny_offset, "seq": first + np.arange(m), "ring": ring, "talk": talk,
                "ans": answered, "tr": TRUNKS[rng.integers(0, len(TRUNKS), m)],
                "called": area[0] * 10_000_000 + exch[0] * 10_000 + line[0],
                "calling": 10_000_000_000 + area[1] * 10_000_000 + exch[1] * 10_000 + line[1],
                "uepoch": epoch,
            })

            def ts(e: pl.Expr) -> pl.Expr:
                return pl.from_epoch(e, time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")

            hexseq = pl.col("seq").map_batches(
                lambda s: pl.Series(np.char.zfill(np.char.mod("%x", s.to_numpy()), 8)),
                return_dtype=pl.String,
            )
            df = base.select(
                accountcode=pl.lit(""),
                src=pl.col("calling").cast(pl.String),
                dst=pl.col("called").cast(pl.String),
                dcontext=pl.when(pl.col("tr") == "1500").then(pl.lit("from-internal"))
                .otherwise(pl.lit("from-trunk")),
                clid=pl.concat_str([pl.lit('"Caller" <'), pl.col("calling").cast(pl.String),
                                    pl.lit(">")]),
                channel=pl.concat_str([pl.lit("SIP/"), pl.col("tr"), pl.lit("-"), hexseq]),
                dstchannel=pl.concat_str([pl.lit("SIP/200-"), hexseq]),
                lastapp=pl.lit("Dial"),
                lastdata=pl.lit("SIP/200,60,tT"),
                start=ts(pl.col("e")),
                answer=pl.when(pl.col("ans")).then(ts(pl.col("e") + pl.col("ring"))),
                end=ts(pl.col("e") + pl.col("ring") + pl.col("talk")),
                duration=pl.col("ring") + pl.col("talk"),
                billsec=pl.col("talk"),
                disposition=pl.when(pl.col("ans")).then(pl.lit("ANSWERED"))
                .otherwise(pl.lit("NO ANSWER")),
                amaflags=pl.lit("DOCUMENTATION"),
                uniqueid=pl.concat_str([pl.col("uepoch").cast(pl.String), pl.lit("."),
                                        pl.col("seq").cast(pl.String)]),
                userfield=pl.lit(""),
            )
            buf = io.BytesIO()
            df.write_csv(buf, include_header=False, quote_style="non_numeric", null_value="")
            fh.write(buf.getvalue())


def cpu_s() -> float:
    """CPU seconds of this process so far, all threads (user + system). The machine is shared:
    wall time depends on the load, CPU time much less."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def baseline_pyarrow(path: Path) -> tuple[float, float]:
    t, c = time.perf_counter(), cpu_s()
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=COLUMNS),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}),
    )
    elapsed, cpu = time.perf_counter() - t, cpu_s() - c
    del table
    return elapsed, cpu


def stage_cpu(path: Path) -> list[tuple[str, float, float]]:
    """(stage, CPU s, wall s) of each ingest stage run alone, in order, on ``path``."""
    from tracehop.ingest import run
    from tracehop.ingest.apply import FileContext, apply_profile
    from tracehop.ingest.profile import resolve_profile
    from tracehop.ingest.readers import iter_batches, read_layout
    from tracehop.schema import REJECT_SCHEMA
    from tracehop.store import Store

    out: list[tuple[str, float, float]] = []

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t, c = time.perf_counter(), cpu_s()
        r = fn()
        out.append((name, cpu_s() - c, time.perf_counter() - t))
        return r

    prof = resolve_profile("asterisk_cdr_csv")
    layout = read_layout(path, prof.dialect)
    used = frozenset(prof.columns_used())
    batches = timed("read: chunks, pyarrow field split, line views (readers.py)",
                    lambda: list(iter_batches(path, prof.dialect, layout, used=used)))
    ctx = FileContext(str(path), prof.name, None, None, True)
    def apply_all() -> list[Any]:
        out = []
        while batches:  # each batch's raw columns are freed once applied, as in the pipeline
            out.append(apply_profile(batches.pop(0).rows, prof, ctx)[0])
        return out

    parts = timed("apply the profile: times, zone, numbers, trunks, rules (apply.py)", apply_all)
    digest = timed("sha256 of the file (a thread beside the parse)",
                   lambda: run.file_sha256(path)[0])
    legs = [timed("leg_id and hand-over to Arrow (run._finish_legs)",
                  lambda: run._finish_legs(parts, digest, False))]
    parts.clear()
    with tempfile.TemporaryDirectory(prefix="bench_stages_") as d:
        st = Store.open(Path(d) / "store", create=True)
        timed("commit: sort, gather, Parquet write of the day files (store/writer.py)",
              lambda: st.commit(legs.pop(), REJECT_SCHEMA.empty_table(), [],
                                unique_leg_ids=True))
    return out


def ingest_once(csv_path: Path, store: Path, keep_raw: bool, overlap: bool) -> dict[str, Any]:
    """One ingest in this process: its summary, the CPU it took and the page faults."""
    shutil.rmtree(store, ignore_errors=True)
    c = cpu_s()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    s = ingest_paths([csv_path], store, format="asterisk_cdr_csv", keep_raw=keep_raw,
                     overlap=overlap)
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"summary": s.to_dict(), "elapsed_s": s.elapsed_s, "commit_s": s.commit_s,
            "cpu_s": cpu_s() - c, "minflt": r.ru_minflt - faults,
            "peak_gb": r.ru_maxrss / 1e6}


def ingest_in_child(csv_path: Path, store: Path, keep_raw: bool,
                    overlap: bool) -> dict[str, Any]:
    """:func:`ingest_once` in a new Python process (cold allocators, like `tracehop ingest`)."""
    args = json.dumps([str(csv_path), str(store), keep_raw, overlap])
    # Only stdout is taken (the result); the child's errors reach the terminal as they are.
    done = subprocess.run([sys.executable, __file__, "--child", args], check=True,
                          stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        path, store, keep_raw, overlap = json.loads(sys.argv[2])
        print(json.dumps(ingest_once(Path(path), Path(store), keep_raw, overlap), default=str))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a tmp dir)")
    ap.add_argument("--raw", choices=["keep", "drop", "both"], default="keep",
                    help="time with raw_record kept (default), dropped (--no-keep-raw), or both")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse DIR/Master.csv if it exists (same --rows)")
    ap.add_argument("--overlap", choices=["on", "off", "both"], default="on",
                    help="write days while parsing (default), or parse then commit (off, the "
                    "way before), or both side by side")
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--stages", action="store_true",
                    help="also run each stage alone and report its CPU per 1M rows")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each ingest (and the stages) N times and report the run with the "
                    "least CPU: the machine is shared, and CPU time varies with its load")
    ap.add_argument("--in-process", action="store_true",
                    help="run the ingests in this process, not each in a new one (a repeat then "
                    "reuses the memory the allocators kept: the warm figure)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / "Master.csv"
    load = os.getloadavg()[0]

    t = time.perf_counter()
    if not (args.reuse and csv_path.exists()):
        generate(args.rows, csv_path)
    gen_s = time.perf_counter() - t
    size_mb = csv_path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows, {size_mb:,.0f} MB in {gen_s:.1f} s", file=sys.stderr)

    runs: list[tuple[str, float, float, float]] = []
    faults: list[int] = []  # minor page faults of each reported ingest run
    every: list[str] = []  # each run of each configuration, for the record
    peak_gb = 0.0
    overlaps = {"on": [True], "off": [False], "both": [False, True]}[args.overlap]
    for keep_raw in {"keep": [True], "drop": [False], "both": [True, False]}[args.raw]:
        for overlap in overlaps:
            store = work / f"store_{'raw' if keep_raw else 'noraw'}"
            best: dict[str, Any] | None = None
            for _ in range(max(1, args.repeat)):
                run = (ingest_once if args.in_process else ingest_in_child)(
                    csv_path, store, keep_raw, overlap)
                s = run["summary"]
                assert s["read"] == s["stored"] + s["rejected"] + s["duplicates"] == args.rows, s
                peak_gb = max(peak_gb, run["peak_gb"])
                every.append(f"{args.rows / run['elapsed_s'] / 1e3:,.0f}k rows/s "
                             f"({run['cpu_s']:.1f} CPU-s)")
                if best is None or run["cpu_s"] < best["cpu_s"]:
                    best = run
            assert best is not None
            cpu = best["cpu_s"]
            faults.append(best["minflt"])
            label = "tracehop ingest_paths, end to end into the store" + (
                " (default: raw_record kept)" if keep_raw else " (--no-keep-raw)") + (
                "" if overlap else ", overlap off (parse, then commit)")
            runs.append((label, best["elapsed_s"], best["commit_s"], cpu))
            shutil.rmtree(store, ignore_errors=True)
    # The baseline after the ingests: with --in-process the first ingest then starts, like a
    # `tracehop ingest` process, with no memory its allocators kept from earlier work
    # (tracehop/allocators.py: freed memory is kept for reuse, which would flatter whichever
    # run comes second).
    base_s, base_cpu = baseline_pyarrow(csv_path)
    load_end = os.getloadavg()[0]
    peak_gb = max(peak_gb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)  # kB

    rows: list[tuple[str, float, float | None, float]] = [
        ("pyarrow.csv.read_csv, strings only (baseline)", base_s, None, base_cpu), *runs]
    table = ["| run | seconds | of which store commit | rows/s | MB/s | × baseline time "
             "| CPU s | rows per CPU-s | × baseline CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, secs, commit, cpu in rows:
        table.append(
            f"| {label} | {secs:.2f} | {'-' if commit is None else f'{commit:.2f}'} | "
            f"{args.rows / secs:,.0f} | {size_mb / secs:,.0f} | {secs / base_s:.2f} | "
            f"{cpu:.1f} | {args.rows / cpu:,.0f} | {cpu / base_cpu:.2f} |"
        )
    where = "this process" if args.in_process else "a process of its own each"
    table += ["", f"Ingests run in {where}; minor page faults of the runs above (4 KiB "
              f"first-touch pages): {', '.join(f'{f / 1e6:.2f}M' for f in faults)}."]
    if len(every) > len(runs):
        table += ["", f"Every run, in order (the table shows the least CPU of each): "
                  f"{'; '.join(every)}."]
    if args.stages:
        tries = [stage_cpu(csv_path) for _ in range(max(1, args.repeat))]
        stages = [min((t[i] for t in tries), key=lambda st: st[1]) for i in range(len(tries[0]))]
        per = 1e6 / args.rows
        table += ["", "| stage, run alone (no overlap) | CPU s per 1M rows | wall s per 1M rows |",
                  "|---|---:|---:|"]
        table += [f"| {name} | {cpu * per:.2f} | {wall * per:.2f} |" for name, cpu, wall in stages]
        total = sum(c for _, c, _ in stages) * per
        table.append(f"| **sum** (2 idle cores at best: {2e6 / total / 1e3:,.0f}k rows/s) "
                     f"| **{total:.2f}** | {sum(w for *_, w in stages) * per:.2f} |")
    text = "\n".join(table)
    reduced = "" if args.rows >= 10_000_000 else (
        " (reduced size; full size: `python benchmarks/bench_ingest.py --rows 10000000`)")
    cmd = "python benchmarks/bench_ingest.py " + " ".join(sys.argv[1:])
    block = (
        f"### bench_ingest — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"- command: `{cmd.strip()}`{reduced}\n"
        f"- machine: {machine(load, '24 GB')}, polars {pl.__version__}, pyarrow "
        f"{pa.__version__}; load average {load_end:.1f} at the end; peak RSS {peak_gb:.1f} GB\n"
        f"- data: {args.rows:,} Asterisk cdr_csv records (18 columns), {size_mb:,.0f} MB; "
        f"target ≥ 500,000 rows/s end to end\n\n{text}\n"
    )
    publish(block, record=not args.no_append)
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
