"""An inquiry: "who handed you the call to this number at this time?" (DESIGN.md §5).

:meth:`Inquiry.parse` is the one place raw inquiry fields (from the CLI, a CSV/JSONL batch, or
the HTTP API) become validated values. Everything downstream only sees E.164 digits and aware
UTC datetimes, which is what lets the matcher inline them into SQL safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracehop.errors import InquiryError

DEFAULT_WINDOW_S = 120.0
#: The widest window anyone may ask for (DESIGN.md §7: a bounded window, never a range scan).
MAX_WINDOW_S = 24 * 3600.0
#: Below a millisecond a window rounds to nothing in the store's microsecond clock arithmetic.
MIN_WINDOW_S = 0.001
MIN_YEAR, MAX_YEAR = 1971, 9998


_WINDOW_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
                 "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
                 "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0}
_WINDOW = re.compile(r"\s*[±+]?\s*(?P<n>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<u>[A-Za-z]*)\s*")
WINDOW_HINT = "Give the half-width in seconds (300), or with a unit (90s, 5m, 1h)"


def window_seconds(value: float | str) -> float:
    """A window's half-width in seconds: a number, or a number with a unit as people write it
    on the command line and in inquiry files ("300", "±120", "90s", "5m", "1h"). ValueError
    otherwise. A bare "m" is minutes (nobody asks for a window in metres or months)."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    try:
        return float(text)  # also nan/inf, which the bounds check refuses
    except ValueError:
        pass
    m = _WINDOW.fullmatch(text)
    unit = _WINDOW_UNITS.get(m["u"].lower()) if m is not None else None
    if m is None or unit is None:
        raise ValueError(f"{value!r} is not a number of seconds")
    return float(m["n"]) * unit


@dataclass(frozen=True)
class Inquiry:
    called_e164: str
    time_utc: datetime  # aware, UTC
    calling_e164: str | None = None
    window_s: float = DEFAULT_WINDOW_S
    id: str | None = None
    called_raw: str | None = None
    calling_raw: str | None = None
    time_raw: str | None = None
    naive_time: bool = False  # the time carried no zone and was read as UTC
    #: "repeated" / "skipped": the time was a local wall time in a zone (no offset) that
    #: happened twice or never on a DST change day (timezones.parse_instant_dst); read by the
    #: fold=0 rule, and the answer says so, since the asker may have meant an hour away.
    time_dst: str | None = None
    #: The calling number given is no phone number ("anonymous", "0000000000", a spoofed
    #: impossible number): it is compared with the records as written, not as E.164.
    calling_unusable: bool = False
    duration_s: float | None = None
    disposition: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        called: str | None,
        time: str | datetime | None,
        calling: str | None = None,
        *,
        window: float | str | None = None,
        id: str | None = None,
        duration: float | str | None = None,
        disposition: str | None = None,
        region: str = "US",
        extra: dict[str, Any] | None = None,
        zone: str | None = None,
    ) -> Inquiry:
        """Validate raw inquiry fields. Raises :class:`InquiryError` naming the bad field.

        ``zone``: the IANA zone a ``time`` without an offset or zone of its own is read in
        (an inquiry file's ``zone`` column, the HTTP API's ``zone`` field)."""
        from tracehop.numbers import normalise_one, refusal
        from tracehop.timezones import in_zone, parse_instant_dst, zone_problem

        if called is None or not str(called).strip():
            raise InquiryError("the inquiry has no called number", field="called",
                               hint="Give the called number, e.g. +13125550100 or (312) 555-0100")
        called_s = str(called).strip()
        if any(ch in called_s for ch in "*%?[]"):
            raise InquiryError(f"called number {called_s!r} contains a wildcard", field="called",
                               hint="An inquiry names exactly one called number")
        called_e164 = normalise_one(called_s, region)
        if called_e164 is None:
            # Where the fix is known (a spreadsheet's rounded scientific notation, a local
            # number without its area code, vanity letters that dial no number), say it: the
            # asker can correct the inquiry, and "not valid" alone names no fix.
            reason, hint = refusal(called_s, region) or (
                None, "Use E.164 (+13125550100) or a national form")
            raise InquiryError(f"called number {called_s!r} is not a valid phone number"
                               + (f": {reason}" if reason else ""), field="called", hint=hint)
        # The calling number is optional evidence (DESIGN §5), and robocalls' caller IDs are
        # often no valid number at all: one that does not normalise is kept as written and
        # compared as text (the answer says so), never a reason to refuse the inquiry.
        calling_s = str(calling).strip() if calling is not None else ""
        calling_e164 = normalise_one(calling_s, region) if calling_s else None
        if time is None or (isinstance(time, str) and not time.strip()):
            raise InquiryError("the inquiry has no time", field="time",
                               hint="Give the call time in ISO 8601, e.g. 2026-11-20T14:03:22Z")
        dst: str | None = None
        if isinstance(time, datetime):
            naive = time.tzinfo is None
            from datetime import UTC
            t_utc = time.replace(tzinfo=UTC) if naive else time.astimezone(UTC)
            time_raw = time.isoformat()
        else:
            time_raw = str(time).strip()
            zone_s = str(zone).strip() if zone is not None else ""
            if zone_s:
                if (problem := zone_problem(zone_s)) is not None:
                    raise InquiryError(f"zone {zone_s!r} cannot be read ({problem})",
                                       field="zone",
                                       hint="Give an IANA zone name such as America/New_York")
                time_raw = in_zone(time_raw, zone_s)
            try:
                t_utc, naive, dst = parse_instant_dst(time_raw)
            except (ValueError, OverflowError) as e:
                raise InquiryError(f"time {time_raw!r} is not a date-time tracehop reads ({e})",
                                   field="time",
                                   hint="Use e.g. 2026-11-20T14:03:22Z, 2026-11-20 09:03:22-05:00, "
                                   "2026-11-20 09:03:22 America/New_York or 11/20/2026 9:03:22 "
                                   "AM America/New_York") from None
        # The matcher widens up to ±24 h and works in integer microseconds since the epoch, so an
        # instant must leave room on both sides; calls before 1970 or after 9998 are not real.
        if not (MIN_YEAR <= t_utc.year <= MAX_YEAR):
            raise InquiryError(f"time {time_raw!r} is outside the years {MIN_YEAR}-{MAX_YEAR}",
                               field="time", hint="Give the date and time of the call")
        window_s = DEFAULT_WINDOW_S
        if window is not None and str(window).strip() != "":
            try:
                window_s = window_seconds(window)
            except ValueError:
                raise InquiryError(f"window {window!r} is not a number of seconds",
                                   field="window", hint=WINDOW_HINT) from None
            if not (MIN_WINDOW_S <= window_s <= MAX_WINDOW_S):
                raise InquiryError(f"window ±{window_s:g}s is outside 0.001 <= window <= 86400 s",
                                   field="window",
                                   hint="An inquiry searches a bounded window of at most ±24 h")
        dur: float | None = None
        if duration is not None and str(duration).strip() != "":
            try:
                dur = float(duration)
            except ValueError:
                raise InquiryError(f"duration {duration!r} is not a number of seconds",
                                   field="duration") from None
            # NaN, infinity and negative durations would poison the duration score silently.
            if not (0 <= dur < float("inf")):
                raise InquiryError(f"duration {duration!r} is negative or not finite",
                                   field="duration", hint="Give the call duration in seconds")
        return cls(
            called_e164=called_e164,
            time_utc=t_utc,
            calling_e164=calling_e164,
            window_s=window_s,
            id=id,
            called_raw=called_s,
            calling_raw=calling_s or None,
            time_raw=time_raw,
            naive_time=naive,
            time_dst=dst,
            calling_unusable=bool(calling_s) and calling_e164 is None,
            duration_s=dur,
            disposition=(disposition or None),
            extra=dict(extra or {}),
        )
