"""Local wall times to UTC (the zoneinfo fold=0 rule), zone names, inquiry instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.errors import ZoneError
from tracehop.timezones import local_to_utc, parse_instant, resolve_zone


def convert(zone: str, *walls: datetime | None) -> list[tuple[datetime | None, bool]]:
    utc, amb = local_to_utc(pl.Series("start", list(walls), dtype=pl.Datetime("us")), zone)
    assert utc.dtype == pl.Datetime("us", "UTC")
    assert utc.name == "start"
    assert amb.dtype == pl.Boolean
    assert amb.name == "ambiguous"
    return list(zip(utc.to_list(), amb.to_list(), strict=True))


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- concrete DST cases --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("zone", "wall", "utc", "ambiguous"),
    [
        # New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:xx happens twice.
        ("America/New_York", datetime(2026, 11, 1, 0, 59), z(2026, 11, 1, 4, 59), False),
        ("America/New_York", datetime(2026, 11, 1, 1, 0), z(2026, 11, 1, 5, 0), True),
        ("America/New_York", datetime(2026, 11, 1, 1, 30), z(2026, 11, 1, 5, 30), True),
        ("America/New_York", datetime(2026, 11, 1, 1, 59, 59), z(2026, 11, 1, 5, 59, 59), True),
        ("America/New_York", datetime(2026, 11, 1, 2, 0), z(2026, 11, 1, 7, 0), False),
        # New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT: 02:xx never happens.
        ("America/New_York", datetime(2026, 3, 8, 1, 59), z(2026, 3, 8, 6, 59), False),
        ("America/New_York", datetime(2026, 3, 8, 2, 0), z(2026, 3, 8, 7, 0), False),
        ("America/New_York", datetime(2026, 3, 8, 2, 30), z(2026, 3, 8, 7, 30), False),
        ("America/New_York", datetime(2026, 3, 8, 3, 0), z(2026, 3, 8, 7, 0), False),
        ("America/New_York", datetime(2026, 7, 4, 12, 0), z(2026, 7, 4, 16, 0), False),
        ("America/New_York", datetime(2026, 1, 15, 12, 0), z(2026, 1, 15, 17, 0), False),
        # Chicago, the same days one hour further west.
        ("America/Chicago", datetime(2026, 11, 1, 1, 30), z(2026, 11, 1, 6, 30), True),
        ("America/Chicago", datetime(2026, 3, 8, 2, 30), z(2026, 3, 8, 8, 30), False),
        # London: BST ends 2026-10-25 02:00 -> 01:00, starts 2026-03-29 01:00 -> 02:00.
        ("Europe/London", datetime(2026, 10, 25, 1, 30), z(2026, 10, 25, 0, 30), True),
        ("Europe/London", datetime(2026, 3, 29, 1, 30), z(2026, 3, 29, 1, 30), False),
        ("Europe/London", datetime(2026, 3, 29, 2, 0), z(2026, 3, 29, 1, 0), False),
        # Lord Howe Island moves its clocks by 30 minutes: +10:30 <-> +11:00.
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), z(2026, 10, 3, 15, 45), False),
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 30), z(2026, 10, 3, 15, 30), False),
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 1, 45), z(2026, 4, 4, 14, 45), True),
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 2, 0), z(2026, 4, 4, 15, 30), False),
        # Phoenix keeps standard time all year: nothing is ever ambiguous.
        ("America/Phoenix", datetime(2026, 11, 1, 1, 30), z(2026, 11, 1, 8, 30), False),
    ],
)
def test_dst_edges(zone: str, wall: datetime, utc: datetime, ambiguous: bool) -> None:
    assert convert(zone, wall) == [(utc, ambiguous)]
    # The rule is zoneinfo's fold=0, exactly.
    assert wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC) == utc


def test_repeated_hour_takes_the_first_occurrence_not_duckdbs_later_one() -> None:
    [(utc, amb)] = convert("America/New_York", datetime(2026, 11, 1, 1, 30))
    later = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1)
    assert utc == z(2026, 11, 1, 5, 30)
    assert later.astimezone(UTC) - utc == timedelta(hours=1)
    assert amb is True


def test_nulls_utc_and_time_units() -> None:
    assert convert("America/New_York", None, datetime(2026, 7, 4, 12)) == [
        (None, False),
        (z(2026, 7, 4, 16), False),
    ]
    assert convert("UTC", datetime(2026, 11, 1, 1, 30)) == [(z(2026, 11, 1, 1, 30), False)]
    ns = pl.Series("t", [datetime(2026, 3, 8, 2, 30, 0, 123456)], dtype=pl.Datetime("ns"))
    utc, _ = local_to_utc(ns, "America/New_York")
    assert utc.dtype == pl.Datetime("us", "UTC")
    assert utc.to_list() == [z(2026, 3, 8, 7, 30, 0, 123456)]


def test_links_case_and_fixed_offset_zones_convert() -> None:
    wall = datetime(2026, 11, 1, 1, 30)
    assert convert("US/Eastern", wall) == [(z(2026, 11, 1, 5, 30), True)]
    assert convert("america/chicago", wall) == [(z(2026, 11, 1, 6, 30), True)]
    assert convert("Etc/GMT+5", wall) == [(z(2026, 11, 1, 6, 30), False)]  # POSIX sign: UTC-5


def test_many_rows_in_a_skipped_hour_are_all_shifted() -> None:
    walls = [datetime(2026, 3, 8, 2, m) for m in range(60)] * 100
    utc, amb = local_to_utc(pl.Series(walls), "America/New_York")
    assert utc.null_count() == 0
    assert utc.to_list()[:60] == [z(2026, 3, 8, 7, m) for m in range(60)]
    assert not amb.any()


def test_rejects_aware_or_non_datetime_input() -> None:
    aware = pl.Series([datetime(2026, 1, 1)]).dt.replace_time_zone("UTC")
    with pytest.raises(TypeError, match="naive Datetime"):
        local_to_utc(aware, "America/New_York")
    with pytest.raises(TypeError):
        local_to_utc(pl.Series(["2026-01-01 00:00:00"]), "America/New_York")


# -- zone names ----------------------------------------------------------------------------

def test_resolve_zone_accepts_iana_names_links_case_and_utc_spellings() -> None:
    assert resolve_zone("America/New_York").key == "America/New_York"
    assert resolve_zone("america/new_york").key == "America/New_York"
    assert resolve_zone(" US/Eastern ").key == "US/Eastern"
    for utc in ("UTC", "utc", "Z", "GMT", "Etc/UTC"):
        assert resolve_zone(utc).key == "UTC"


def test_unknown_zone_names_the_zone_and_suggests_one() -> None:
    with pytest.raises(ZoneError) as err:
        resolve_zone("America/New_Yrok")
    assert "America/New_Yrok" in str(err.value)
    assert "America/New_York" in str(err.value)
    with pytest.raises(ZoneError, match="Mars/Olympus_Mons"):
        resolve_zone("Mars/Olympus_Mons")
    with pytest.raises(ZoneError, match="no time zone"):
        resolve_zone("")
    with pytest.raises(ZoneError, match="Mars/Olympus_Mons"):
        local_to_utc(pl.Series([datetime(2026, 1, 1)]), "Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("abbr", "suggested"),
    [("EST", "America/New_York"), ("pst", "America/Los_Angeles"), ("CET", "Europe/Paris"),
     ("EST5EDT", "America/New_York"), ("CDT", "America/Chicago")],
)
def test_abbreviations_are_refused_with_the_iana_name(abbr: str, suggested: str) -> None:
    # tzdata has an "EST" zone, but it is UTC-5 all year: a July call would be an hour off.
    with pytest.raises(ZoneError) as err:
        resolve_zone(abbr)
    assert abbr in str(err.value)
    assert suggested in str(err.value)


@pytest.mark.parametrize(
    ("text", "fixed", "zone"),
    [("UTC-5", "Etc/GMT+5", "America/New_York"), ("-05:00", "Etc/GMT+5", "America/New_York"),
     ("utc-05:00", "Etc/GMT+5", "America/New_York"), ("UTC-8", "Etc/GMT+8", "America/Los_Angeles"),
     # "GMT+5" as e-mails and Windows write it is UTC+5 (parse_instant reads it so): the
     # Etc/ name with that sign, Etc/GMT+5, is UTC-5, ten hours away, and was the suggestion.
     ("GMT+5", "Etc/GMT-5", "Asia/Karachi"), ("+05:30", None, "Asia/Kolkata"),
     ("UTC-03:30", None, "America/St_Johns")],
)
def test_offset_for_tz_is_refused_with_the_zone_and_the_fixed_offset_name(
        text: str, fixed: str | None, zone: str) -> None:
    # An offset is not a zone: it has no DST. "UTC-5" was "unknown time zone ... e.g. UTC",
    # five hours off; the fix names a zone at that offset and, for a switch kept on it all
    # year, the Etc/ name with its inverted sign (none exists for a half-hour offset).
    with pytest.raises(ZoneError) as err:
        resolve_zone(text)
    message = str(err.value)
    assert "offset" in message
    assert zone in message
    if fixed:
        assert fixed in message
    else:
        assert "Etc/" not in message
    assert "e.g. UTC" not in message


def test_country_links_are_zones_not_abbreviations() -> None:
    # tzdata's NZ, GB, PRC, ROK, ROC are links to whole zones, DST rules and all; they were
    # refused as abbreviations with "use ... America/New_York".
    for name, same in (("NZ", "Pacific/Auckland"), ("GB", "Europe/London"),
                       ("PRC", "Asia/Shanghai"), ("ROK", "Asia/Seoul"), ("ROC", "Asia/Taipei")):
        tz = resolve_zone(name)
        for month in (1, 7):
            when = datetime(2026, month, 1, 12)
            assert when.replace(tzinfo=tz).utcoffset() == when.replace(
                tzinfo=ZoneInfo(same)).utcoffset()


@pytest.mark.parametrize(
    ("text", "suggested"),
    [("Sydney", "Australia/Sydney"), ("Lord Howe", "Australia/Lord_Howe"),
     ("St Johns", "America/St_Johns"), ("america/chicgo", "America/Chicago"),
     # Windows zone names, as a Windows-hosted PBX or its admin writes them.
     ("Pacific Standard Time", "America/Los_Angeles"), ("India Standard Time", "Asia/Kolkata"),
     ("Eastern Standard Time", "America/New_York")],
)
def test_unknown_zone_suggests_the_zone_meant(text: str, suggested: str) -> None:
    # A city alone matched no full name and the hint fell back to America/New_York, for
    # Sydney as for Pacific Standard Time; "EST/EDT" was offered EST5EDT and EST, names
    # --tz refuses itself.
    with pytest.raises(ZoneError) as err:
        resolve_zone(text)
    assert suggested in str(err.value)
    if suggested != "America/New_York":
        assert "America/New_York" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "offered"),
    [("Mars/Base", None), ("Europe/Londn", "Europe/London"),
     ("America/NewYork", "America/New_York")],
)
def test_unknown_zone_suggests_only_the_closest_names(text: str, offered: str | None) -> None:
    # "Mars/Base" was offered Pacific/Marquesas (its area's letters against a location), and
    # "Europe/Londn" Europe/Lisbon and Europe/Oslo beside Europe/London.
    with pytest.raises(ZoneError) as err:
        resolve_zone(text)
    hint = str(err.value).split("e.g.")[-1] if "e.g." in str(err.value) else ""
    if offered is None:
        assert "/" not in hint, hint
    else:
        assert hint.strip() == offered, hint


def test_unknown_zone_suggests_no_name_that_is_refused() -> None:
    with pytest.raises(ZoneError) as err:
        resolve_zone("EST/EDT")
    hint = str(err.value).split("e.g.")[-1]
    assert "EST5EDT" not in hint and "EST," not in hint and "EET" not in hint


def test_zero_offset_is_utc() -> None:
    for text in ("UTC+0", "+00:00", "UTC+00:00", "GMT-0"):
        assert resolve_zone(text).key == "UTC"


# -- property: zoneinfo fold=0 is the oracle -----------------------------------------------

ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/St_Johns",
    "America/Halifax", "Europe/London", "Europe/Berlin", "Europe/Dublin", "Australia/Sydney",
    "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham", "Asia/Kolkata", "Asia/Tokyo",
    # Changes at midnight (Santiago: the repeated hour is 23:xx of the day before), a two-hour
    # shift (Troll), tzdata's negative DST (Dublin's winter, Casablanca's Ramadan), and rules
    # that changed (Moscow 2011/2014, Sao Paulo's DST ended 2019, Apia skipped 2011-12-30).
    "America/Santiago", "Antarctica/Troll", "Africa/Casablanca", "Europe/Moscow",
    "America/Sao_Paulo", "Pacific/Apia",
]


@cache
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """UTC instants (to the minute) where the zone's offset changes in that year."""
    tz = ZoneInfo(zone)
    out: list[datetime] = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(tz).utcoffset()
    while t.year == year:
        nxt = t + timedelta(days=1)  # DST changes are months apart; bisect inside the day
        off = nxt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt  # bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(second=0, microsecond=0))
            prev = off
        t = nxt
    return tuple(out)


@st.composite
def instants(draw: st.DrawFn) -> tuple[str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    year = draw(st.integers(2000, 2035))
    near = transitions(zone, year)
    if near and draw(st.booleans()):  # half the examples within ±3 h of a DST change
        base = draw(st.sampled_from(near))
        u = base + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    else:
        u = datetime(year, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    return zone, u


def fold0(wall: datetime, zone: str) -> datetime:
    return wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def is_repeated(wall: datetime, zone: str) -> bool:
    tz = ZoneInfo(zone)
    a = wall.replace(tzinfo=tz, fold=0)
    b = wall.replace(tzinfo=tz, fold=1)
    # Both readings exist (each maps back to the same wall time) and are different instants.
    return (
        a.utcoffset() != b.utcoffset()
        and a.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        and b.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(instants(), min_size=1, max_size=8))
def test_utc_to_local_and_back(cases: list[tuple[str, datetime]]) -> None:
    for zone, u in cases:
        wall = u.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        # Around the change, also the wall times nearby: they cover the skipped hour.
        walls = [wall + timedelta(minutes=m) for m in (-90, -45, -30, -1, 0, 1, 30, 45, 90)]
        got = convert(zone, *walls)
        for w, (utc, amb) in zip(walls, got, strict=True):
            assert utc == fold0(w, zone), (zone, w)
            assert amb == is_repeated(w, zone), (zone, w)
        utc0, amb0 = got[4]
        if amb0:
            assert utc0 is not None and utc0 <= u  # the first occurrence
            assert timedelta(0) <= u - utc0 <= timedelta(hours=2)
        else:
            assert utc0 == u  # the round trip gives the instant back


# -- inquiry instants ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "utc", "naive"),
    [
        ("2026-11-20T14:03:22Z", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20t14:03:22z", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20T09:03:22-05:00", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20 09:03:22-0500", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20 19:33:22+05:30", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20 14:03:22.5Z", z(2026, 11, 20, 14, 3, 22, 500000), False),
        ("2026-11-20T14:03:22,25+00:00", z(2026, 11, 20, 14, 3, 22, 250000), False),
        ("2026-11-20 14:03:22.123456789Z", z(2026, 11, 20, 14, 3, 22, 123456), False),
        ("2026-11-20 14:03:22 UTC", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20T14:03Z", z(2026, 11, 20, 14, 3), False),
        ("2026-11-20 14:03:22", z(2026, 11, 20, 14, 3, 22), True),
        ("  2026-11-20T14:03:22.000001  ", z(2026, 11, 20, 14, 3, 22, 1), True),
        # RFC 9557 zone suffix: a local time in a named zone, read with the fold=0 rule.
        ("2026-11-20T09:03:22[America/New_York]", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-01T01:30:00[America/New_York]", z(2026, 11, 1, 5, 30), False),
        ("2026-11-20T09:03:22-05:00[America/New_York]", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20T09:03:22-05:00[!America/New_York]", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20T14:03:22Z[!America/Chicago]", z(2026, 11, 20, 14, 3, 22), False),
        # ISO 8601 basic format
        ("20261120T140322Z", z(2026, 11, 20, 14, 3, 22), False),
        ("20261120T090322-0500", z(2026, 11, 20, 14, 3, 22), False),
        ("20261120T1403Z", z(2026, 11, 20, 14, 3), False),
        ("20261120T140322", z(2026, 11, 20, 14, 3, 22), True),
        # an IANA zone name after the time (a link too), read with DST
        ("2026-11-20 09:03:22 America/New_York", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-07-20 09:03:22 america/new_york", z(2026, 7, 20, 13, 3, 22), False),
        ("2026-11-20 08:03 US/Central", z(2026, 11, 20, 14, 3), False),
        ("2026-11-20 14:03:22 utc", z(2026, 11, 20, 14, 3, 22), False),
        ("11/20/2026 2:03 PM GMT", z(2026, 11, 20, 14, 3), False),
        # US month/day/year, 12- or 24-hour clock
        ("11/20/2026 9:03:22 AM America/New_York", z(2026, 11, 20, 14, 3, 22), False),
        ("11/20/2026 2:03:22 PM", z(2026, 11, 20, 14, 3, 22), True),
        ("11/20/2026 12:03 a.m.", z(2026, 11, 20, 0, 3), True),
        ("1/2/2026 14:03:22 America/Chicago", z(2026, 1, 2, 20, 3, 22), False),
        ("11/20/2026 14:03:22-05:00", z(2026, 11, 20, 19, 3, 22), False),
        # an ISO date with a one-digit hour or a 12-hour clock, as spreadsheets export it
        ("2026-11-20 9:03:22", z(2026, 11, 20, 9, 3, 22), True),
        ("2026-11-20 09:03:22 AM", z(2026, 11, 20, 9, 3, 22), True),
        ("2026-11-20 2:03:22 PM", z(2026, 11, 20, 14, 3, 22), True),
        ("2026-11-20 9:03:22 AM America/New_York", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20 12:03 a.m. -05:00", z(2026, 11, 20, 5, 3), False),
        # UTC/GMT with an offset, as e-mails and Windows write it (UTC minus five hours)
        ("2026-11-20 09:03:22 UTC-5", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20T09:03:22 GMT-05:00", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20 19:33:22 UTC+5:30", z(2026, 11, 20, 14, 3, 22), False),
        # copied from a portal, an e-mail or a chat: bidi marks, no-break space, a minus sign
        ("\u202a2026-11-20 14:03:22Z\u202c", z(2026, 11, 20, 14, 3, 22), False),
        ("2026-11-20\u00a009:03:22\u2009\u221205:00", z(2026, 11, 20, 14, 3, 22), False),
        ("2026\u201011\u201020T14:03:22Z\u200b", z(2026, 11, 20, 14, 3, 22), False),
        # Unix time, seconds or milliseconds
        ("1795615402", z(2026, 11, 25, 14, 3, 22), False),
        ("1795615402.25", z(2026, 11, 25, 14, 3, 22, 250000), False),
        ("1795615402250", z(2026, 11, 25, 14, 3, 22, 250000), False),
    ],
)
def test_parse_instant(text: str, utc: datetime, naive: bool) -> None:
    got, was_naive = parse_instant(text)
    assert got == utc
    assert got.tzinfo is UTC
    assert was_naive is naive


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("yesterday at noon", "expected YYYY-MM-DD"),
        ("2026-11-20", "without a time"),
        ("2026-02-30T10:00:00Z", "day is out of range"),
        ("2026-11-20T24:00:00Z", "hour must be in"),
        ("2026-12-31T23:59:60Z", "leap second"),
        ("2026-11-20T10:00:00+25:00", "out of range"),
        ("2026-11-20T10:00:00 EST", "America/New_York"),
        ("11/20/2026 9:03 AM ET", "America/New_York"),
        ("2026-11-20 10:00:00 Mars/Base", "unknown time zone"),
        ("20/11/2026 14:03", "US month/day/year"),
        ("3125550100", "expected YYYY-MM-DD"),  # a phone number, not a Unix time in 2069
        ("11/20/2026 13:03 PM", "12-hour clock"),
        ("2026-11-20 13:03 PM", "12-hour clock"),
        # RFC 9557 §3.4: a critical zone that disagrees with the offset is an error
        ("2026-11-20T09:03:22-05:00[!America/Chicago]", "disagrees with the zone"),
        ("2026-11-20 09:03 UTC-25", "out of range"),
        ("2026-11-20T10:00:00[Mars/Base]", "unknown time zone"),
        ("20260230T140322Z", "day is out of range"),
    ],
)
def test_parse_instant_rejects_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_instant(text)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
       st.integers(-14 * 60, 14 * 60))
def test_parse_instant_round_trips_isoformat(wall: datetime, offset_min: int) -> None:
    aware = wall.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    got, naive = parse_instant(aware.isoformat())
    assert (got, naive) == (aware.astimezone(UTC), False)
    got, naive = parse_instant(wall.isoformat(sep=" "))
    assert (got, naive) == (wall.replace(tzinfo=UTC), True)
