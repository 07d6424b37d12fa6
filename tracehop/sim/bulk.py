"""Large CDR sets for benchmarks: millions of rows in the same real formats, written vectorised.

The per-call simulation (:mod:`tracehop.sim.traffic`) builds every call as a Python object,
which is right for a demo and for ground truth but far too slow for 100M rows. This module writes
the same line layouts (Asterisk ``cdr_csv`` 18 columns, FreeSWITCH ``cdr_csv`` ``example``
template, Cisco CUCM 133-column CDRs with their two header lines, Ribbon ``.ACT`` START/STOP/
ATTEMPT records; see their writers in :mod:`tracehop.sim.writers` for the vendor details) with
Polars expressions, one chunk at a time, so memory stays bounded by the chunk and the rate is
set by string formatting in Rust.

Randomness comes from hashing the row number with a seed: the same seed and size give the same
file, and chunks are independent, so any size can be generated without holding it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

BULK_FORMATS = ("asterisk_cdr_csv", "freeswitch_cdr_csv", "cisco_cucm_cdr", "ribbon_sbc_act")
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


def _line(parts: list[str | pl.Expr]) -> pl.Expr:
    """One record from column values: literal text merged into as few literals as possible
    (a 133-column CUCM row is mostly constants), joined with commas."""
    merged: list[str | pl.Expr] = []
    for i, part in enumerate(parts):
        piece: str | pl.Expr = part if i == 0 else (("," + part) if isinstance(part, str)
                                                   else part)
        if i > 0 and not isinstance(part, str):
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + ","
            else:
                merged.append(",")
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return pl.concat_str([pl.lit(m) if isinstance(m, str) else m for m in merged])


def _q(e: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit('"'), e, pl.lit('"')])


def _peer_ip(r: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A peer address 10.1.x.y per trunk number: dotted text, and CUCM's signed little-endian
    int32 of it (octet 1 + octet 2·2⁸ + octet 3·2¹⁶ + octet 4·2²⁴, wrapped to int32)."""
    x, y = (r // 250).cast(pl.Int64), (r % 250 + 1).cast(pl.Int64)
    text = pl.concat_str([pl.lit("10.1."), x.cast(pl.Utf8), pl.lit("."), y.cast(pl.Utf8)])
    u = pl.lit(10) + pl.lit(1 << 8) + x * (1 << 16) + y * (1 << 24)
    signed = pl.when(u >= 1 << 31).then(u - (1 << 32)).otherwise(u)
    return text, signed.cast(pl.Utf8)


def cucm_chunk(n: int, offset: int, *, seed: int = 1, days: int = 30,
               tz: str = "UTC") -> pl.Series:
    """``n`` CUCM CDR records (133 columns, release 12.5/14; the two header lines are
    :data:`HEADERS`): epoch-UTC times, signed little-endian int and text IPs, one per call."""
    from tracehop.sim.writers.cisco_cucm_cdr import COLUMNS, TYPES

    df = _base(n, offset, seed, days).with_columns(
        tnum=(_rand(pl.col("i"), seed, 6) % 500).cast(pl.Int64),
        calling=_number(pl.col("i"), seed, 7, "national"),
        called=_number(pl.col("i"), seed, 8, "national"),
    )
    ip_text, ip_int = _peer_ip(pl.col("tnum"))
    i, inbound, answered = pl.col("i"), pl.col("inbound"), pl.col("answered")
    start, ring, talk = pl.col("start"), pl.col("ring"), pl.col("talk")
    call_id = pl.concat_str([(i % 1_000_000_000).cast(pl.Utf8), pl.lit("@10.1.0.1")])
    phone = pl.concat_str([pl.lit("SEP00AABBCC"), ((i * 31) % 9000 + 1000).cast(pl.Utf8)])
    leg = (i * 2 + 31_000_000).cast(pl.Utf8)
    variable: dict[int, pl.Expr] = {
        2: (i % 2_000_000_000).cast(pl.Utf8),
        3: leg,
        4: start.cast(pl.Utf8),
        6: pl.when(inbound).then(leg).otherwise(pl.lit("0")),
        7: pl.when(inbound).then(ip_int).otherwise(pl.lit("352321546")),  # 10.0.0.21
        8: _q(pl.col("calling")),
        11: pl.when(answered).then(pl.lit("16")).otherwise(pl.lit("0")),
        25: (i * 2 + 31_000_001).cast(pl.Utf8),
        27: pl.when(inbound).then(pl.lit("0")).otherwise((i * 2 + 31_000_001).cast(pl.Utf8)),
        28: pl.when(inbound).then(pl.lit("-939524086")).otherwise(ip_int),  # 10.0.0.200
        29: _q(pl.col("called")),
        30: _q(pl.col("called")),
        33: pl.when(answered).then(pl.lit("0")).otherwise(pl.lit("19")),
        47: pl.when(answered).then((start + ring).cast(pl.Utf8)).otherwise(pl.lit("0")),
        48: (start + ring + pl.when(answered).then(talk).otherwise(0)).cast(pl.Utf8),
        50: _q(pl.concat_str([pl.lit("6f1c2a9e-0d2b-4c55-9a51-"),
                              i.cast(pl.Utf8).str.zfill(12)])),
        55: pl.when(answered).then(talk).otherwise(0).cast(pl.Utf8),
        56: _q(pl.when(inbound).then(pl.col("trunk")).otherwise(phone)),
        57: _q(pl.when(inbound).then(phone).otherwise(pl.col("trunk"))),
        80: _q(pl.when(inbound).then(ip_text).otherwise(pl.lit("10.0.0.21"))),
        81: _q(pl.when(inbound).then(pl.lit("10.0.0.200")).otherwise(ip_text)),
        94: pl.when(inbound).then(pl.lit("1")).otherwise(pl.lit("0")),
        95: _q(pl.when(inbound).then(call_id).otherwise(pl.lit(""))),
        96: pl.when(inbound).then(pl.lit("0")).otherwise(pl.lit("1")),
        97: _q(pl.when(inbound).then(pl.lit("")).otherwise(call_id)),
    }
    constant = {0: "1", 1: "1", 5: "1", 26: "1", 65: '"StandAloneCluster"'}
    parts: list[str | pl.Expr] = []
    for k, typ in enumerate(TYPES):
        if k in variable:
            parts.append(variable[k])
        elif k in constant:
            parts.append(constant[k])
        else:
            parts.append("0" if typ == "INTEGER" else '""')
    assert len(parts) == len(COLUMNS)
    # records are written at disconnect
    end = start + ring + pl.when(answered).then(talk).otherwise(0)
    return (df.with_columns(end.alias("end")).sort("end")
            .select(_line(parts).alias("line")).to_series())


#: Ribbon record widths (release 9.2) and the Node Time Zone name of the bulk SBC.
_RIBBON_WIDTH = {"START": 178, "STOP": 235, "ATTEMPT": 167}
_RIBBON_TZ = ("America/New_York", "GMT-05:00-Eastern")


def ribbon_chunk(n: int, offset: int, *, seed: int = 1, days: int = 30,
                 tz: str = _RIBBON_TZ[0]) -> pl.Series:
    """Ribbon SBC Core ``.ACT`` records for ``n`` calls: START (at answer) and STOP (at release)
    for an answered call, ATTEMPT for one that never was; local Node Time Zone times with
    tenths, 10 ms ticks. Lines come in event order within the chunk."""
    from tracehop.sim.writers.ribbon_sbc_act import NODE_ZONES

    zone = NODE_ZONES[tz]
    df = _base(n, offset, seed, days).with_columns(
        tenth=(_rand(pl.col("i"), seed, 10) % 10).cast(pl.Int64),
        tnum=(_rand(pl.col("i"), seed, 6) % 500).cast(pl.Int64),
        calling=_number(pl.col("i"), seed, 7, "e164"),
        called=_number(pl.col("i"), seed, 8, "national"),
    )
    ip_text, _ = _peer_ip(pl.col("tnum"))
    start, ring, talk = pl.col("start"), pl.col("ring"), pl.col("talk")
    end = start + ring + pl.when(pl.col("answered")).then(talk).otherwise(0)

    def local(epoch: pl.Expr, fmt: str) -> pl.Expr:
        return (pl.from_epoch(epoch, time_unit="s").dt.replace_time_zone("UTC")
                .dt.convert_time_zone(tz).dt.strftime(fmt))

    tenth = pl.concat_str([pl.lit("."), pl.col("tenth").cast(pl.Utf8)])
    acct = pl.concat_str([pl.lit("0x"), (pl.col("i") + (1 << 32)).cast(pl.Utf8).str.zfill(16)])
    pvsd = pl.concat_str([pl.lit('"SIP,'), (pl.col("i") % 1_000_000_000).cast(pl.Utf8),
                          pl.lit("@"), ip_text, pl.lit(",sip:"), pl.col("called"),
                          pl.lit('@10.0.0.1,,,,,0,,,"')])
    common: dict[int, str | pl.Expr] = {
        2: "SBC1", 3: acct, 5: zone, 6: local(start, "%m/%d/%Y"),
        7: pl.concat_str([local(start, "%H:%M:%S"), tenth]),
    }
    # a call from our own core leaves through a carrier trunk group (the profile's outbound
    # rule: ingress trunk groups named CORE*); a carrier's call enters on its trunk group
    inbound = pl.col("inbound")
    itg = pl.when(inbound).then(pl.col("trunk").str.to_uppercase()).otherwise(pl.lit("CORE_PBX"))
    etg = pl.when(inbound).then(pl.lit("CORE_OUT")).otherwise(pl.col("trunk").str.to_uppercase())
    remote = pl.when(inbound).then(ip_text).otherwise(pl.lit("10.0.0.21"))
    egress_ip = pl.when(inbound).then(pl.lit("10.0.0.40")).otherwise(ip_text)
    fields: dict[str, dict[int, str | pl.Expr]] = {
        "START": {10: (ring * 100).cast(pl.Utf8), 15: pl.col("calling"), 16: pl.col("called"),
                  29: itg, 42: pvsd, 50: pl.col("called"), 56: pl.col("calling"),
                  102: "10.0.0.1", 103: remote},
        "STOP": {10: (ring * 100).cast(pl.Utf8), 11: local(end, "%m/%d/%Y"),
                 12: pl.concat_str([local(end, "%H:%M:%S"), tenth]),
                 14: (talk * 100).cast(pl.Utf8), 15: "16", 20: pl.col("calling"),
                 21: pl.col("called"), 24: pl.col("called"),
                 31: pl.concat_str([pl.lit("SBC1:"), etg]), 33: egress_ip, 34: itg, 52: pvsd,
                 60: pl.col("called"), 68: etg, 70: pl.col("calling"), 125: "10.0.0.1",
                 126: remote},
        "ATTEMPT": {10: pl.concat_str([local(end, "%H:%M:%S"), tenth]), 12: "19",
                    17: pl.col("calling"), 18: pl.col("called"), 31: itg, 45: pvsd,
                    53: pl.col("called"), 57: "2", 60: pl.col("calling"),
                    105: local(end, "%m/%d/%Y"), 115: "10.0.0.1", 116: remote, 146: "1"},
    }

    def record(rtype: str) -> pl.Expr:
        values = {1: rtype, **common, **fields[rtype]}
        return _line([values.get(k, "") for k in range(1, _RIBBON_WIDTH[rtype] + 1)])

    answered = df.filter(pl.col("answered"))
    frames = [
        answered.select(((start + ring) * 10 + pl.col("tenth")).alias("at"),
                        record("START").alias("line")),
        answered.select((end * 10 + pl.col("tenth") + 1).alias("at"),
                        record("STOP").alias("line")),
        df.filter(~pl.col("answered")).select((end * 10 + pl.col("tenth")).alias("at"),
                                              record("ATTEMPT").alias("line")),
    ]
    return pl.concat(frames).sort("at", maintain_order=True).get_column("line")


CHUNKERS: dict[str, Callable[..., pl.Series]] = {
    "asterisk_cdr_csv": asterisk_chunk,
    "freeswitch_cdr_csv": freeswitch_chunk,
    "cisco_cucm_cdr": cucm_chunk,
    "ribbon_sbc_act": ribbon_chunk,
}


def _cucm_headers() -> list[str]:
    from tracehop.sim.writers.cisco_cucm_cdr import header_lines

    return header_lines()


#: lines a file of the format starts and ends with, and its usual file name
HEADERS: dict[str, Callable[[], list[str]]] = {
    "cisco_cucm_cdr": _cucm_headers,
    "ribbon_sbc_act": lambda: ["SBC5K,V09.02.00R000,11/01/2026,00:00:00.0,1000001.ACT"],
}
FOOTERS: dict[str, list[str]] = {"ribbon_sbc_act": ["File administratively closed."]}
FILE_NAMES: dict[str, str] = {
    "asterisk_cdr_csv": "Master.csv",
    "freeswitch_cdr_csv": "Master.csv",
    "cisco_cucm_cdr": "cdr_StandAloneCluster_01_202611010000_000001",
    "ribbon_sbc_act": "1000001.ACT",
}


def write_bulk(path: Path, fmt: str, rows: int, *, seed: int = 1, days: int = 30,
               chunk: int = 1_000_000,
               progress: Callable[[int], None] | None = None) -> Path:
    """Write ``rows`` records of ``fmt`` to ``path`` (its :data:`FILE_NAMES` name is the usual
    one), ``chunk`` rows at a time, between the format's header and trailer lines. For Ribbon a
    row is a call (a START and a STOP line when answered, one ATTEMPT line when not)."""
    try:
        make = CHUNKERS[fmt]
    except KeyError:
        raise ValueError(f"no bulk generator for {fmt!r}; have {', '.join(CHUNKERS)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for line in HEADERS.get(fmt, list)():
            f.write(line.encode() + b"\n")
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            lines = make(n, done, seed=seed, days=days)
            # one text column, written verbatim: the quoting is already in the line
            lines.to_frame().write_csv(f, include_header=False, quote_style="never")
            done += n
            if progress:
                progress(done)
        for line in FOOTERS.get(fmt, []):
            f.write(line.encode() + b"\n")
    return path
