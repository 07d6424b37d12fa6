"""Inquiry.parse: the one place raw inquiry fields become E.164 digits and UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracehop.errors import InquiryError
from tracehop.inquiry import DEFAULT_WINDOW_S, MAX_WINDOW_S, Inquiry


@pytest.mark.parametrize(
    "called", ["+13125550100", "(312) 555-0100", "312.555.0100", "1-312-555-0100",
               "tel:+1-312-555-0100", "sip:+13125550100@carrier.example;user=phone"],
)
def test_national_and_e164_forms_give_the_same_inquiry(called: str) -> None:
    inq = Inquiry.parse(called, "2026-11-20T14:03:22Z", "202-555-0111")
    assert inq.called_e164 == "+13125550100"
    assert inq.calling_e164 == "+12025550111"
    assert inq.called_raw == called
    assert inq.calling_raw == "202-555-0111"
    assert inq.time_utc == datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC)
    assert inq.naive_time is False
    assert inq.window_s == DEFAULT_WINDOW_S


def test_offsets_are_converted_to_utc() -> None:
    inq = Inquiry.parse("3125550100", "2026-11-20 09:03:22-05:00")
    assert inq.time_utc == datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC)
    assert inq.time_raw == "2026-11-20 09:03:22-05:00"
    zoned = Inquiry.parse("3125550100", "2026-11-01T01:30:00[America/New_York]")
    assert zoned.time_utc == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # first 01:30 (EDT)


def test_naive_time_is_read_as_utc_and_flagged() -> None:
    inq = Inquiry.parse("3125550100", "2026-11-20 14:03:22")
    assert inq.naive_time is True
    assert inq.time_utc == datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC)
    from_dt = Inquiry.parse("3125550100", datetime(2026, 11, 20, 14, 3, 22))
    assert from_dt.naive_time is True
    assert from_dt.time_utc == inq.time_utc
    aware = datetime(2026, 11, 20, 9, 3, 22, tzinfo=timezone(timedelta(hours=-5)))
    from_aware = Inquiry.parse("3125550100", aware)
    assert from_aware.naive_time is False
    assert from_aware.time_utc == inq.time_utc


def test_other_region_and_international_numbers() -> None:
    gb = Inquiry.parse("020 7946 0958", "2026-11-20T14:03:22Z", region="GB")
    assert gb.called_e164 == "+442079460958"
    intl = Inquiry.parse("011 44 20 7946 0958", "2026-11-20T14:03:22Z")
    assert intl.called_e164 == "+442079460958"


def test_window_optional_fields_and_extra() -> None:
    inq = Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", "", window="900", id="T-1",
                        duration="35", disposition="answered", extra={"ticket": "ITG-42"})
    assert inq.window_s == 900.0
    assert inq.calling_e164 is None and inq.calling_raw is None
    assert (inq.id, inq.duration_s, inq.disposition) == ("T-1", 35.0, "answered")
    assert inq.extra == {"ticket": "ITG-42"}
    assert Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", window=MAX_WINDOW_S).window_s == (
        MAX_WINDOW_S
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"called": None}, "called", "no called number"),
        ({"called": "  "}, "called", "no called number"),
        ({"called": "101"}, "called", "not a valid phone number"),
        ({"called": "anonymous"}, "called", "not a valid phone number"),
        ({"called": "555-0100"}, "called", "not a valid phone number"),
        ({"called": "+1312555*"}, "called", "wildcard"),
        ({"called": "312555%"}, "called", "wildcard"),
        ({"called": "+1312555010?"}, "called", "wildcard"),
        ({"time": None}, "time", "no time"),
        ({"time": ""}, "time", "no time"),
        ({"time": "20/11/2026 14:03"}, "time", "read as US month/day/year"),
        ({"time": "2026-11-20"}, "time", "without a time of day"),
        ({"time": "2026-02-30T10:00:00Z"}, "time", "day is out of range"),
        ({"time": "2026-11-20T10:00:00 EST"}, "time", "America/New_York"),
        ({"time": "2026-11-20 10:00:00 Mars/Base"}, "time", "unknown time zone"),
        ({"time": "11/20/2026 13:03 PM"}, "time", "12-hour clock"),
        ({"window": 86401}, "window", "outside"),
        ({"window": "172800"}, "window", "outside"),
        ({"window": 0}, "window", "outside"),
        ({"window": -120}, "window", "outside"),
        ({"window": "nan"}, "window", "outside"),
        ({"window": "inf"}, "window", "outside"),
        ({"window": "two minutes"}, "window", "not a number"),
        ({"window": "5 parsecs"}, "window", "not a number"),
        ({"window": "25h"}, "window", "outside"),
        ({"duration": "long"}, "duration", "not a number"),
        ({"duration": "-5"}, "duration", "negative"),
    ],
)
def test_bad_fields_raise_inquiry_error_naming_the_field(
    kwargs: dict[str, object], field: str, words: str
) -> None:
    args: dict[str, object] = {"called": "3125550100", "time": "2026-11-20T14:03:22Z"}
    args.update(kwargs)
    called, time = args.pop("called"), args.pop("time")
    with pytest.raises(InquiryError, match=words) as err:
        Inquiry.parse(called, time, **args)  # type: ignore[arg-type]
    assert err.value.field == field
    assert err.value.hint or err.value.field in ("window", "duration")


@pytest.mark.parametrize("window", ["5e-324", "0.0000001", "0"])
def test_a_window_below_a_millisecond_is_refused(window: str) -> None:
    with pytest.raises(InquiryError) as e:
        Inquiry.parse("+13125550100", "2026-11-20T14:03:22Z", window=window)
    assert e.value.field == "window"


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
                                  "1900-01-01T00:00:00Z"])
def test_an_instant_outside_the_supported_years_is_refused(time: str) -> None:
    with pytest.raises(InquiryError) as e:
        Inquiry.parse("+13125550100", time)
    assert e.value.field == "time"


@pytest.mark.parametrize("calling", ["s", "anonymous", "0000000000", "Restricted", "123"])
def test_a_calling_number_that_is_no_number_is_kept_as_written(calling: str) -> None:
    # The calling number is optional evidence, and spoofed caller IDs are often no valid
    # number: never a reason to refuse the inquiry (the matcher compares it as text).
    q = Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", calling)
    assert q.calling_e164 is None and q.calling_raw == calling and q.calling_unusable
    assert not Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", "2025550111").calling_unusable


def test_a_zone_reads_a_time_without_an_offset() -> None:
    """`zone` (an inquiry file's column, the HTTP API's field) is the zone of a naive time; a
    time with its own offset keeps it; an unreadable zone is the zone field's error."""
    a = Inquiry.parse("3125550100", "2026-11-20 08:03:22", zone="America/Chicago")
    b = Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", zone="America/Chicago")
    assert a.time_utc == b.time_utc and not a.naive_time
    with pytest.raises(InquiryError) as e:
        Inquiry.parse("3125550100", "2026-11-20 08:03:22", zone="CST")
    assert e.value.field == "zone" and "America/Chicago" in str(e.value)


@pytest.mark.parametrize(("window", "seconds"), [
    ("300", 300.0), ("±120", 120.0), ("90s", 90.0), ("5m", 300.0), ("5 min", 300.0),
    ("1h", 3600.0), ("1.5 hours", 5400.0), (45, 45.0),
])
def test_a_window_with_a_unit_is_read(window: object, seconds: float) -> None:
    """People write a window as they say it: "5m", "1h", "±120"."""
    inq = Inquiry.parse("3125550100", "2026-11-20T14:03:22Z", window=window)  # type: ignore[arg-type]
    assert inq.window_s == seconds
