"""What the dialed-number search costs (tracehop/match/dialed.py): not-found inquiries on a
store whose legs all carry a dialed number, with the search and without it, side by side.

The search runs only for inquiries that nothing matched by the called number in any step; a
store without dialed or Diversion numbers (most CDR formats, the other benchmarks' stores)
never runs it. Here every leg has one, as a SIP capture's To user gives: the worst case.

    python benchmarks/bench_dialed.py                      # 2M legs on one day, 1,000 inquiries
    python benchmarks/bench_dialed.py --rows 3300000 --inquiries 10000

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, publish

import tracehop.match.matcher as matcher_module
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.schema import LEG_SCHEMA, empty_rejects
from tracehop.store import FileRecord, Store

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def build(root: Path, rows: int, seed: int) -> Store:
    """``rows`` inbound legs on one UTC day, each with ``dialed_raw`` = its called number's
    ten digits (as a SIP capture's To user has it)."""
    rng = np.random.default_rng(seed)
    called = pc.binary_join_element_wise(
        "+1", pa.array(rng.integers(2_000_000_000, 9_999_999_999, rows)).cast(pa.string()), "")
    t0 = int(DAY.timestamp() * 1_000_000)
    start = pa.array(t0 + rng.integers(0, 86_400_000_000, rows)).cast(
        pa.timestamp("us", tz="UTC"))
    cols = {
        "leg_id": pa.array([f"bench:{i}" for i in range(rows)]),
        "source_record": pa.array(np.arange(1, rows + 1)),
        "start_utc": start,
        "called_e164": called,
        "called_raw": pc.utf8_slice_codeunits(called, 2),
        "dialed_raw": pc.utf8_slice_codeunits(called, 2),
        "direction": pa.array(["inbound"] * rows),
        "ingress_trunk": pa.array(["ACME_IN_1"] * rows),
    }
    table = pa.table([cols[f.name].cast(f.type) if f.name in cols else pa.nulls(rows, f.type)
                      for f in LEG_SCHEMA], schema=LEG_SCHEMA)
    store = Store.open(root, create=True)
    store.commit(table, empty_rejects(),
                 [FileRecord(file_id="b" * 64, path="/bench/capture.pcap", size=1,
                             rows_read=rows)])
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--inquiries", type=int, default=1000)
    ap.add_argument("--singles", type=int, default=30, help="single lookups timed each way")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_dialed_") as tmp:
        t = time.perf_counter()
        store = build(Path(tmp) / "store", args.rows, args.seed)
        built = time.perf_counter() - t
        rng = np.random.default_rng(args.seed + 1)
        # Numbers the store never saw (0xx exchanges are not assigned), at times of the day.
        inqs = [Inquiry(called_e164=f"+1312{int(x):07d}",
                        time_utc=datetime.fromtimestamp(DAY.timestamp() + int(s), UTC))
                for x, s in zip(rng.integers(0, 999_999, args.inquiries),
                                rng.integers(3600, 82_800, args.inquiries), strict=True)]
        m = Matcher(store, None)
        m.lookup(inqs[0])  # warm: imports, the engine's metadata cache
        holds = matcher_module._holds_dialed
        timings: dict[str, list[float]] = {}
        for label, patched in (("with the search", False), ("without it", True),
                               ("with the search", False), ("without it", True)):
            matcher_module._holds_dialed = (lambda f: False) if patched else holds
            try:
                t = time.perf_counter()
                answers = m.lookup_many(inqs, strategy="join")
                timings.setdefault(f"batch {label}", []).append(time.perf_counter() - t)
                assert all(a.status == "not_found" for a in answers)
                single = []
                for q in inqs[:args.singles]:
                    t = time.perf_counter()
                    m.lookup(q)
                    single.append(time.perf_counter() - t)
                timings.setdefault(f"single {label}", []).append(statistics.median(single))
            finally:
                matcher_module._holds_dialed = holds

    def best(key: str) -> float:
        return min(timings[key])

    lines = [
        f"### bench_dialed — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/bench_dialed.py --rows {args.rows} --inquiries "
        f"{args.inquiries}`  ",
        f"Machine: {machine()}; store {args.rows:,} legs on one day, every one with a dialed "
        f"number (built in {built:.1f} s); {args.inquiries:,} inquiries that match nothing",
        "",
        "| what | with the dialed-number search | without it (baseline) | added |",
        "|---|---:|---:|---:|",
        f"| batch of {args.inquiries:,} not-found inquiries | "
        f"{best('batch with the search'):.2f} s | {best('batch without it'):.2f} s | "
        f"{best('batch with the search') - best('batch without it'):+.2f} s |",
        f"| single not-found lookup, p50 of {args.singles} | "
        f"{best('single with the search') * 1e3:.1f} ms | "
        f"{best('single without it') * 1e3:.1f} ms | "
        f"{(best('single with the search') - best('single without it')) * 1e3:+.1f} ms |",
        "",
        "Each way run twice, alternately; the better run shown.",
        "",
    ]
    publish("\n".join(lines), record=not args.no_record)


if __name__ == "__main__":
    main()
