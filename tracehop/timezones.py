"""Time zones: naming them, reading local wall times as UTC, and parsing inquiry instants.

**The rule for local times** (DESIGN.md §4; docs/decisions.md "Local times and DST"). A local
wall time is read the way :mod:`zoneinfo` reads it with ``fold=0``:

- a *repeated* wall time (the clock falls back: 2026-11-01 01:30 America/New_York happens
  twice) is the **first** occurrence, the earlier instant, still on summer time
  (01:30 EDT = 05:30Z), and its ``ambiguous`` flag is set so the matcher can also look one
  hour later;
- a *skipped* wall time (the clock springs forward: 2026-03-08 02:30 America/New_York never
  happens) is read with the offset in force *before* the gap, which shifts it forward by the
  gap (02:30 EST = 07:30Z, shown as 03:30 EDT). Nothing is dropped.

Polars does the bulk of the work in one ``replace_time_zone`` pass that leaves repeated and
skipped wall times null. Those few rows are then read again: repeated ones with
``ambiguous="earliest"`` (the earlier instant, which is ``fold=0``), skipped ones, for which
Polars' ``non_existent`` can only raise or give null, by :mod:`zoneinfo` itself once per
distinct wall time. So the rule is exactly zoneinfo's. (DuckDB's ``timezone()`` picks the
*later* instant for repeated times; tracehop does not use it for this.)

Polars reads zones from its own compiled copy of the IANA database and :mod:`zoneinfo` from the
system or the ``tzdata`` package; for zones whose rules changed very recently the two can differ.

**Zone names.** :func:`resolve_zone` accepts IANA names (``America/New_York``, also the old
links such as ``US/Eastern``), matched case-insensitively, and ``UTC`` / ``Z`` / ``GMT``.
Abbreviations (``EST``, ``PST``, ``CET``, ``EST5EDT`` ...) are refused even where tzdata has an
entry of that name: ``EST`` there is a fixed UTC-5 all year, which is not what a US provider
writing "EST" means for a July call, and several abbreviations name different zones
(``IST``, ``CST``). The error suggests the IANA name to use.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from tracehop.errors import ZoneError

if TYPE_CHECKING:
    # Imported in local_to_utc only: parse_instant (the `tracehop lookup` path) must not
    # pay ~0.25 s to import Polars.
    import polars as pl

__all__ = ["in_zone", "local_to_utc", "parse_instant", "parse_instant_dst", "resolve_zone",
           "zone_problem", "zones_at"]

_UTC_ALIASES: Final = frozenset({"UTC", "Z", "GMT", "ZULU", "UCT", "ETC/UTC", "ETC/GMT"})

#: Abbreviations people write instead of a zone, and the IANA zone they most likely mean.
_ABBREVIATIONS: Final[dict[str, str]] = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "EST5EDT": "America/New_York",
    "ET": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "CST6CDT": "America/Chicago",
    "CT": "America/Chicago",
    "MST": "America/Denver (or America/Phoenix, which has no DST)",
    "MDT": "America/Denver",
    "MST7MDT": "America/Denver",
    "MT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "PST8PDT": "America/Los_Angeles",
    "PT": "America/Los_Angeles",
    "AKST": "America/Anchorage",
    "AKDT": "America/Anchorage",
    "HST": "Pacific/Honolulu",
    "AST": "America/Puerto_Rico",
    "BST": "Europe/London",
    "WET": "Europe/Lisbon",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "MET": "Europe/Paris",
    "EET": "Europe/Athens",
    "IST": "Asia/Kolkata (or Europe/Dublin)",
    "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
}


#: A UTC offset written where a zone belongs: ``-05:00``, ``UTC-5``, ``GMT+05:30``, ``+0530``.
_OFFSET: Final = re.compile(
    r"(?:UTC|GMT|Z)?\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?", re.IGNORECASE)

#: Zones named as examples for an offset, most familiar first (their winter or summer offset).
_OFFSET_EXAMPLES: Final = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Halifax",
    "America/St_Johns", "America/Sao_Paulo", "Europe/London", "Europe/Paris", "Europe/Athens",
    "Europe/Moscow", "Asia/Tehran", "Asia/Dubai", "Asia/Kabul", "Asia/Karachi", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Dhaka", "Asia/Yangon", "Asia/Bangkok", "Asia/Shanghai",
    "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Noumea", "Pacific/Auckland", "Pacific/Chatham", "Pacific/Tongatapu",
    "Pacific/Kiritimati",
)


def zones_at(offset: timedelta) -> list[str]:
    """Up to three zones at ``offset``: on standard time first, then on summer time."""
    def offsets(name: str) -> tuple[timedelta, timedelta]:
        tz = zoneinfo.ZoneInfo(name)
        both = [datetime(2026, m, 15, tzinfo=tz).utcoffset() or timedelta(0) for m in (1, 7)]
        return min(both), max(both)  # (standard, summer): either hemisphere

    def pick(names: list[str]) -> list[str]:
        seen = [(n, offsets(n)) for n in names]
        hits = [n for n, (std, _) in seen if std == offset] + [
            f"{n} (on summer time)" for n, (std, dst) in seen if std != offset == dst]
        return hits[:3]

    found = pick(list(_OFFSET_EXAMPLES))
    if not found:
        found = pick(sorted(n for n in _zones_by_folded_name().values()
                            if "/" in n and not n.startswith(("Etc/", "SystemV/"))))
    return found


def _offset_zone(text: str) -> zoneinfo.ZoneInfo | None:
    """UTC for a zero offset written as a zone (``UTC+0``, ``+00:00``); None when ``text`` is
    not an offset. Any other offset raises :class:`ZoneError` with the zone names to use: an
    offset has no DST, so it is refused as abbreviations are (docs/decisions.md)."""
    m = _OFFSET.fullmatch(text)
    if m is None:
        return None
    hours, minutes = int(m["h"]), int(m["m"] or 0)
    if hours > 14 or minutes > 59:
        return None  # not an offset: the unknown-name error says so
    # "UTC-5" / "GMT+5" as e-mails and Windows write them, as parse_instant reads them:
    # UTC minus (plus) five hours, not the POSIX-inverted sign of the Etc/GMT+5 names.
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if m["sign"] == "-" else 1)
    if not offset:
        return zoneinfo.ZoneInfo("UTC")
    zones = zones_at(offset)
    sign = "-" if offset < timedelta(0) else "+"
    written = f"UTC{sign}{hours:02d}:{minutes:02d}"
    hint = ("An offset has no daylight saving time; give the IANA zone the switch is set to"
            + (f", e.g. {' or '.join(zones)}" if zones
               else f" (no zone is at {written}), e.g. America/New_York"))
    fixed = f"Etc/GMT{'+' if offset < timedelta(0) else '-'}{hours}"
    if not minutes and fixed.casefold() in _zones_by_folded_name():
        # Etc/GMT+5 is UTC-5: the tz database's Etc names invert the sign (POSIX).
        hint += (f". For a switch kept on {written} all year, {fixed} (the Etc/ names "
                 "invert the sign)")
    raise ZoneError(f"time zone {text!r} is a UTC offset ({written}), not a zone", hint=hint)


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


#: tzdata's capitalised country links: whole zones with their DST rules, not abbreviations.
_COUNTRY_LINKS: Final = frozenset({"GB", "NZ", "PRC", "ROC", "ROK"})


def _is_abbreviation(name: str) -> bool:
    # IANA location names have an Area/ prefix; the prefix-less entries in tzdata are legacy
    # abbreviations or POSIX-style rules (EST, CET, EST5EDT, ...), plus a few country links,
    # which name whole zones (NZ is Pacific/Auckland, DST and all) and are accepted.
    if name.upper() in _ABBREVIATIONS:
        return True
    return name not in _COUNTRY_LINKS and bool(re.fullmatch(r"[A-Z]{2,5}[0-9]*[A-Z]*", name))


@lru_cache(maxsize=256)
def resolve_zone(name: str) -> zoneinfo.ZoneInfo:
    """The :class:`~zoneinfo.ZoneInfo` for an IANA zone name; :class:`ZoneError` otherwise."""
    text = (name or "").strip()
    if not text:
        raise ZoneError(
            "no time zone given",
            hint="Give an IANA zone name such as America/New_York (or UTC)",
        )
    if text.upper() in _UTC_ALIASES:
        return zoneinfo.ZoneInfo("UTC")
    # "-05:00", "UTC-5": before the name lookup, whose closest names for "UTC-5" were "UTC"
    # (five hours off) and for "GMT+5" Etc/GMT+5 (UTC-5, ten hours off).
    offset_zone = _offset_zone(text)
    if offset_zone is not None:
        return offset_zone
    if text.upper() in _ABBREVIATIONS or _is_abbreviation(text):
        likely = _ABBREVIATIONS.get(text.upper())
        raise ZoneError(
            f"time zone {text!r} is an abbreviation, not an IANA zone name",
            hint="Abbreviations ignore or misstate daylight saving time; use "
            + (likely if likely else "an Area/Location name such as America/New_York"),
        )
    canonical = _zones_by_folded_name().get(text.casefold())
    if canonical is None:
        close = _suggestions(text)
        raise ZoneError(
            f"unknown time zone {text!r}",
            hint=("Use an IANA zone name, e.g. " + ", ".join(close)) if close else
            "Use an IANA Area/Location zone name, such as America/New_York",
        )
    return zoneinfo.ZoneInfo(canonical)


#: Windows time zone names (as a Windows-hosted PBX writes them) and the IANA zone CLDR's
#: windowsZones.xml maps each to (territory 001): suggested, not accepted.
_WINDOWS: Final[dict[str, str]] = {
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "us mountain standard time": "America/Phoenix",
    "pacific standard time": "America/Los_Angeles",
    "alaskan standard time": "America/Anchorage",
    "hawaiian standard time": "Pacific/Honolulu",
    "atlantic standard time": "America/Halifax",
    "newfoundland standard time": "America/St_Johns",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "tokyo standard time": "Asia/Tokyo",
    "aus eastern standard time": "Australia/Sydney",
    "lord howe standard time": "Australia/Lord_Howe",
    "new zealand standard time": "Pacific/Auckland",
}


def _suggestions(text: str) -> list[str]:
    """Up to three zone names close to ``text``: by whole name, or by its location alone
    ("Sydney", "Lord Howe"), never a name :func:`resolve_zone` refuses (EST5EDT), nor the
    unrelated America/New_York that used to be offered when nothing was close."""
    windows = _WINDOWS.get(" ".join(text.casefold().split()))
    if windows:
        return [windows]
    for part in re.split(r"[/ ]+", text.upper()):  # "EST/EDT", "PST PDT"
        if part in _ABBREVIATIONS:
            return [_ABBREVIATIONS[part]]
    names = sorted(n for n in _zones_by_folded_name().values()
                   if "/" in n and not n.startswith(("Etc/", "SystemV/")))
    key = "_".join(text.split()).casefold()
    by_name = {n.casefold(): n for n in names}
    by_place: dict[str, str] = {}
    for n in names:  # canonical Area/Location first: "America/..." before "Canada/..."
        by_place.setdefault(n.rsplit("/", 1)[-1].casefold(), n)
    # A location is compared with the location the text names ("Mars/Base": "Base"), not the
    # whole text, and more strictly when the text names an area too: "Mars/Base" was "close"
    # to Marquesas by its area's letters. Of each kind of match only the names about as close
    # as the closest are offered: "Europe/Londn" gets Europe/London, not Lisbon.
    place = key.rsplit("/", 1)[-1]
    found = _closest(key, by_name, 0.6) + _closest(place, by_place, 0.75 if "/" in key else 0.6)
    return list(dict.fromkeys(found))[:3]


def _closest(key: str, names: dict[str, str], cutoff: float) -> list[str]:
    """The values of ``names`` whose keys are closest to ``key`` (difflib), best first."""
    scored = [(difflib.SequenceMatcher(None, key, m).ratio(), names[m])
              for m in difflib.get_close_matches(key, list(names), n=3, cutoff=cutoff)]
    best = max((r for r, _ in scored), default=0.0)
    return [n for r, n in scored if r >= best - _SUGGEST_SLACK]


#: How much less alike than the closest name another suggestion may be (difflib ratio).
_SUGGEST_SLACK: Final = 0.1


def local_to_utc(naive: pl.Series, zone: str) -> tuple[pl.Series, pl.Series]:
    """Read naive local wall times in ``zone`` as UTC instants (the module rule).

    Returns ``(utc, ambiguous)``: a ``Datetime("us", "UTC")`` series with the input's name, and
    a boolean series named ``ambiguous``, true where the wall time was repeated (the first
    occurrence was taken). Nulls stay null and are not ambiguous.
    """
    import polars as pl

    dtype = naive.dtype
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is not None:
        raise TypeError(f"local_to_utc needs a naive Datetime series, got {dtype}")
    tz = resolve_zone(zone)
    key = tz.key
    local = naive.cast(pl.Datetime("us"))
    n = local.len()
    if key == "UTC":
        utc = local.dt.replace_time_zone("UTC")
        return utc.alias(naive.name), pl.Series("ambiguous", [False] * n, pl.Boolean)
    try:
        # One pass settles every ordinary wall time; repeated and skipped ones come out null
        # and are few (at most an hour or two a year), so they are fixed up separately.
        utc = local.dt.replace_time_zone(key, ambiguous="null", non_existent="null")
    except pl.exceptions.PolarsError as e:  # a zone zoneinfo knows but Polars' database lacks
        raise ZoneError(
            f"time zone {key!r} is not in Polars' time zone database ({e})",
            hint="Upgrade polars, or use the zone's current canonical IANA name",
        ) from None
    utc = utc.dt.convert_time_zone("UTC")
    odd_idx = (utc.is_null() & local.is_not_null()).arg_true()
    ambiguous = pl.Series("ambiguous", [False] * n, pl.Boolean)
    if odd_idx.len() == 0:
        return utc.alias(naive.name), ambiguous
    odd = local.gather(odd_idx)
    first = odd.dt.replace_time_zone(key, ambiguous="earliest", non_existent="null")
    repeated = first.is_not_null()  # ambiguous="earliest" is fold=0: the earlier instant
    fixed = first.dt.convert_time_zone("UTC")
    if not repeated.all():
        # Skipped wall times: few distinct values, read by zoneinfo itself with fold=0.
        distinct = odd.filter(~repeated).unique()
        resolved = pl.Series(
            [w.replace(tzinfo=tz, fold=0).astimezone(UTC) for w in distinct.to_list()],
            dtype=pl.Datetime("us", "UTC"),
        )
        in_gap = odd.replace_strict(
            distinct, resolved, default=None, return_dtype=pl.Datetime("us", "UTC")
        )
        fixed = fixed.fill_null(in_gap)
    utc = utc.scatter(odd_idx, fixed)
    ambiguous = ambiguous.scatter(odd_idx, repeated)
    return utc.alias(naive.name), ambiguous


# -- inquiry instants ------------------------------------------------------------------------

# RFC 3339 §5.6 date-time, with the ISO 8601 / RFC 3339 §5.6 NOTE allowances: a space instead
# of "T", seconds optional, any number of fractional digits (kept to the microsecond), offsets
# with or without a colon, and "UTC"/"GMT" as a suffix. Optionally an RFC 9557 time-zone
# suffix in brackets ("2026-11-20T09:03:22[America/New_York]"), read with the module rule when
# no offset is given.
_INSTANT: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ]"
    r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?"
    r"\s*(?P<off>[Zz]|(?:UTC|GMT)(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{2}(?::?\d{2})?)?"
    r"(?:\[(?P<zone>!?[A-Za-z0-9_/+\-]+)\])?",
    re.ASCII,
)


#: ISO 8601 basic format: no separators in the date or the time (§4.1.2.2, §4.2.2.2).
_BASIC: Final = re.compile(
    r"(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})[Tt](?P<h>\d{2})(?P<m>\d{2})(?P<s>\d{2})?"
    r"(?P<frac>[.,]\d+)?(?P<off>[Zz]|[+-]\d{2}(?:\d{2})?)?",
    re.ASCII,
)


#: A time followed by a zone word (``2026-11-20 09:03:22 America/New_York``): read as the RFC 9557
#: suffix ``[America/New_York]``, so that abbreviations are refused as ``--tz`` refuses them
#: (docs/decisions.md, "Zone names"), with the IANA name to use.
_ZONE_WORD: Final = re.compile(r"(?P<rest>.*?\d)\s+(?P<zone>[A-Za-z]+(?:/[A-Za-z0-9_+\-]+)*)",
                               re.ASCII)
#: The US month/day/year form of the portals and spreadsheets a US inquiry comes from, with an
#: optional AM/PM ("11/20/2026 2:03:22 PM").
_US_DATE: Final = re.compile(
    r"(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})[ T]+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<frac>[.,]\d+)?)?"
    r"(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?)(?=\s|$))?(?P<rest>.*)", re.ASCII)
#: An ISO date with a 12-hour clock ("2026-11-20 9:03:22 PM"), as spreadsheets and portals
#: export it: read as the US form is (the zone part left as written). Without this the
#: "PM" was taken for a zone abbreviation and refused as one.
_ISO_12H: Final = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})[ Tt]+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<frac>[.,]\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)(?=\s|$)(?P<rest>.*)", re.ASCII)
#: Unix time: seconds (10 digits, a fraction allowed) or milliseconds (13 digits), from 2001
#: to 2033 (a leading 1): a ten-digit US phone number in the time column (2xx-9xx...) is not
#: read as a time decades ahead.
_EPOCH: Final = re.compile(r"(?P<s>1\d{9})(?P<frac>\.\d+)?|(?P<ms>1\d{12})", re.ASCII)


def _iso_from_us(m: re.Match[str]) -> str:
    """The ISO 8601 form of a US month/day/year time (the zone part left as written)."""
    month, day, hour = int(m["mo"]), int(m["d"]), int(m["h"])
    if month > 12:
        raise ValueError(f"month {month} in {m['mo']}/{m['d']}/{m['y']}: dates with slashes "
                         "are read as US month/day/year; write the date as YYYY-MM-DD")
    if m["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} with {m['ampm']}: a 12-hour clock runs 1 to 12")
        hour = hour % 12 + (12 if m["ampm"][0] in "Pp" else 0)
    sec = f":{m['s']}{m['frac'] or ''}" if m["s"] else ""
    return f"{m['y']}-{month:02d}-{day:02d}T{hour:02d}:{m['mi']}{sec}{m['rest']}"


def zone_problem(zone: str) -> str | None:
    """Why ``zone``, written after a time, cannot be read (an abbreviation, an unknown
    name), or None: what :func:`parse_instant` would say of it."""
    try:
        parse_instant(f"2000-01-01 00:00 {zone}")
    except ValueError as e:
        why = str(e)
        if why.startswith("expected "):
            # The date-time parser's complaint about the whole text ("expected YYYY-MM-DD...")
            # says nothing of the zone, which is what the caller asks about (a path, a name
            # with a space, a zone followed by more words).
            return ("not an IANA zone name (Area/City, e.g. America/New_York), UTC, or a UTC "
                    "offset such as -05:00")
        return why
    return None


def in_zone(text: str, zone: str) -> str:
    """``text`` read in ``zone`` when it has no zone or offset of its own (the zone written
    after it, as :func:`parse_instant` reads a zone word); otherwise, or when it cannot be
    read at all (the caller's parse says why), unchanged."""
    try:
        _, naive = parse_instant(text)
    except (ValueError, OverflowError):
        return text
    return f"{text.strip()} {zone}" if naive else text


def parse_instant(text: str) -> tuple[datetime, bool]:
    """Parse an inquiry date-time; return the aware UTC instant and whether it was naive.
    :func:`parse_instant_dst` also says whether a local time fell in a DST change.

    ISO 8601 / RFC 3339 (extended or basic, a space for the ``T``, ``Z``/``UTC``/an offset, or
    an RFC 9557 ``[Zone/Name]``), and the forms a US inquiry also comes in: a zone word after
    the time (``2026-11-20 09:03:22 America/New_York``; abbreviations such as EST are refused
    with the name to use, as ``--tz`` refuses them), US month/day/year with an optional AM/PM
    (``11/20/2026 9:03:22 AM America/New_York``), and Unix time in
    seconds or milliseconds. A time without offset or zone is read as UTC (``was_naive`` is
    then true, and the answer says so). Raises :class:`ValueError` with a short reason.
    """
    utc, naive, _ = parse_instant_dst(text)
    return utc, naive


#: Dashes a typeset page or an editor's autocorrect puts where a time has "-": hyphen,
#: non-breaking hyphen, figure dash, en and em dash, minus sign.
_DASHES: Final = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")


def _plain(text: str) -> str:
    """``text`` as typed, without what copying it from a web portal, an e-mail or a chat
    carries along: invisible format characters (bidi marks U+202A/U+202C, zero-width space,
    BOM), no-break and other Unicode spaces, typographic dashes. Numbers were already read
    through these (numbers.normalise); a time was refused with the marks shown as escapes."""
    if text.isascii():
        return text
    import unicodedata

    out = []
    for ch in text.translate(_DASHES):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        out.append(" " if cat == "Zs" else ch)
    return "".join(out)


def parse_instant_dst(text: str) -> tuple[datetime, bool, str | None]:
    """:func:`parse_instant`, plus ``"repeated"`` when the text is a local wall time (a zone,
    no offset) that happened twice (the fall-back hour: read as the first occurrence,
    ``fold=0``), ``"skipped"`` when it never happened (the spring-forward gap: moved forward
    by the gap), else None. The module rule still decides the instant; the caller says so,
    since the asker may have meant the other reading, an hour away."""
    s = _plain(text or "").strip()
    if not s:
        raise ValueError("empty")
    e = _EPOCH.fullmatch(s)
    if e is not None:
        secs = int(e["ms"]) / 1000 if e["ms"] else int(e["s"]) + float(e["frac"] or 0)
        return datetime.fromtimestamp(secs, UTC), False, None
    us = _US_DATE.fullmatch(s) or _ISO_12H.fullmatch(s)
    if us is not None:
        s = _iso_from_us(us)
    w = _ZONE_WORD.fullmatch(s)
    if w is not None:
        utc = w["zone"].upper() in ("UTC", "GMT", "Z")
        s = f"{w['rest']}Z" if utc else f"{w['rest']}[{w['zone']}]"
    b = _BASIC.fullmatch(s)
    if b is not None:  # ISO 8601 basic format (20261120T140322Z): the same in extended form
        s = (f"{b['Y']}-{b['M']}-{b['D']}T{b['h']}:{b['m']}" + (f":{b['s']}" if b["s"] else "")
             + (b["frac"] or "") + (b["off"] or ""))
    m = _INSTANT.fullmatch(s)
    if m is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            raise ValueError("a date without a time of day")
        raise ValueError("expected YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or ±HH:MM")
    hour, minute = int(m["h"]), int(m["m"])
    second = int(m["s"] or 0)
    if second == 60:
        raise ValueError("leap seconds (:60) are not supported")
    frac = (m["frac"] or "")[:6].ljust(6, "0")
    try:
        year, month, day = (int(x) for x in m["date"].split("-"))
        wall = datetime(year, month, day, hour, minute, second, int(frac))
    except ValueError as e:
        raise ValueError(str(e)) from None
    off, zone_name = m["off"], m["zone"]
    if off is not None:
        # "UTC-5", "GMT+05:30": the offset as e-mails and Windows write it (UTC minus five
        # hours; not the POSIX-inverted sign of the Etc/GMT+5 zone names).
        off = off[3:] if off[:3].upper() in ("UTC", "GMT") and len(off) > 3 else off
        if off.upper() in ("Z", "UTC", "GMT"):
            delta = timedelta(0)
        else:
            digits = off[1:].replace(":", "")
            if len(digits) in (1, 3):  # one hour digit: "UTC-5", "UTC+5:30"
                digits = "0" + digits
            oh, om = int(digits[:2]), int(digits[2:] or 0)
            if oh > 23 or om > 59:
                raise ValueError(f"offset {off} is out of range")
            delta = timedelta(hours=oh, minutes=om) * (-1 if off[0] == "-" else 1)
        instant = wall.replace(tzinfo=timezone(delta)).astimezone(UTC)
        if zone_name is not None and zone_name.startswith("!") and off.upper() != "Z":
            # RFC 9557 §3.4: a critical ("!") zone that disagrees with the offset must not be
            # acted on. The offset alone would give one instant and the zone another: which
            # one the asker meant is unknown, so the time is refused, not guessed.
            try:
                tz = resolve_zone(zone_name[1:])
            except ZoneError as e:
                raise ValueError(str(e)) from None
            if instant.astimezone(tz).utcoffset() != delta:
                raise ValueError(f"offset {off} disagrees with the zone [{zone_name}] marked "
                                 "critical; give one of them")
        return instant, False, None
    if zone_name is not None:
        try:
            tz = resolve_zone(zone_name.lstrip("!"))
        except ZoneError as e:
            raise ValueError(str(e)) from None
        first, other = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
        # zoneinfo: the two folds differ only at a transition; fold=0 takes the offset in
        # force before it, which is the larger one when the clock falls back (a repeated
        # hour) and the smaller one when it springs forward (a skipped hour).
        off0, off1 = first.utcoffset(), other.utcoffset()
        dst = None
        if off0 is not None and off1 is not None and off0 != off1:
            dst = "repeated" if off0 > off1 else "skipped"
        return first.astimezone(UTC), False, dst
    return wall.replace(tzinfo=UTC), True, None
