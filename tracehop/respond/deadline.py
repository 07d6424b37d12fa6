"""The 24-hour clock on every traceback inquiry (47 CFR 64.1200(n)(1); domain.md §1.5).

Every provider must answer a traceback request fully within 24 hours. For a provider without
after-hours staff the FCC lets the clock start at the next opening: a request received outside
business hours is "deemed received" when the business opens (the Seventh Report and Order
uses 8:00 a.m.). So:

    clock_start = received            if received falls inside business hours
                = next opening        otherwise (evenings, weekends, holidays)
    deadline    = clock_start + 24 h  (elapsed hours, not wall-clock: across a DST change
                                       the deadline is 23 or 25 wall-clock hours later)

Business hours are local wall-clock times in one IANA zone, per weekday, with a list of
holiday dates, so the opening is computed in local time and converted to UTC with zoneinfo:
"Monday 08:00" stays 08:00 local on both sides of a DST change. An opening time that does
not exist on a spring-forward day is moved forward by the gap (zoneinfo ``fold=0``, the rule
of tracehop.timezones); an opening in the repeated hour of a fall-back day is the first
occurrence.

Without a business-hours configuration the clock runs 24/7 from the received time.

Configuration (TOML, ``tracehop respond --hours FILE``)::

    [hours]
    zone = "America/New_York"
    deadline_hours = 24          # default 24
    near_hours = 2               # flag answers with less than this left; default 2
    holidays = ["2026-11-26", "2026-12-25"]
    mon = "08:00-18:00"          # one or more ranges, comma-separated; "" or absent = closed
    tue = "08:00-18:00"
    wed = "08:00-12:00, 13:00-18:00"
    thu = "08:00-18:00"
    fri = "08:00-18:00"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tracehop.errors import ConfigError, ZoneError
from tracehop.timezones import resolve_zone
from tracehop.tomlfile import read_toml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DEADLINE = timedelta(hours=24)
DEFAULT_NEAR = timedelta(hours=2)

ClockState = Literal["ok", "near", "late"]

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours in one zone. ``opening[weekday]`` = list of (open, close) local times;
    a close of ``None`` means midnight at the end of the day."""

    zone: ZoneInfo
    opening: dict[int, list[tuple[time, time | None]]]
    holidays: frozenset[date] = frozenset()

    def is_open_local(self, local: datetime) -> bool:
        if local.date() in self.holidays:
            return False
        t = local.time().replace(tzinfo=None, fold=0)
        for start, end in self.opening.get(local.weekday(), []):
            if start <= t and (end is None or t < end):
                return True
        return False

    def clock_start(self, received_utc: datetime) -> datetime:
        """When the 24-hour clock starts for a request received at ``received_utc`` (UTC)."""
        local = received_utc.astimezone(self.zone)
        if self.is_open_local(local):
            return received_utc.astimezone(UTC)
        day = local.date()
        t_now = local.time().replace(tzinfo=None, fold=0)
        for offset in range(370):  # a year of closed days would be a configuration error
            d = day + timedelta(days=offset)
            if d in self.holidays:
                continue
            for start, _end in sorted(self.opening.get(d.weekday(), []),
                                      key=lambda r: r[0]):
                if offset == 0 and start <= t_now:
                    continue
                return _local_to_utc(datetime.combine(d, start), self.zone)
        raise ConfigError("business hours never open within a year of "
                          f"{received_utc.isoformat()}",
                          hint="Give opening hours for at least one weekday")


@dataclass(frozen=True)
class Clock:
    """How the 24-hour clock is counted: optional business hours, deadline and warning span."""

    hours: BusinessHours | None = None
    deadline_after: timedelta = DEFAULT_DEADLINE
    near: timedelta = DEFAULT_NEAR

    def deadline_for(self, received_utc: datetime) -> Deadline:
        received_utc = received_utc.astimezone(UTC)
        start = self.hours.clock_start(received_utc) if self.hours else received_utc
        return Deadline(received_utc=received_utc, clock_start_utc=start,
                        deadline_utc=start + self.deadline_after, near=self.near)


@dataclass(frozen=True)
class Deadline:
    received_utc: datetime
    clock_start_utc: datetime
    deadline_utc: datetime
    near: timedelta = DEFAULT_NEAR

    def state_at(self, now_utc: datetime) -> ClockState:
        left = self.deadline_utc - now_utc
        if left < timedelta(0):
            return "late"
        if left < self.near:
            return "near"
        return "ok"

    def to_dict(self, answered_utc: datetime) -> dict[str, Any]:
        left = (self.deadline_utc - answered_utc).total_seconds()
        return {
            "received_utc": _iso(self.received_utc),
            "clock_start_utc": _iso(self.clock_start_utc),
            "deadline_utc": _iso(self.deadline_utc),
            "answered_utc": _iso(answered_utc),
            "remaining_s": round(left, 3),
            "state": self.state_at(answered_utc),
        }

    def warning(self, answered_utc: datetime) -> str | None:
        """A sentence for the answer's warnings when it is late or close to its deadline."""
        state = self.state_at(answered_utc)
        left = self.deadline_utc - answered_utc
        if state == "late":
            return (f"late: the 24-hour deadline {_iso(self.deadline_utc)} passed "
                    f"{_span(-left)} before this answer (47 CFR 64.1200(n)(1))")
        if state == "near":
            return (f"near deadline: {_span(left)} left before {_iso(self.deadline_utc)}; "
                    "submit this answer now")
        return None


def load_clock(path: str | Path) -> Clock:
    """Read a business-hours TOML file (see the module docstring for the form)."""
    p = Path(path)
    data, _ = read_toml(p, ConfigError, "the business-hours file",
                        missing_hint="Check the --hours path")
    table = data.get("hours", data)
    if not isinstance(table, dict):
        raise ConfigError("[hours] must be a table", path=p)
    return clock_from_mapping(table, path=p)


def clock_from_mapping(table: dict[str, Any], *, path: str | Path | None = None) -> Clock:
    """Build a :class:`Clock` from the ``[hours]`` table (also used for options)."""
    known = {"zone", "deadline_hours", "near_hours", "holidays", *WEEKDAYS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in [hours]: {', '.join(unknown)}", path=path,
                          hint=f"Allowed keys: {', '.join(sorted(known))}")
    deadline = _hours(table.get("deadline_hours", 24), "deadline_hours", path)
    near = _hours(table.get("near_hours", 2), "near_hours", path)
    has_days = any(k in table for k in WEEKDAYS)
    if "zone" not in table:
        if has_days:
            raise ZoneError("business hours need a zone", path=path,
                            hint='Add zone = "America/New_York" (the zone of the opening hours)')
        return Clock(None, deadline, near)
    zone_name = str(table["zone"])
    try:
        # The same rule as --tz (docs/decisions.md, "Zone names: IANA only"): "EST" is a
        # fixed UTC-5, so opening hours would be an hour off all summer.
        zone = resolve_zone(zone_name)
    except ZoneError as e:
        raise ZoneError(f"zone: {e.message}", path=path, hint=e.hint) from None
    opening: dict[int, list[tuple[time, time | None]]] = {}
    for i, day in enumerate(WEEKDAYS):
        spec = table.get(day, "")
        if not isinstance(spec, str):
            raise ConfigError(f"{day} = {spec!r} must be a string like \"08:00-18:00\"",
                              path=path)
        ranges = [r for r in spec.split(",") if r.strip()]
        opening[i] = [_parse_range(r, day, path) for r in ranges]
    holidays: set[date] = set()
    for h in table.get("holidays", []):
        try:
            holidays.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
        except ValueError:
            raise ConfigError(f"holiday {h!r} is not a date (YYYY-MM-DD)", path=path) from None
    if not any(opening.values()):
        raise ConfigError("business hours are given but no weekday is open", path=path,
                          hint='Add e.g. mon = "08:00-18:00"')
    return Clock(BusinessHours(zone, opening, frozenset(holidays)), deadline, near)


def _parse_range(text: str, day: str, path: str | Path | None) -> tuple[time, time | None]:
    m = _RANGE.match(text)
    if not m:
        raise ConfigError(f"{day}: {text.strip()!r} is not a range like 08:00-18:00", path=path)
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ConfigError(f"{day}: {text.strip()!r} is not a valid time range", path=path)
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ConfigError(f"{day}: {text.strip()!r} closes before it opens", path=path,
                          hint="Ranges cannot cross midnight; split them over two days")
    return start, end


#: The most hours a deadline or warning span may be: a year. TOML allows nan, inf and 1e12,
#: which timedelta turns into a ValueError/OverflowError traceback instead of a config error.
MAX_CONFIG_HOURS = 366 * 24.0


def _hours(v: Any, key: str, path: str | Path | None) -> timedelta:
    if isinstance(v, bool):  # float(True) is 1.0: a typo, not one hour
        raise ConfigError(f"{key} = {v!r} is not a number of hours", path=path)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} = {v!r} is not a number of hours", path=path) from None
    if f < 0:
        raise ConfigError(f"{key} = {v!r} is negative", path=path)
    if not f <= MAX_CONFIG_HOURS:  # also nan
        raise ConfigError(f"{key} = {v!r} is not a number of hours up to "
                          f"{MAX_CONFIG_HOURS:g}", path=path, hint=f"e.g. {key} = 24")
    return timedelta(hours=f)


def _local_to_utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time -> UTC with the fold=0 rule; a time in a spring-forward gap is moved
    forward by the gap (round trip through UTC normalises it)."""
    # For a nonexistent local time (spring-forward gap) fold=0 applies the offset from before
    # the gap, which lands the instant after the gap: shifted forward by the gap, as wanted.
    return naive_local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _span(td: timedelta) -> str:
    s = int(td.total_seconds())
    h, rem = divmod(s, 3600)
    m = rem // 60
    return f"{h} h {m:02d} min" if h else f"{m} min"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
