"""Benchmark `tracehop respond`: a batch of inquiries as one join vs a loop of single lookups.

Builds (or reuses, ``--store``) a store of N synthetic legs with the generator of
bench_store.py (30 UTC days, Zipf-ish called numbers, half inbound), then:

1. writes ``--inquiries`` inquiries to a CSV file: 90% call examples taken from stored legs
   (called number, start time shifted by up to ±60 s, calling number given), 10% numbers the
   store never saw (they go through the widening pass, as real not-found inquiries do);
2. **batch**: ``respond()`` end to end (read the file, ``Matcher.lookup_many``: one read of
   the store for the whole batch, answers, summary) -- the path ``tracehop respond`` runs;
3. **baseline**: ``Matcher.lookup`` in a loop over a ``--sample`` of the same inquiries (500
   by default), scaled to the whole batch;
4. checks that the batch answered the sampled inquiries exactly as the single lookups did.

Both sides run warm: the store's files are read once before the rounds (``--cold`` skips
that), the loop's matcher is warmed by one lookup and the batch path by one untimed batch of
200 inquiries.

``--rounds N`` runs the batch and the loop N times each, alternately, and reports the median
of each and the ratio of the medians, with every round's figures: on a shared 2-core machine a
single 500-lookup loop varied by ±10% from one run to the next.

    python benchmarks/bench_batch.py --rows 2000000             # development size
    python benchmarks/bench_batch.py --rows 100000000 --chunk 5000000 --keep /tmp/store100m
    python benchmarks/bench_batch.py --store /tmp/store100m    # reuse a kept store
    python benchmarks/bench_batch.py --store /tmp/store100m --rounds 3

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import T0
from harness import PEERS, add_store_options, machine, open_store, publish

from tracehop.answer import TracebackAnswer
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.numbers import normalise
from tracehop.respond.batch import RespondOptions, respond
from tracehop.respond.inquiries import read_inquiries
from tracehop.store import Store


class _Timed:
    """Wraps the matcher to time ``lookup_many`` apart from respond's own work."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.seconds = 0.0
        self.cpu = 0.0

    def lookup_many(self, inquiries: list[Inquiry]) -> list[TracebackAnswer]:
        t, c = time.perf_counter(), time.process_time()
        out = self.matcher.lookup_many(inquiries)
        self.seconds += time.perf_counter() - t
        self.cpu += time.process_time() - c
        return out


def write_inquiries(store: Store, path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    files = store.snapshot().all_files()
    # Inquiries are about calls we received: sample inbound legs (the generator's outbound
    # legs have no inbound sibling and would all be not_found).
    legs = (pl.scan_parquet(files).filter(pl.col("direction") == "inbound")
            .select("called_e164", "calling_e164", "start_utc")
            .gather_every(max(1, store.snapshot().rows // (n * 4)))
            .collect())
    # The generator draws numbers uniformly, so ~20% are not valid NANP numbers; an inquiry
    # names a real number, so sample only legs whose called number normalises.
    legs = legs.filter(normalise(legs["called_e164"]).is_not_null())
    n_found = n * 9 // 10
    pick = legs.sample(n_found, seed=seed, with_replacement=n_found > legs.height)
    shift = pl.Series(rng.integers(-60, 61, n_found) * 1_000_000).cast(pl.Duration("us"))
    calling_ok = normalise(pick["calling_e164"]).is_not_null()
    found = pick.with_columns(calling_ok.alias("calling_ok")).select(
        pl.col("called_e164").alias("called"),
        # an invalid calling number would be rejected: leave it out, as an asker would
        pl.when(pl.col("calling_ok")).then(pl.col("calling_e164")).otherwise(pl.lit(""))
        .alias("calling"),
        (pl.col("start_utc") + shift).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
    )
    span = 30 * 86400
    unseen = pl.Series(["+1" + str(x) for x in rng.integers(2_012_000_000, 9_899_999_999,
                                                             (n - n_found) * 2)])
    unseen = unseen.filter(normalise(unseen).is_not_null())[: n - n_found]
    missing = pl.DataFrame({
        "called": unseen,
        "calling": [""] * (n - n_found),
        "time": [(T0 + timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ")
                 for s in rng.integers(0, span, n - n_found)],
    })
    out = pl.concat([found, missing]).sample(fraction=1.0, shuffle=True, seed=seed)
    out.with_row_index("id").with_columns(pl.format("Q{}", "id").alias("id")).write_csv(path)


def warm_page_cache(store: Store) -> str:
    """Read every file of the store once, so that both the batch and the loop of single
    lookups run warm: on a VM that reclaims page cache in the background (DAMON), the first
    round otherwise read the store from disk (2026-12-07: 19.8 s against 5.6-6.1 s warm)."""
    t = time.perf_counter()
    size = 0
    for f in store.snapshot().all_files():
        with open(f, "rb", buffering=0) as fh:
            while chunk := fh.read(8 << 20):
                size += len(chunk)
    return (f"Page cache warmed before the rounds: {size / 1e9:.1f} GB of store files read in "
            f"{time.perf_counter() - t:.1f} s (`--cold` to skip).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_store_options(ap, rows=2_000_000, seed=11)
    ap.add_argument("--inquiries", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=500, help="single lookups in the baseline")
    ap.add_argument("--rounds", type=int, default=1,
                    help="batch and loop runs, alternated; medians are reported")
    ap.add_argument("--cold", action="store_true",
                    help="do not read the store's files once before the rounds")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    store, _, built = open_store(args, tmp)
    rows = store.snapshot().rows
    inq_path = tmp / "inquiries.csv"
    write_inquiries(store, inq_path, args.inquiries, args.seed)

    rng = np.random.default_rng(args.seed)
    parsed = read_inquiries(inq_path)
    ok = [i for i, r in enumerate(parsed.rows) if r.inquiry is not None]
    idx = sorted(rng.choice(ok, min(args.sample, len(ok)), replace=False).tolist())
    rounds: list[dict[str, float]] = []
    same = 0
    warmed = "" if args.cold else warm_page_cache(store)
    # The loop's matcher is warmed by one lookup before it is timed; the batch path by one
    # small batch here (untimed): engine setup, footers read once per file.
    Matcher(store, PEERS).lookup_many([r.inquiry for r in parsed.rows[:200]
                                       if r.inquiry is not None], strategy="join")
    for _ in range(max(1, args.rounds)):
        # -- batch: respond end to end (one join per pass) -----------------------------------
        t = time.perf_counter()
        parsed = read_inquiries(inq_path)
        parse_s = time.perf_counter() - t
        matcher = _Timed(Matcher(store, PEERS))
        t, c = time.perf_counter(), time.process_time()
        res = respond(parsed, matcher, RespondOptions(requester="bench"))
        respond_s = time.perf_counter() - t
        # CPU seconds of this process, all threads: the machine is shared, so wall time alone
        # says as much about the neighbours as about the batch.
        respond_cpu = time.process_time() - c

        # -- baseline: a loop of single lookups on a sample, scaled --------------------------
        single = Matcher(store, PEERS)
        single.lookup(parsed.rows[idx[0]].inquiry)  # type: ignore[arg-type]  # warm it
        same = 0
        t, c = time.perf_counter(), time.process_time()
        for i in idx:
            q = parsed.rows[i].inquiry
            assert q is not None
            a = single.lookup(q).to_dict()
            b = {k: v for k, v in res.answers[i].items() if k != "deadline"}
            same += a == b
        loop_s = time.perf_counter() - t
        loop_cpu = time.process_time() - c
        rounds.append({"respond_s": respond_s, "respond_cpu": respond_cpu, "parse_s": parse_s,
                       "loop_s": loop_s, "loop_cpu": loop_cpu, "join_s": matcher.seconds,
                       "join_cpu": matcher.cpu})
    # Each figure is the median over the rounds (of an odd number: one of the rounds' own).
    respond_s, respond_cpu, parse_s, loop_s, loop_cpu, join_s, join_cpu = (
        statistics.median(r[k] for r in rounds)
        for k in ("respond_s", "respond_cpu", "parse_s", "loop_s", "loop_cpu", "join_s",
                  "join_cpu"))
    batch_total = parse_s + respond_s
    per_lookup_ms = loop_s / len(idx) * 1000
    loop_scaled = loop_s * len(parsed.rows) / len(idx)
    speedup = loop_scaled / respond_s

    s = res.summary
    lines = [
        f"### bench_batch — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/bench_batch.py {' '.join(sys.argv[1:])}`".rstrip() + "  ",
        f"Machine: {machine()}; store {rows:,} legs ({built}), "
        f"{args.inquiries:,} inquiries (by status: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(s.by_status.items())) + ")",
        "",
        "| path | inquiries | time | CPU | per inquiry |",
        "|---|---:|---:|---:|---:|",
        f"| respond: read file | {len(parsed.rows):,} | {parse_s:.2f} s | | "
        f"{parse_s / len(parsed.rows) * 1e3:.3f} ms |",
        f"| respond: match (one read of the store) + answers + summary | "
        f"{len(parsed.rows):,} | {respond_s:.2f} s | {respond_cpu:.2f} s | "
        f"{respond_s / len(parsed.rows) * 1e3:.3f} ms |",
        f"| of which `Matcher.lookup_many` (the join) | {len(parsed.rows) - s.rejected:,} | "
        f"{join_s:.2f} s | {join_cpu:.2f} s | |",
        f"| **respond total** | {len(parsed.rows):,} | **{batch_total:.2f} s** | | |",
        f"| baseline: loop of `Matcher.lookup` (measured) | {len(idx):,} | {loop_s:.2f} s | "
        f"{loop_cpu:.2f} s | {per_lookup_ms:.2f} ms |",
        f"| baseline scaled to the batch | {len(parsed.rows):,} | {loop_scaled:.1f} s | | |",
        "",
        f"Batch vs loop (match step): **{speedup:.1f}×** faster (target ≥ 20×); "
        f"batch answers identical to single lookups on {same}/{len(idx)} sampled inquiries.",
        "",
    ]
    if warmed:
        lines += [warmed, ""]
    if len(rounds) > 1:
        lines[-2 if not warmed else -4] = lines[-2 if not warmed else -4].replace(
            "faster", f"faster (medians of {len(rounds)} rounds)")
        lines += ["Rounds (batch match step / loop per lookup / ratio): " + "; ".join(
            f"{r['respond_s']:.2f} s / {r['loop_s'] / len(idx) * 1000:.2f} ms / "
            f"{r['loop_s'] * len(parsed.rows) / len(idx) / r['respond_s']:.1f}×"
            for r in rounds), ""]
    publish("\n".join(lines), record=not args.no_record)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
