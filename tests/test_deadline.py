"""The 24-hour clock: business hours, weekends, holidays and DST in America/New_York."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracehop.errors import ConfigError, ZoneError
from tracehop.respond.deadline import Clock, clock_from_mapping, load_clock

WEEKDAYS_8_TO_18 = {d: "08:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def ny_clock(**extra: object) -> Clock:
    return clock_from_mapping({"zone": "America/New_York", **WEEKDAYS_8_TO_18, **extra})


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


def test_inside_business_hours_the_clock_starts_at_once() -> None:
    d = ny_clock().deadline_for(utc("2026-11-18T10:15:00-05:00"))  # Wednesday
    assert d.clock_start_utc == utc("2026-11-18T10:15:00-05:00")
    assert d.deadline_utc == utc("2026-11-19T10:15:00-05:00")


def test_friday_evening_counts_from_monday_opening() -> None:
    d = ny_clock().deadline_for(utc("2026-11-20T19:30:00-05:00"))  # Friday 19:30 EST
    assert d.clock_start_utc == utc("2026-11-23T08:00:00-05:00")  # Monday 08:00
    assert d.deadline_utc == utc("2026-11-24T08:00:00-05:00")


def test_early_morning_counts_from_the_same_days_opening() -> None:
    d = ny_clock().deadline_for(utc("2026-11-18T06:59:00-05:00"))
    assert d.clock_start_utc == utc("2026-11-18T08:00:00-05:00")


def test_fall_back_weekend_monday_opening_is_0800_est_not_0700() -> None:
    # DST ends Sunday 2026-11-01. Friday 30 Oct 19:00 EDT -> Monday 2 Nov 08:00 EST (13:00Z).
    # A naive "+ 3 days" in UTC from Friday's 08:00 EDT (12:00Z) would give 07:00 EST.
    d = ny_clock().deadline_for(utc("2026-10-30T19:00:00-04:00"))
    assert d.clock_start_utc == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    assert d.deadline_utc == datetime(2026, 11, 3, 13, 0, tzinfo=UTC)


def test_spring_forward_weekend_monday_opening_is_0800_edt() -> None:
    # DST starts Sunday 2026-03-08. Friday 6 Mar 18:30 EST -> Monday 9 Mar 08:00 EDT (12:00Z).
    d = ny_clock().deadline_for(utc("2026-03-06T18:30:00-05:00"))
    assert d.clock_start_utc == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def test_the_24_hours_are_elapsed_hours_across_the_dst_change() -> None:
    # Open every day: received Saturday 31 Oct 10:00 EDT; 24 h later is Sunday 09:00 EST.
    c = clock_from_mapping({"zone": "America/New_York",
                            **{d: "00:00-24:00" for d in
                               ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    d = c.deadline_for(utc("2026-10-31T10:00:00-04:00"))
    assert d.deadline_utc - d.clock_start_utc == timedelta(hours=24)
    assert d.deadline_utc == utc("2026-11-01T09:00:00-05:00")


def test_an_opening_inside_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    c = clock_from_mapping({"zone": "America/New_York", "sun": "02:30-10:00"})
    d = c.deadline_for(utc("2026-03-07T12:00:00-05:00"))  # Saturday
    # 02:30 does not exist on 8 March: fold=0 lands on 03:30 EDT = 07:30Z.
    assert d.clock_start_utc == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_holidays_are_skipped() -> None:
    c = ny_clock(holidays=["2026-11-26", "2026-11-27"])  # Thanksgiving Thu + Fri
    d = c.deadline_for(utc("2026-11-25T18:05:00-05:00"))  # Wednesday after closing
    assert d.clock_start_utc == utc("2026-11-30T08:00:00-05:00")  # Monday


def test_split_hours_lunch_break() -> None:
    c = clock_from_mapping({"zone": "America/New_York", "mon": "08:00-12:00, 13:00-17:00"})
    d = c.deadline_for(utc("2026-11-23T12:30:00-05:00"))
    assert d.clock_start_utc == utc("2026-11-23T13:00:00-05:00")


def test_without_hours_the_clock_runs_around_the_clock() -> None:
    d = Clock().deadline_for(utc("2026-11-21T23:00:00-05:00"))  # Saturday night
    assert d.clock_start_utc == d.received_utc
    assert d.deadline_utc == d.received_utc + timedelta(hours=24)


def test_state_late_near_ok_and_warnings() -> None:
    d = Clock().deadline_for(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert d.state_at(datetime(2026, 11, 20, 13, 0, tzinfo=UTC)) == "ok"
    assert d.warning(datetime(2026, 11, 20, 13, 0, tzinfo=UTC)) is None
    near = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    assert d.state_at(near) == "near"
    assert "1 h 30 min left" in (d.warning(near) or "")
    late = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
    assert d.state_at(late) == "late"
    assert "passed 2 h 00 min before" in (d.warning(late) or "")
    assert d.to_dict(late)["remaining_s"] == -7200.0


def test_load_clock_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "hours.toml"
    p.write_text('[hours]\nzone = "America/Chicago"\nnear_hours = 4\n'
                 'mon = "09:00-17:00"\nholidays = [2026-12-25]\n')
    c = load_clock(p)
    assert c.near == timedelta(hours=4)
    d = c.deadline_for(utc("2026-11-21T12:00:00-06:00"))  # Saturday
    assert d.clock_start_utc == utc("2026-11-23T09:00:00-06:00")


@pytest.mark.parametrize(
    ("table", "err", "match"),
    [
        ({"mon": "08:00-18:00"}, ZoneError, "need a zone"),
        ({"zone": "Mars/Olympus", "mon": "08:00-18:00"}, ZoneError, "unknown time zone"),
        # an abbreviation is a fixed offset: an hour off all summer (as --tz refuses it)
        ({"zone": "EST", "mon": "08:00-18:00"}, ZoneError, "abbreviation"),
        ({"zone": "UTC", "mon": "8am-6pm"}, ConfigError, "not a range"),
        ({"zone": "UTC", "mon": "18:00-08:00"}, ConfigError, "closes before it opens"),
        ({"zone": "UTC", "mon": "08:00-18:00", "opne": 1}, ConfigError, "unknown key"),
        ({"zone": "UTC"}, ConfigError, "no weekday is open"),
        # TOML has nan and inf; they were a traceback from timedelta, not a config error
        ({"deadline_hours": float("nan")}, ConfigError, "deadline_hours"),
        ({"near_hours": float("inf")}, ConfigError, "near_hours"),
        ({"deadline_hours": 1e12}, ConfigError, "deadline_hours"),
        ({"deadline_hours": True}, ConfigError, "deadline_hours"),
    ],
)
def test_bad_hours_are_refused_with_a_reason(table: dict[str, object], err: type[Exception],
                                              match: str) -> None:
    with pytest.raises(err, match=match):
        clock_from_mapping(table, path="hours.toml")
