"""Benchmark E.164 normalisation: tracehop.numbers.normalise against phonenumbers per row.

Generates N raw numbers in the mix a US provider's CDRs carry (bare 10/11 digits, +1 E.164,
punctuated national forms, sip:/tel: URIs, name-addrs, extensions and ``anonymous``) plus a
share of "odd" values only phonenumbers can settle (``+44 (0)20 ...`` with a trunk zero,
vanity letters, ``ext`` suffixes), every odd value distinct: the worst case for the cache.

Timed, each on the same column:

1. ``normalise`` cold: the phonenumbers cache is empty (the first file of an ingest);
2. ``normalise`` warm: the same values again (the next file, with numbers seen before);
3. ``normalise`` on the common forms only (no odd values);
4. baseline: ``phonenumbers.parse`` + ``is_possible_number`` + ``format_number`` per row on a
   ``--sample`` of the column, scaled to N.

It also checks on the sample that ``normalise`` equals ``normalise_one`` row by row.

    python benchmarks/bench_numbers.py --rows 5000000          # the full size
    python benchmarks/bench_numbers.py --rows 1000000          # a busy shared machine

Prints a table and appends it to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import tracehop  # noqa: F401  # isort: skip  (first of all: tracehop/allocators.py)

import argparse
import os
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import phonenumbers
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import publish

from tracehop import numbers
from tracehop.numbers import normalise, normalise_one


def _digits(rng: np.random.Generator, n: int, lo: int, hi: int, width: int) -> pl.Series:
    return pl.Series(rng.integers(lo, hi, n)).cast(pl.String).str.zfill(width)


def generate(rows: int, odd_share: float, seed: int) -> pl.Series:
    """``rows`` raw numbers; ``odd_share`` of them need phonenumbers, each one distinct."""
    rng = np.random.default_rng(seed)
    npa = _digits(rng, rows, 200, 1000, 3)
    nxx = _digits(rng, rows, 200, 1000, 3)
    line = _digits(rng, rows, 0, 10000, 4)
    ten = npa + nxx + line
    kind = pl.Series(rng.random(rows))
    odd_cut = odd_share
    frame = pl.DataFrame({"k": kind, "ten": ten, "npa": npa, "nxx": nxx, "line": line})
    k, t = pl.col("k"), pl.col("ten")
    not_numbers = pl.Series(["s", "101", "anonymous", "*72", "Restricted", "2001"])
    pick = pl.Series(rng.integers(0, len(not_numbers), rows))
    frame = frame.with_columns(other=not_numbers.gather(pick))
    seq = pl.int_range(pl.len()).cast(pl.String).str.zfill(8)  # makes odd values distinct
    raw = (
        pl.when(k < odd_cut / 3)
        .then(pl.concat_str(pl.lit("+44 (0)20 "), seq.str.slice(0, 4), pl.lit(" "),
                            seq.str.slice(4, 4)))
        .when(k < 2 * odd_cut / 3)
        .then(pl.concat_str(pl.lit("+1 "), pl.col("npa"), pl.lit(" "), pl.col("nxx"),
                            pl.lit(" "), pl.col("line"), pl.lit(" ext "), seq.str.slice(5, 3)))
        .when(k < odd_cut)
        .then(pl.concat_str(pl.lit("1-"), pl.col("npa"), pl.lit("-"), seq.str.slice(2, 3),
                            pl.lit("-CALL")))
        .when(k < odd_cut + 0.33)
        .then(t)
        .when(k < odd_cut + 0.53)
        .then(pl.lit("1") + t)
        .when(k < odd_cut + 0.73)
        .then(pl.lit("+1") + t)
        .when(k < odd_cut + 0.78)
        .then(pl.concat_str(pl.lit("("), pl.col("npa"), pl.lit(") "), pl.col("nxx"),
                            pl.lit("-"), pl.col("line")))
        .when(k < odd_cut + 0.83)
        .then(pl.concat_str(pl.lit("sip:+1"), t, pl.lit("@198.51.100.7;user=phone")))
        .when(k < odd_cut + 0.86)
        .then(pl.concat_str(pl.lit("tel:+1"), t, pl.lit(";phone-context=example.com")))
        .when(k < odd_cut + 0.89)
        .then(pl.concat_str(pl.lit('"Caller" <sip:1'), t, pl.lit("@10.0.0.1>")))
        .when(k < odd_cut + 0.92)
        .then(pl.lit("011 44 20 7946 ") + pl.col("line"))
        .otherwise(pl.col("other"))
    )
    return frame.select(raw=raw).get_column("raw")


def per_row_baseline(values: list[str], region: str = "US") -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        try:
            n = phonenumbers.parse(v, region)
        except phonenumbers.NumberParseException:
            out.append(None)
            continue
        out.append(
            phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_possible_number(n)
            else None
        )
    return out


def timed(fn: object) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--odd", type=float, default=0.05, help="share needing phonenumbers")
    ap.add_argument("--sample", type=int, default=50_000, help="rows for the per-row baseline")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    col = generate(args.rows, args.odd, args.seed)
    common = generate(args.rows, 0.0, args.seed + 1)
    numbers._slow.cache_clear()
    t_cold, out = timed(lambda: normalise(col))
    assert isinstance(out, pl.Series)
    slow_calls = numbers._slow.cache_info().misses
    t_warm, _ = timed(lambda: normalise(col))
    t_common, _ = timed(lambda: normalise(common))

    sample = col.sample(min(args.sample, args.rows), seed=args.seed).to_list()
    t_base, base = timed(lambda: per_row_baseline(sample))
    assert isinstance(base, list)
    ours = normalise(pl.Series(sample)).to_list()
    assert ours == [normalise_one(v) for v in sample], "normalise != normalise_one"
    agree = sum(a == b for a, b in zip(ours, base, strict=True)) / len(sample)
    # Where they differ, by shape (digits -> 9): URIs the per-row parse cannot read, vanity
    # national forms that are possible but not valid, ...
    shapes = Counter(
        re.sub("[0-9]", "9", v)[:24]
        for v, a, b in zip(sample, ours, base, strict=True)
        if a != b
    )
    differ = "; ".join(f"`{k}` ×{n}" for k, n in shapes.most_common(4)) or "none"
    base_rate = len(sample) / t_base

    rows = args.rows
    table = [
        ("normalise, cold cache", t_cold, rows / t_cold),
        ("normalise, warm cache", t_warm, rows / t_warm),
        ("normalise, common forms only", t_common, rows / t_common),
        (f"phonenumbers per row ({len(sample):,} sample, scaled)", rows / base_rate, base_rate),
    ]
    cmd = "python benchmarks/bench_numbers.py " + " ".join(sys.argv[1:])
    lines = [
        f"### bench_numbers — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
        "",
        f"- command: `{cmd.strip()}`"
        + ("" if args.rows >= 5_000_000 else
           " (reduced size; full size: `python benchmarks/bench_numbers.py --rows 5000000`)"),
        f"- machine: {os.cpu_count()} vCPU, {platform.machine()}, Python "
        f"{platform.python_version()}, polars {pl.__version__}, phonenumbers "
        f"{phonenumbers.__version__}; load average {os.getloadavg()[0]:.1f} at start",
        f"- data: {rows:,} raw numbers, {args.odd:.0%} odd values (all distinct) for "
        f"phonenumbers; {slow_calls:,} phonenumbers calls on the cold run; "
        f"{out.null_count():,} nulls (extensions, anonymous, feature codes)",
        f"- same result as the per-row baseline on {agree:.1%} of the sample; differing "
        f"shapes: {differ} (sip:/name-addr forms are not read by a bare phonenumbers.parse; "
        "national vanity forms must be valid, not just possible)",
        "",
        "| run | seconds | numbers/s | × baseline |",
        "|---|---:|---:|---:|",
    ]
    for name, secs, rate in table:
        lines.append(f"| {name} | {secs:.2f} | {rate:,.0f} | {rate / base_rate:.1f} |")
    publish("\n".join(lines) + "\n", record=not args.no_record)


if __name__ == "__main__":
    main()
