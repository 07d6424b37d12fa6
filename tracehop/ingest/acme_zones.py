"""Which zone an Acme Packet (Oracle SBC) local CDR's times are in.

The h323-setup/-connect/-disconnect-time attributes are Cisco-VSA style,
``HH:MM:SS.mmm TZ MON DD YYYY`` (Oracle SBC Accounting Guide, "Cisco Systems RADIUS
Decodes"; research/cdr_formats.md §10): ``TZ`` is the abbreviation of the zone set on the SBC
(``timezone-set``, ACLI Reference), and an abbreviation names different zones in different
places: ``CST`` is US Central (UTC-6), China (UTC+8) and Cuba (UTC-5); ``IST`` is India
(UTC+5:30), Ireland's summer time and Israel. The record also carries Acme-Local-Time-Zone
(Acme VSA 57, "the local time zone of the SBC"; position per release in acme.LAYOUTS), which
decides when it names a zone.

The reading of one record (:func:`read_zone`), first that applies:

1. Acme-Local-Time-Zone names an IANA zone whose abbreviation at the record's wall time is
   the record's: that zone (with its DST rules).
2. Acme-Local-Time-Zone is a UTC offset (``GMT+08:00``, ``UTC-5``, ``+05:30``): the zone
   that writes the abbreviation at that instant on that offset (its standard or its summer
   offset).
3. ``--tz`` names a zone whose abbreviation at that time is the record's: that zone.
   An abbreviation the tz database does not use at all (the zone name on the SBC is typed by
   its admin: ``SGT`` where tzdata writes ``+08``) cannot be checked: the IANA
   Acme-Local-Time-Zone decides, else ``--tz``.
4. The abbreviation is a US one (:data:`ZONE_ABBREVIATIONS`): its fixed offset, as before;
   when the tz database also uses it elsewhere on another offset at that time (``CST``,
   ``PST`` is also the Philippines'), the reading is kept but said in a warning.
5. Otherwise the record is rejected with the value and the fix: nothing says which zone the
   abbreviation is, and a guess could shift the call by hours.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final

from tracehop.errors import ZoneError
from tracehop.timezones import resolve_zone, zones_at

#: Zone abbreviations read without any other help -> a fixed-offset IANA zone (Etc/GMT+N is
#: UTC-N). The abbreviation names standard or daylight time, so the offset is exact for the
#: US zones it names.
ZONE_ABBREVIATIONS: Final = {
    "UTC": "UTC", "GMT": "UTC", "Z": "UTC",
    "EST": "Etc/GMT+5", "EDT": "Etc/GMT+4", "CST": "Etc/GMT+6", "CDT": "Etc/GMT+5",
    "MST": "Etc/GMT+7", "MDT": "Etc/GMT+6", "PST": "Etc/GMT+8", "PDT": "Etc/GMT+7",
    "AKST": "Etc/GMT+9", "AKDT": "Etc/GMT+8", "HST": "Etc/GMT+10", "AST": "Etc/GMT+4",
}
_UTC_NAMES: Final = frozenset({"UTC", "GMT", "Z"})
#: A UTC offset as the SBC may write its local zone: GMT+08:00, UTC-5, +0530.
_OFFSET: Final = re.compile(
    r"^\s*(?:GMT|UTC)?\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?\s*$", re.I)


@dataclass(frozen=True)
class ZoneReading:
    """The zone to read a record's times in, or why it cannot be read; ``doubt`` is a note
    for a reading kept although the abbreviation has other meanings."""

    zone: str | None = None
    reason: str | None = None
    doubt: str | None = None


def _fmt(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=1)
def _named_zones() -> tuple[str, ...]:
    """Location zones, the names in zone.tab (canonical: Asia/Kolkata, not Asia/Calcutta)
    first, so that the zone chosen and the examples named are the current names."""
    names = sorted(n for n in zoneinfo.available_timezones()
                   if "/" in n and not n.startswith(("Etc/", "SystemV/", "posix/", "right/")))
    tab: set[str] = set()
    for base in zoneinfo.TZPATH:
        try:
            text = (Path(base) / "zone.tab").read_text()
        except OSError:
            continue
        tab = {f.split("\t")[2] for f in text.splitlines()
               if f and not f.startswith("#") and f.count("\t") >= 2}
        break
    return tuple(sorted(names, key=lambda n: (n not in tab, n)))


def _abbr_at(zone: zoneinfo.ZoneInfo, wall: datetime) -> set[str]:
    """The abbreviations ``zone`` writes at the wall time (both, in a repeated hour)."""
    return {(wall.replace(tzinfo=zone, fold=f).tzname() or "").upper() for f in (0, 1)}


@lru_cache(maxsize=4096)
def meanings(abbr: str, day: date) -> dict[timedelta, tuple[str, ...]]:
    """UTC offset -> the zones that write ``abbr`` at noon of ``day`` (tz database). Cached
    by day: a file's records fall on a few days."""
    out: dict[timedelta, list[str]] = {}
    noon = datetime(day.year, day.month, day.day, 12)
    for name in _named_zones():
        z = zoneinfo.ZoneInfo(name)
        t = noon.replace(tzinfo=z)
        if (t.tzname() or "").upper() == abbr:
            out.setdefault(t.utcoffset() or timedelta(0), []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def _example(offset: timedelta, zones: tuple[str, ...]) -> str:
    """The best-known of ``zones`` (all at ``offset``): Asia/Shanghai rather than Asia/Macau."""
    familiar = [z.split(" ")[0] for z in zones_at(offset)]
    return next((z for z in familiar if z in zones), zones[0])


def _examples(by_offset: dict[timedelta, tuple[str, ...]]) -> str:
    return ", ".join(f"{_fmt(o)} ({_example(o, zones)})" for o, zones in sorted(by_offset.items()))


def _exact(zone: zoneinfo.ZoneInfo, abbr: str, wall: datetime) -> str:
    """``zone``'s name; but in the hour a DST change repeats (01:30 EDT, then 01:30 EST), the
    fixed offset the abbreviation names there, which says which of the two the record means
    (the zone's name would be read as the first, and flagged ambiguous). A half-hour offset
    has no fixed-offset zone name: the zone's name then, as before."""
    if len(_abbr_at(zone, wall)) == 1:
        return zone.key
    fold = next(f for f in (0, 1) if (wall.replace(tzinfo=zone, fold=f).tzname() or "").upper()
                == abbr)
    offset = wall.replace(tzinfo=zone, fold=fold).utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    if rest:
        return zone.key
    return "UTC" if not hours else f"Etc/GMT{'+' if hours < 0 else '-'}{abs(hours)}"


@lru_cache(maxsize=64)
def _local_zone(value: str | None) -> zoneinfo.ZoneInfo | None:
    """Acme-Local-Time-Zone as a tz database zone, or None (empty, an offset, free text).

    Any name the tz database has, not only ``Area/Location``: the single-word names (``PRC``,
    ``Japan``, ``Singapore``, ``Israel``, ``Eire``; tzdata ``backward``) and the POSIX-style
    ``EST5EDT`` / ``CST6CDT`` (:data:`_POSIX_LINKS`) are zones too. They were ignored, and
    ``CST`` of an SBC whose local zone is ``PRC`` was read as US Central, 14 hours off. A
    wrong guess costs nothing here: the zone is used only when its abbreviation at the
    record's time is the record's (:func:`read_zone`)."""
    if not value:
        return None
    try:
        return resolve_zone(value)
    except ZoneError:
        # resolve_zone refuses the POSIX-style names for --tz (an operator should name a
        # location); a switch that writes one names the zone its link leads to.
        link = _POSIX_LINKS.get(value.strip().upper())
        return zoneinfo.ZoneInfo(link) if link else None


#: The POSIX-style US zone names and the zones tzdata 2024b made them links to (tzdata NEWS,
#: 2024b: "EST5EDT, CST6CDT, MST7MDT and PST8PDT are now links to America/New_York, ...").
_POSIX_LINKS: Final = {
    "EST5EDT": "America/New_York", "CST6CDT": "America/Chicago",
    "MST7MDT": "America/Denver", "PST8PDT": "America/Los_Angeles",
}


def _local_offset(value: str | None) -> timedelta | None:
    m = _OFFSET.match(value or "")
    if m is None:
        return None
    off = timedelta(hours=int(m["h"]), minutes=int(m["m"] or 0))
    return -off if m["sign"] == "-" else off


@lru_cache(maxsize=8)
def _tz_zone(tz: str) -> zoneinfo.ZoneInfo | None:
    try:
        return resolve_zone(tz)
    except ZoneError:  # the ingest refuses a bad --tz before reading any file
        return None


def read_zone(abbr: str | None, wall: datetime | None, local: str | None,
              tz: str | None) -> ZoneReading:
    """The zone of one record (module docstring). ``abbr`` is the abbreviation its times
    carry, ``wall`` the first of them as written, ``local`` its Acme-Local-Time-Zone, ``tz``
    the ingest's --tz."""
    local = (local or "").strip() or None
    if not abbr:
        # No abbreviation in the times: an IANA Acme-Local-Time-Zone, else --tz (profile).
        lz = _local_zone(local)
        return ZoneReading(zone=lz.key if lz else None)
    a = abbr.upper()
    if wall is None:
        return ZoneReading(zone=ZONE_ABBREVIATIONS.get(a))
    lz = _local_zone(local)
    if lz is not None and a in _abbr_at(lz, wall):
        return ZoneReading(zone=_exact(lz, a, wall))
    known = meanings(a, wall.date()) if a not in _UTC_NAMES else {}
    offset = _local_offset(local)
    if offset is not None:
        for name in (n for zones in known.values() for n in zones):
            z = zoneinfo.ZoneInfo(name)
            t = wall.replace(tzinfo=z)
            on = t.utcoffset() or timedelta(0)
            if offset in (on, on - (t.dst() or timedelta(0))):
                return ZoneReading(zone=name)
    tzone = _tz_zone(tz) if tz else None
    if tzone is not None and a in _abbr_at(tzone, wall):
        return ZoneReading(zone=_exact(tzone, a, wall))
    if not known and a not in ZONE_ABBREVIATIONS:
        # A name the tz database does not use at all (the SBC's zone name is typed by its
        # admin: "SGT" where tzdata writes "+08"): nothing to check the zone against, so the
        # SBC's own zone decides, else the one the operator gives.
        for named in (lz, tzone):
            if named is not None:
                return ZoneReading(zone=named.key)
    if a in ZONE_ABBREVIATIONS:
        fixed = ZONE_ABBREVIATIONS[a]
        us = zoneinfo.ZoneInfo(fixed).utcoffset(wall) or timedelta(0)
        others = {o: z for o, z in known.items() if o != us}
        if not others:
            return ZoneReading(zone=fixed)
        decided = f"Acme-Local-Time-Zone is {local!r}" if local else "no Acme-Local-Time-Zone"
        return ZoneReading(zone=fixed, doubt=(
            f"zone abbreviation {abbr!r} read as US time ({_fmt(us)}), but the tz database also "
            f"uses it at {_examples(others)} and the records give {decided} to decide"
            + (f" (--tz {tz} writes {sorted(_abbr_at(tzone, wall))[0]!r} then)"
               if tzone is not None else "")
            + ". If the SBC is not on US time: `tracehop forget FILE --store DIR`, then ingest "
            "it again with --tz naming the SBC's zone"))
    why = ("has several meanings at that time: " + _examples(known) if len(known) > 1 else
           f"is {_examples(known)} in the tz database but not one read without the SBC's zone"
           if known else "is not one the tz database knows")
    told = [f"Acme-Local-Time-Zone is {local!r}" if local else "Acme-Local-Time-Zone is empty"]
    if tzone is not None:
        told.append(f"--tz {tzone.key} writes {sorted(_abbr_at(tzone, wall))[0]!r} then")
    hint = "".join(f" (e.g. --tz {_example(o, z)})" for o, z in known.items()) if len(
        known) == 1 else ""
    return ZoneReading(reason=(
        f"zone abbreviation {abbr!r} {why}; {', '.join(told)}, so nothing says which zone "
        f"these times are in. Fix: ingest with --tz naming the SBC's zone{hint}, whose "
        f"abbreviation at that time is {abbr!r}, or set the SBC's local time zone so its "
        "records carry Acme-Local-Time-Zone"))
