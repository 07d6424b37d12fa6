"""The widening steps (DESIGN.md §5): the window, ±15 min, then whole-hour offsets to ±24 h.

A record that is exactly one or more hours off the inquiry is the signature of a time-zone or
DST slip (a local time read as UTC, a switch clock on the wrong zone, the repeated hour of a
fall-back day), so after ±15 min the matcher looks at ±window around T+k·1h, k = 1 .. 24, and
answers from the first *level* that found an inbound leg: the window, ±15 min, then each k with
both of its directions (+k h and -k h are one level, so that a leg one hour early and one an
hour late are scored against each other rather than the later one never being seen).

The step numbers are the ones :func:`tracehop.match.sql.candidate_sql` computes in SQL; this
module is their Python twin (same rounding: half away from zero), used to label and to test.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from tracehop.match.spec import HOUR_US, MAX_OFFSET_H, US, WIDE_US


@dataclass(frozen=True)
class Step:
    index: int
    label: str  # what searched.step and the warning say
    centre_us: int  # offset of the step's centre from the inquiry time
    half_us: int  # half-width around the centre


def _fmt_window(w_us: int) -> str:
    s = w_us / US
    return f"±{s:g}s"


def hour_k(d_us: int) -> int:
    """Nearest whole hour of an offset, rounding half away from zero (SQL ``ROUND``)."""
    x = d_us / float(HOUR_US)
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def step_of(d_us: int, w_us: int) -> int | None:
    """The widening step an offset ``d_us`` (record minus inquiry) falls in, or None."""
    if abs(d_us) <= w_us:
        return 0
    if w_us < WIDE_US and abs(d_us) <= WIDE_US:
        return 1
    k = hour_k(d_us)
    if 1 <= abs(k) <= MAX_OFFSET_H and abs(d_us - HOUR_US * k) <= w_us:
        return 2 * abs(k) + (1 if d_us < 0 else 0)
    return None


def level(step: int) -> int:
    """The search level of a step: +k h (2k) and -k h (2k+1) share level 2k."""
    return step if step < 2 else step - step % 2


def dist_of(d_us: int, step: int) -> int:
    """Distance of an offset from the centre of its step (µs)."""
    if step >= 2:
        return abs(d_us - HOUR_US * hour_k(d_us))
    return abs(d_us)


@functools.lru_cache(maxsize=4096)
def describe(index: int, w_us: int, *, dst_hint: bool = False) -> Step:
    """The step with this index, for an inquiry window of ``w_us``."""
    if index == 0:
        return Step(0, _fmt_window(w_us), 0, w_us)
    if index == 1:
        return Step(1, "±15min", 0, WIDE_US)
    k = index // 2
    sign = -1 if index % 2 else 1
    why = "DST repeated hour?" if dst_hint and k == 1 else "time-zone slip?"
    return Step(index, f"{'+' if sign > 0 else '-'}{k}h offset ({why})", sign * k * HOUR_US,
                w_us)


def steps_through(index: int, w_us: int) -> list[str]:
    """Labels of every step tried up to and including ``index`` (in search order)."""
    return list(_steps_through(index, w_us))


# A batch asks for the same few (step, window) pairs thousands of times.
@functools.lru_cache(maxsize=4096)
def _steps_through(index: int, w_us: int) -> tuple[str, ...]:
    out: list[str] = []
    if index >= last_index():
        # Everything was tried: say so in three items rather than fifty.
        out.append(describe(0, w_us).label)
        if w_us < WIDE_US:
            out.append(describe(1, w_us).label)
        out.append(f"whole-hour offsets ±1h..±{MAX_OFFSET_H}h, each {describe(0, w_us).label}")
        return tuple(out)
    for i in range(index + 1):
        if i == 1 and w_us >= WIDE_US:
            continue  # the window is already wider than ±15 min
        out.append(describe(i, w_us).label)
    return tuple(out)


def last_index() -> int:
    return 2 * MAX_OFFSET_H + 1


def reach_us(index: int, w_us: int) -> int:
    """How far from the inquiry time the search reached once step ``index`` was tried."""
    if index == 0:
        return w_us
    if index == 1:
        return max(w_us, WIDE_US)
    # Step k takes a record only when k is its *nearest* whole hour, so it reaches at most
    # half an hour past k h, however wide the window: k h + window overstated it (±48 h for
    # a ±24 h window, in the `searched` of a not_found answer). The window itself (step 0)
    # may reach further than that.
    return max(w_us, WIDE_US, (index // 2) * HOUR_US + min(w_us, HOUR_US // 2))
