"""Ribbon (Sonus) SBC Core accounting files (``*.ACT``): START, STOP and ATTEMPT records.

Layout: Ribbon "SBC Core CDR Field Descriptions" (Accounting Records Summary: each field's
position per record type) and research/cdr_formats.md §9; the positions are the ones
:mod:`tracehop.ingest.ribbon` reads. What the SBC writes to ``/var/log/sonus/sbx/evlog/``:

* a file header line (node, release, open date and time, file name) and, when the file is
  rotated, the ``File administratively closed.`` trailer;
* one record per line, comma-separated, appended when the event happens: ``START`` when a call
  is established (answered), ``STOP`` when an established call is released, ``ATTEMPT`` when a
  call is released before it was established; START, STOP and ATTEMPT of one call share the
  64-bit hex Accounting ID (field 3);
* times are ``MM/DD/YYYY`` and ``HH:MM:SS.s`` (tenths) in the *Node Time Zone*, which each record
  names in field 5 (``GMT-05:00-Eastern``); durations are counts of 10 ms ticks;
* the Ingress Protocol Variant Specific Data is a quoted sub-record,
  ``"SIP,<Call-ID>,<R-URI>,..."``.

Every field tracehop does not read is left empty; record widths are those of release 9.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from tracehop.sim.network import Provider
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import register, styled, switch_clock

#: record width (fields) per type, release 9.2
WIDTH: Final = {"START": 178, "STOP": 235, "ATTEMPT": 167}

#: IANA zone -> Ribbon Node Time Zone name (offset of standard time, then the region)
NODE_ZONES: Final = {
    "America/New_York": "GMT-05:00-Eastern",
    "America/Chicago": "GMT-06:00-Central",
    "America/Denver": "GMT-07:00-Mountain",
    "America/Phoenix": "GMT-07:00-Arizona",
    "America/Los_Angeles": "GMT-08:00-Pacific",
    "America/Anchorage": "GMT-09:00-Alaska",
    "Pacific/Honolulu": "GMT-10:00-Hawaii",
    "UTC": "GMT",
}


def node_zone_name(tz: str, at: datetime) -> str:
    """The Node Time Zone name the SBC writes for IANA zone ``tz``: the US regions by name,
    any other zone as its standard-time offset and city (``GMT+05:30-Kolkata``)."""
    if tz in NODE_ZONES:
        return NODE_ZONES[tz]
    local = at.astimezone(ZoneInfo(tz))
    std = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
    minutes = int(std.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"GMT{sign}{hh:02d}:{mm:02d}-{tz.rsplit('/', 1)[-1].replace('_', ' ')}"


def _local(provider: Provider, t: datetime) -> datetime:
    return switch_clock(provider, t).astimezone(ZoneInfo(provider.tz))


def _date(provider: Provider, t: datetime) -> str:
    return _local(provider, t).strftime("%m/%d/%Y")


def _clock(provider: Provider, t: datetime) -> str:
    # tenths of a second, truncated as the SBC does
    lt = _local(provider, t)
    return lt.strftime("%H:%M:%S") + f".{lt.microsecond // 100_000}"


def ticks(a: datetime, b: datetime) -> int:
    """10 ms ticks from ``a`` to ``b``."""
    return max(0, int((b - a) / timedelta(milliseconds=10)))


def _pvsd(provider: Provider, leg: Leg, called: str) -> str:
    # SIP Protocol Variant Specific Data: protocol, Call-ID, request URI, then fields we leave
    # empty; it is one quoted field of the record
    return f'"SIP,{leg.call_id},sip:{called}@{provider.ip},,,,,0,,,"'


def records(provider: Provider, leg: Leg, acct: int) -> list[tuple[datetime, str]]:
    """(event time, line) of each record the SBC writes for ``leg``."""
    style = provider.number_style
    called, calling = styled(leg.called, style), styled(leg.calling, style)
    ingress = leg.ingress
    itg = ingress.trunk if ingress is not None else "CORE_PBX"
    remote = ingress.ip if ingress is not None and ingress.ip else "10.0.0.21"
    common = {2: f"{provider.key.upper()}-SBC1", 3: f"0x{acct:016X}",
              5: node_zone_name(provider.tz, leg.setup_utc), 6: _date(provider, leg.setup_utc),
              7: _clock(provider, leg.setup_utc)}
    out: list[tuple[datetime, str]] = []

    def line(rtype: str, fields: dict[int, str]) -> str:
        row = [""] * WIDTH[rtype]
        row[0] = rtype
        for pos, val in {**common, **fields}.items():
            row[pos - 1] = val
        return ",".join(row)

    pvsd = _pvsd(provider, leg, called)
    if leg.answer_utc is None:
        out.append((leg.end_utc, line("ATTEMPT", {
            10: _clock(provider, leg.end_utc), 12: "16", 17: calling, 18: called, 31: itg,
            45: pvsd, 53: called, 57: "1", 60: calling, 105: _date(provider, leg.end_utc),
            115: provider.ip, 116: remote, 146: "1"})))
        return out
    setup_ticks = str(ticks(leg.setup_utc, leg.answer_utc))
    out.append((leg.answer_utc, line("START", {
        10: setup_ticks, 15: calling, 16: called, 29: itg, 42: pvsd, 50: called, 56: calling,
        102: provider.ip, 103: remote})))
    out.append((leg.end_utc, line("STOP", {
        10: setup_ticks, 11: _date(provider, leg.end_utc), 12: _clock(provider, leg.end_utc),
        14: str(ticks(leg.answer_utc, leg.end_utc)), 15: "16", 20: calling, 21: called,
        24: called, 31: f"{provider.key.upper()}-SBC1:{leg.egress_trunk}",
        33: leg.egress_ip, 34: itg, 52: pvsd, 60: called, 68: leg.egress_trunk, 70: calling,
        82: f"0x{acct:08X}", 125: provider.ip, 126: remote})))
    return out


@register("ribbon_sbc_act")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    by_setup = sorted(legs, key=lambda lg: (lg.setup_utc, lg.call))
    events: list[tuple[datetime, str]] = []
    for i, lg in enumerate(by_setup):
        events.extend(records(provider, lg, 0x1_0000_0000 + i))
    events.sort(key=lambda e: e[0])
    name = "1000001.ACT"
    opened = by_setup[0].setup_utc if by_setup else datetime.now().astimezone()
    head = (f"SBC5K,V09.02.00R000,{_date(provider, opened)},{_clock(provider, opened)},"
            f"{name}")
    path = out_dir / name
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(head + "\n")
        for _, text in events:
            f.write(text + "\n")
        f.write("File administratively closed.\n")
    return [path]
