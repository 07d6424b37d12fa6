"""Scoring and ranking of candidate legs, confidence, and ambiguity (DESIGN.md §5).

Score of one candidate (higher is better), summed from what the inquiry lets us check:

=========================  ==========================================================
time                       ``1 - 0.5 * dist / half``: 1 at the step's centre, 0.5 at its
                           edge (a record at the edge of the window is still plausible);
                           in the ±15 min step, from 0.5 just outside the window down to 0
                           at 15 min, so that a record never scores higher for being
                           further away than the window's edge
calling number             +1.5 when the inquiry's calling number equals the leg's
                           calling or P-Asserted-Identity number: spoofed numbers are
                           usually passed through unchanged, so agreement is strong;
                           -0.5 when both are known and differ (weak: translation happens).
                           A caller ID that is no phone number ("anonymous", 0000000000)
                           is compared as written: +1.5 when the leg's raw text agrees
duration (if asked)        +0.5 within 2 s, 0 within 10 s, -0.25 beyond
disposition (if asked)     +0.25 same, -0.25 different
STIR (if the leg has it)   orig_tn = inquiry calling +0.5 / differs -0.25;
                           dest_tn = called +0.25 / differs -0.25 (:func:`same_tn`:
                           a NANP number without its "1" agrees; any of several dests);
                           iat within 60 s of the inquiry time (+ step offset) +0.25
=========================  ==========================================================

Ambiguity: the best candidate is *not clearly ahead* when another candidate whose ingress
resolves to a different hand-off (another peer, or another unmapped trunk/IP) scores within
:data:`MARGIN` of it. With only time to go on, that is two calls less than half a window apart
(e.g. 60 s of a ±120 s window). Legs that resolve to the same upstream cannot make the answer
ambiguous: whichever it was, the same provider handed it to us.

Confidence in [0, 1]: ``logistic(3 * (score - 0.25))`` (a lone call at the window's centre
with nothing else to check gives 0.9; calling-number agreement pushes it past 0.99), times
0.85 for the ±15 min step or 0.7 for an hour offset, times 0.9 for a leg whose direction is
unknown, times ``0.5 + 0.5 * min(1, gap / (2 * MARGIN))`` where ``gap`` is the lead over the
best candidate with a different hand-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracehop.inquiry import Inquiry
from tracehop.match.spec import US

MARGIN = 0.25
MAX_ALTERNATIVES = 5

_STEP_FACTOR = {0: 1.0, 1: 0.85}
_HOP_STEP_FACTOR = 0.7

_DISPOSITION_ALIASES = {
    "answer": "answered",
    "answered": "answered",
    "no answer": "no_answer",
    "no_answer": "no_answer",
    "noanswer": "no_answer",
    "busy": "busy",
    "failed": "failed",
    "fail": "failed",
    "cancel": "cancelled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}

Row = dict[str, Any]


@dataclass
class Candidate:
    """One possible answer: ``leg`` is the inbound (or unknown-direction) leg answered with;
    ``matched`` is the row that matched the called number and time (the egress leg when the
    inbound leg was found through the call's correlation id)."""

    leg: Row
    matched: Row
    step: int
    dist_us: int
    score: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def via_egress(self) -> bool:
        return self.matched is not self.leg


def same_tn(tn: str | None, e164: str) -> bool | None:
    """Whether a PASSporT telephone number (``orig_tn``, or ``dest_tn``, where several
    destinations are joined with ",") names ``e164``; None when it holds no digits.

    Compared by digits, each destination on its own: "13125550199,13125550100" names
    +13125550100 (concatenated, the digits matched nothing). A NANP number written without
    its country code (``2025550111``) is the same number: RFC 8224 §8.3 leaves the
    canonical form of a national number to local policy and US signers write both, so
    without this a genuine PASSporT counted against its own call and was flagged as replayed.
    """
    if not tn:
        return None
    want = e164.lstrip("+")
    seen = False
    for part in tn.split(","):
        d = "".join(ch for ch in part if ch.isdigit())
        if not d:
            continue
        seen = True
        if d == want or (len(d) == 10 and want == "1" + d):
            return True
    return False if seen else None


def _disposition(text: str | None) -> str | None:
    if text is None:
        return None
    return _DISPOSITION_ALIASES.get(text.strip().lower().replace("-", " "), text.strip().lower())


def _epoch_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * US)


def _as_written(value: object) -> str:
    """A caller ID as text to compare: its digits when it has any (a leading US country code
    dropped, so 10 and 11 digits agree), else its letters lower-cased ("Anonymous")."""
    text = str(value).strip()
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    if digits:
        return digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def score_candidate(c: Candidate, inq: Inquiry, t_us: int, half_us: int, centre_us: int,
                    inner_us: int = 0) -> None:
    """Fill ``c.score`` and ``c.parts`` (see the table in the module docstring).
    ``inner_us``: the half-width of the step searched before this one around the same centre
    (the inquiry's window, for the ±15 min step), where the time part goes on from 0.5."""
    parts: dict[str, float] = {}
    if 0 < inner_us < half_us:
        beyond = max(0, c.dist_us - inner_us) / (half_us - inner_us)
        parts["time"] = 0.5 * (1.0 - min(1.0, beyond))
    else:
        parts["time"] = 1.0 - 0.5 * min(1.0, c.dist_us / half_us) if half_us > 0 else 1.0
    leg = c.leg
    if inq.calling_e164:
        known = [x for x in (leg.get("calling_e164"), leg.get("pai_e164"),
                             c.matched.get("calling_e164")) if x]
        if known:
            parts["calling"] = 1.5 if inq.calling_e164 in known else -0.5
    elif inq.calling_unusable and inq.calling_raw:
        # No E.164 to compare ("anonymous", "0000000000"): the records keep the caller ID as
        # the switch saw it, so the same text (digits, or letters ignoring case) still agrees.
        # A different one is no evidence against: "Restricted" at the far end may be a real
        # number in our records.
        mine, theirs = _as_written(inq.calling_raw), leg.get("calling_raw")
        if mine and theirs and _as_written(theirs) == mine:
            parts["calling"] = 1.5
    if inq.duration_s is not None and leg.get("duration_s") is not None:
        diff = abs(float(leg["duration_s"]) - inq.duration_s)
        parts["duration"] = 0.5 if diff <= 2 else (0.0 if diff <= 10 else -0.25)
    want = _disposition(inq.disposition)
    have = _disposition(leg.get("disposition"))
    if want and have and have != "unknown":
        parts["disposition"] = 0.25 if want == have else -0.25
    orig = same_tn(leg.get("orig_tn"), inq.calling_e164) if inq.calling_e164 else None
    if orig is not None:
        parts["stir_orig"] = 0.5 if orig else -0.25
    dest = same_tn(leg.get("dest_tn"), inq.called_e164)
    if dest is not None:
        parts["stir_dest"] = 0.25 if dest else -0.25
    iat = _epoch_us(leg.get("iat_utc"))
    if iat is not None and abs(iat - (t_us + centre_us)) <= 60 * US:
        parts["stir_iat"] = 0.25
    c.parts = parts
    c.score = round(sum(parts.values()), 6)


def call_key(row: Row) -> str:
    """Legs with the same key are one call (so they never compete with each other)."""
    for col in ("correlation_id", "call_id"):
        v = row.get(col)
        if v:
            return f"{col}:{v}"
    return f"leg:{row['leg_id']}"


def is_egress(row: Row) -> bool:
    return row.get("direction") == "outbound"


@dataclass
class Decision:
    best: Candidate
    others: list[Candidate]  # ranked, bounded
    ambiguous: bool
    confidence: float
    contenders: int  # candidates within MARGIN with another hand-off


def rank(
    cands: list[Candidate],
    handoff: Callable[[Row], Hashable],
) -> Decision:
    """Rank scored candidates (all from one step); decide ambiguity and confidence."""
    # One candidate per call: the best-placed leg of it, preferring a direct inbound leg.
    per_call: dict[str, Candidate] = {}
    for c in cands:
        k = call_key(c.leg)
        cur = per_call.get(k)
        if cur is None or _same_call_order(c) < _same_call_order(cur):
            per_call[k] = c
    ordered = sorted(per_call.values(), key=_order)
    best = ordered[0]
    mine = handoff(best.leg)
    rivals = [c for c in ordered[1:] if handoff(c.leg) != mine]
    gap = best.score - rivals[0].score if rivals else math.inf
    contenders = sum(1 for c in rivals if best.score - c.score < MARGIN)
    ambiguous = contenders > 0
    conf = 1.0 / (1.0 + math.exp(-3.0 * (best.score - 0.25)))
    conf *= _STEP_FACTOR.get(best.step, _HOP_STEP_FACTOR)
    if (best.leg.get("direction") or "unknown") != "inbound":
        conf *= 0.9
    conf *= 0.5 + 0.5 * min(1.0, gap / (2 * MARGIN))
    return Decision(best, ordered[1 : 1 + MAX_ALTERNATIVES], ambiguous,
                    round(max(0.0, min(1.0, conf)), 4), contenders)


def _same_call_order(c: Candidate) -> tuple[int, int, tuple[float, int, int, str]]:
    """Among legs of one call: an inbound leg before one of unknown direction, then the
    answered record before a failed attempt of the same call (a Ribbon ATTEMPT whose STOP is
    in the next file, a retry after a failed route), then by rank."""
    return (0 if c.leg.get("direction") == "inbound" else 1,
            0 if c.leg.get("disposition") == "answered" else 1, _order(c))


def _order(c: Candidate) -> tuple[float, int, int, str]:
    """Total order: score, then time distance, then direct before via-egress, then leg_id."""
    return (-c.score, c.dist_us, 1 if c.via_egress else 0, str(c.leg["leg_id"]))
