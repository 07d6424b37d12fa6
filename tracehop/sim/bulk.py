"""Large CDR sets for benchmarks: millions of rows in the same real formats, written vectorised.

The per-call simulation (:mod:`tracehop.sim.traffic`) builds every call as a Python object,
which is right for a demo and for ground truth but far too slow for 100M rows. This module writes
the same line layouts (Asterisk ``cdr_csv`` 18 columns, FreeSWITCH ``cdr_csv`` ``example``
template; see their writers for the vendor details) with Polars expressions, one chunk at a
time, so memory stays bounded by the chunk and the rate is set by string formatting in Rust.

Randomness comes from hashing the row number with a seed: the same seed and size give the same
file, and chunks are independent, so any size can be generated without holding it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

BULK_FORMATS = ("asterisk_cdr_csv", "freeswitch_cdr_csv")
_NPAS = ["312", "773", "872", "202", "212", "305", "415", "512", "617", "702", "713", "801"]
_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def _rand(i: pl.Expr, seed: int, k: int) -> pl.Expr:
    """A pseudo-random u64 per row, independent for each ``k``."""
    return (i * 7919 + k).hash(seed=seed + 1000003 * k)


def _number(i: pl.Expr, seed: int, k: int, style: str) -> pl.Expr:
    r = _rand(i, seed, k)
    npa = pl.lit(pl.Series(_NPAS)).gather((r % len(_NPAS)).cast(pl.Int64))
    nxx = ((r // 16) % 800 + 200).cast(pl.Utf8)
    line = ((r // 20000) % 10000).cast(pl.Utf8).str.zfill(4)
    prefix = {"national": "", "nanp11": "1", "e164": "+1"}[style]
    return pl.concat_str([pl.lit(prefix), npa, nxx, line])


def _stamp(epoch_s: pl.Expr, tz: str) -> pl.Expr:
    return (pl.from_epoch(epoch_s, time_unit="s").dt.replace_time_zone("UTC")
            .dt.convert_time_zone(tz).dt.strftime("%Y-%m-%d %H:%M:%S"))


def _base(n: int, offset: int, seed: int, days: int) -> pl.DataFrame:
    i = pl.int_range(offset, offset + n, dtype=pl.UInt64)
    span = days * 86400
    return pl.select(i.alias("i")).with_columns(
        start=(pl.lit(_START) + (_rand(pl.col("i"), seed, 1) % span).cast(pl.Int64)),
        ring=(_rand(pl.col("i"), seed, 2) % 25 + 2).cast(pl.Int64),
        talk=(_rand(pl.col("i"), seed, 3) % 300 + 5).cast(pl.Int64),
        answered=(_rand(pl.col("i"), seed, 4) % 10) < 7,
        inbound=(_rand(pl.col("i"), seed, 5) % 10) < 8,
        trunk=pl.concat_str([pl.lit("trunk_"),
                             (_rand(pl.col("i"), seed, 6) % 500).cast(pl.Utf8).str.zfill(3)]),
    ).sort("start")


def asterisk_chunk(n: int, offset: int, *, seed: int = 1, days: int = 30,
                   tz: str = "America/Chicago") -> pl.Series:
    """``n`` Master.csv lines (no newline), rows ``offset..offset+n`` of the set."""
    q = '"'
    df = _base(n, offset, seed, days).with_columns(
        end=pl.col("start") + pl.col("ring")
        + pl.when(pl.col("answered")).then(pl.col("talk")).otherwise(0),
        ext=((pl.col("i") * 31) % 9000 + 1000).cast(pl.Utf8),
        seq_hex=(pl.col("i") * 2).cast(pl.Utf8).str.zfill(8),  # Asterisk's hex; digits suffice
        calling=_number(pl.col("i"), seed, 7, "national"),
        called=_number(pl.col("i"), seed, 8, "national"),
    ).with_columns(
        s_start=_stamp(pl.col("start"), tz),
        s_answer=_stamp(pl.col("start") + pl.col("ring"), tz),
        s_end=_stamp(pl.col("end"), tz),
        trunk_chan=pl.concat_str([pl.lit("PJSIP/"), pl.col("trunk"), pl.lit("-"),
                                  pl.col("seq_hex")]),
        ext_chan=pl.concat_str([pl.lit("PJSIP/"), pl.col("ext"), pl.lit("-"), pl.col("seq_hex")]),
    )
    inbound, answered = pl.col("inbound"), pl.col("answered")
    line = pl.concat_str([
        pl.lit('"",'), pl.lit(q), pl.col("calling"), pl.lit('","'), pl.col("called"),
        pl.lit('","'),
        pl.when(inbound).then(pl.lit("from-trunk")).otherwise(pl.lit("from-internal")),
        pl.lit('","'), pl.col("calling"), pl.lit('","'),
        pl.when(inbound).then(pl.col("trunk_chan")).otherwise(pl.col("ext_chan")),
        pl.lit('","'),
        pl.when(inbound).then(pl.col("ext_chan")).otherwise(pl.col("trunk_chan")),
        pl.lit('","Dial","PJSIP/'), pl.col("called"), pl.lit(',30,tT","'), pl.col("s_start"),
        pl.lit('",'),
        # append_date(): an unanswered call's answer time is empty and unquoted
        pl.when(answered).then(pl.concat_str([pl.lit(q), pl.col("s_answer"), pl.lit(q)]))
        .otherwise(pl.lit("")),
        pl.lit(',"'), pl.col("s_end"), pl.lit('",'),
        (pl.col("end") - pl.col("start")).cast(pl.Utf8), pl.lit(","),
        pl.when(answered).then(pl.col("talk")).otherwise(0).cast(pl.Utf8),
        pl.lit(',"'),
        pl.when(answered).then(pl.lit("ANSWERED")).otherwise(pl.lit("NO ANSWER")),
        pl.lit('","DOCUMENTATION","'), pl.col("start").cast(pl.Utf8), pl.lit("."),
        pl.col("i").cast(pl.Utf8), pl.lit('",""'),
    ])
    return df.select(line.alias("line")).to_series()


def freeswitch_chunk(n: int, offset: int, *, seed: int = 1, days: int = 30,
                     tz: str = "America/New_York") -> pl.Series:
    """``n`` mod_cdr_csv ``example`` template lines."""
    df = _base(n, offset, seed, days).with_columns(
        end=pl.col("start") + pl.col("ring")
        + pl.when(pl.col("answered")).then(pl.col("talk")).otherwise(0),
        uuid=pl.concat_str([
            (_rand(pl.col("i"), seed, 9) % 100_000_000).cast(pl.Utf8).str.zfill(8),
            pl.lit("-4a5b-4c9d-8e0f-"), pl.col("i").cast(pl.Utf8).str.zfill(12)]),
        calling=_number(pl.col("i"), seed, 7, "nanp11"),
        called=_number(pl.col("i"), seed, 8, "nanp11"),
    ).with_columns(
        s_start=_stamp(pl.col("start"), tz),
        s_answer=_stamp(pl.col("start") + pl.col("ring"), tz),
        s_end=_stamp(pl.col("end"), tz),
    )
    answered = pl.col("answered")
    line = pl.concat_str([
        pl.lit('"'), pl.col("calling"), pl.lit('","'), pl.col("calling"), pl.lit('","'),
        pl.col("called"), pl.lit('","'),
        pl.when(pl.col("inbound")).then(pl.lit("public")).otherwise(pl.lit("default")),
        pl.lit('","'), pl.col("s_start"), pl.lit('","'),
        pl.when(answered).then(pl.col("s_answer")).otherwise(pl.lit("")),
        pl.lit('","'), pl.col("s_end"), pl.lit('","'),
        (pl.col("end") - pl.col("start")).cast(pl.Utf8),
        pl.lit('","'), pl.when(answered).then(pl.col("talk")).otherwise(0).cast(pl.Utf8),
        pl.lit('","'),
        pl.when(answered).then(pl.lit("NORMAL_CLEARING")).otherwise(pl.lit("NO_ANSWER")),
        pl.lit('","'), pl.col("uuid"), pl.lit('","'),
        pl.col("uuid").str.replace("-4a5b-", "-5b6c-", literal=True),
        pl.lit('","'), pl.col("trunk"), pl.lit('","PCMU","PCMU"'),
    ])
    return df.select(line.alias("line")).to_series()


CHUNKERS: dict[str, Callable[..., pl.Series]] = {
    "asterisk_cdr_csv": asterisk_chunk,
    "freeswitch_cdr_csv": freeswitch_chunk,
}


def write_bulk(path: Path, fmt: str, rows: int, *, seed: int = 1, days: int = 30,
               chunk: int = 1_000_000,
               progress: Callable[[int], None] | None = None) -> Path:
    """Write ``rows`` records of ``fmt`` to ``path`` (a Master.csv), ``chunk`` rows at a time."""
    try:
        make = CHUNKERS[fmt]
    except KeyError:
        raise ValueError(f"no bulk generator for {fmt!r}; have {', '.join(CHUNKERS)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            lines = make(n, done, seed=seed, days=days)
            # one text column, written verbatim: the quoting is already in the line
            lines.to_frame().write_csv(f, include_header=False, quote_style="never")
            done += n
            if progress:
                progress(done)
    return path
