"""TracebackAnswer: what tracehop says back for one inquiry (DESIGN.md §6).

The JSON form is a public contract; its JSON Schema is published as
``tracehop/schemas/traceback_answer.schema.json`` and a test checks every answer the matcher
produces against it. Keep :meth:`TracebackAnswer.to_dict` and that schema in step.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

Status = Literal["upstream", "originating", "point_of_entry", "unmapped", "not_found", "ambiguous"]
STATUSES: tuple[str, ...] = (
    "upstream",
    "originating",
    "point_of_entry",
    "unmapped",
    "not_found",
    "ambiguous",
)


@dataclass(frozen=True)
class InquiryEcho:
    """The inquiry as understood: normalised numbers and the UTC instant searched around."""

    called: str  # E.164
    time_utc: str  # ISO 8601 with Z
    calling: str | None = None  # E.164, if given
    called_raw: str | None = None  # as the asker wrote it
    calling_raw: str | None = None
    time_raw: str | None = None
    window_s: float | None = None
    id: str | None = None  # the asker's reference, echoed back
    extra: dict[str, Any] = field(default_factory=dict)  # further columns given, echoed


#: The echo's own keys. An inquiry file's further column of one of these names (a
#: ``time_utc`` column beside ``time``) is not echoed: it would stand for what tracehop
#: understood and searched, which it is not.
_ECHO_KEYS: frozenset[str] = frozenset(
    f for f in InquiryEcho.__dataclass_fields__ if f != "extra")


def _echoable(extra: dict[str, Any]) -> dict[str, Any]:
    if _ECHO_KEYS.isdisjoint(extra):
        return extra
    return {k: v for k, v in extra.items() if k not in _ECHO_KEYS}


@dataclass(frozen=True)
class Upstream:
    provider: str | None  # null for `unmapped`
    ocn: str | None = None
    trunk: str | None = None
    ip: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Customer:
    account: str | None
    name: str | None = None


@dataclass(frozen=True)
class Evidence:
    source: str | None
    file: str | None
    record: int | None


@dataclass(frozen=True)
class Match:
    leg_id: str
    start_utc: str
    offset_s: float  # leg start minus inquiry time, seconds
    called_raw: str | None
    calling_raw: str | None
    call_id: str | None
    evidence: Evidence
    stir: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    direction: str | None = None
    ingress_trunk: str | None = None
    ingress_ip: str | None = None
    account: str | None = None
    disposition: str | None = None
    duration_s: float | None = None
    provider: str | None = None  # the peer this leg's ingress maps to, if any


@dataclass(frozen=True)
class Searched:
    """Where the matcher looked. ``from_utc``..``to_utc`` is the outer reach of the steps
    tried, not a range searched whole: past ±15 min only ±window around each whole-hour offset
    is searched (:mod:`tracehop.match.widen`). :meth:`windows` says what was searched."""

    from_utc: str
    to_utc: str
    step: str  # e.g. "±120s", "±15min", "+1h (time-zone slip)"
    steps_tried: list[str] = field(default_factory=list)

    @property
    def continuous(self) -> bool:
        """True when ``from_utc``..``to_utc`` was searched whole: only the window and ±15 min
        were tried (both centred on the inquiry time). Unknown (no steps) counts as whole."""
        return all(label.startswith("±") for label in self.steps_tried)

    def windows(self) -> list[str]:
        """Each window searched, relative to the inquiry time, in search order.

        ``["±120s", "±15min", "±120s around +1h (time-zone slip?)"]``; when every step was
        tried the hour offsets are one item, ``"whole-hour offsets ±1h..±24h, each ±120s"``.
        """
        first = self.steps_tried[0] if self.steps_tried else ""
        out = []
        for label in self.steps_tried:
            m = _HOUR_STEP.match(label)
            out.append(f"{first} around {m[1]}{m[2] or ''}" if m and first else label)
        return out

    def found_window(self) -> str | None:
        """The item of :meth:`windows` that found the record (the one of ``step``): with both
        directions of an hour searched as one level, not necessarily the last one tried."""
        windows = self.windows()
        if not windows:
            return None
        if self.step in self.steps_tried:
            return windows[self.steps_tried.index(self.step)]
        return windows[-1]


#: Warnings about calls other than the one answered. The matcher writes one of these
#: sentences, then the other calls' details in brackets; the HTTP responder sends the sentence
#: alone (:func:`tracehop.service.app.for_requester`; DESIGN §7: nothing about other calls).
EGRESS_ONLY: Final = ("found egress (outbound) legs to this number but no inbound leg of those "
                      "calls: the records of the inbound side may be missing from the store")
OTHER_CALLING: Final = ("the call found came from another calling number than the inquiry's: it "
                        "may be another call; check before naming this hand-off")
SET_ASIDE: Final = ("a call nearer the inquiry time came from another calling number: set aside "
                    "for the one whose calling number agrees")
OTHER_CALL_WARNINGS: Final = (EGRESS_ONLY, OTHER_CALLING, SET_ASIDE)


_HOUR_STEP = re.compile(r"^([+-]\d+h) offset( \(.*\))?$")


@dataclass(frozen=True)
class TracebackAnswer:
    inquiry: InquiryEcho
    status: Status
    confidence: float
    searched: Searched
    upstream: Upstream | None = None
    customer: Customer | None = None
    match: Match | None = None
    alternatives: list[Match] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        inquiry = d["inquiry"]
        extra = inquiry.pop("extra", {}) or {}
        d["inquiry"] = {k: v for k, v in inquiry.items() if v is not None} | _echoable(extra)
        return d

    def to_plain(self) -> dict[str, Any]:
        """:meth:`to_dict`, field by field: no deep copy, no generic walk. A batch turns
        10,000 answers into JSON; ``dataclasses.asdict`` and a generic walker took 0.3 s of
        its ~5 s (benchmarks/bench_batch.py). Answers are immutable, so the lists and dicts
        they hold are copied one level, as asdict would give them. A test checks that both
        give the same for every field (tests/test_batch_answers.py)."""
        q = self.inquiry
        inquiry = {k: v for k, v in (
            ("called", q.called), ("time_utc", q.time_utc), ("calling", q.calling),
            ("called_raw", q.called_raw), ("calling_raw", q.calling_raw),
            ("time_raw", q.time_raw), ("window_s", q.window_s), ("id", q.id)) if v is not None}
        if q.extra:
            inquiry |= _echoable(q.extra)
        s, u, c = self.searched, self.upstream, self.customer
        return {
            "inquiry": inquiry,
            "status": self.status,
            "confidence": self.confidence,
            "searched": {"from_utc": s.from_utc, "to_utc": s.to_utc, "step": s.step,
                         "steps_tried": list(s.steps_tried)},
            "upstream": None if u is None else {
                "provider": u.provider, "ocn": u.ocn, "trunk": u.trunk, "ip": u.ip,
                "contact": u.contact},
            "customer": None if c is None else {"account": c.account, "name": c.name},
            "match": None if self.match is None else _match_plain(self.match),
            "alternatives": [_match_plain(m) for m in self.alternatives],
            "warnings": list(self.warnings),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TracebackAnswer:
        """Rebuild an answer from its JSON form (used by the chain coordinator over HTTP)."""
        inq = dict(d["inquiry"])
        known = {f for f in InquiryEcho.__dataclass_fields__ if f != "extra"}
        echo = InquiryEcho(
            **{k: v for k, v in inq.items() if k in known},
            extra={k: v for k, v in inq.items() if k not in known},
        )

        def _match(m: dict[str, Any] | None) -> Match | None:
            if m is None:
                return None
            m = dict(m)
            m["evidence"] = Evidence(**m["evidence"])
            return Match(**m)

        match = _match(d.get("match"))
        return cls(
            inquiry=echo,
            status=d["status"],
            confidence=float(d["confidence"]),
            searched=Searched(**d["searched"]),
            upstream=Upstream(**d["upstream"]) if d.get("upstream") else None,
            customer=Customer(**d["customer"]) if d.get("customer") else None,
            match=match,
            alternatives=[m for m in (_match(a) for a in d.get("alternatives", [])) if m],
            warnings=list(d.get("warnings", [])),
        )


def _match_plain(m: Match) -> dict[str, Any]:
    e = m.evidence
    return {
        "leg_id": m.leg_id, "start_utc": m.start_utc, "offset_s": m.offset_s,
        "called_raw": m.called_raw, "calling_raw": m.calling_raw, "call_id": m.call_id,
        "evidence": {"source": e.source, "file": e.file, "record": e.record},
        "stir": dict(m.stir), "score": m.score, "direction": m.direction,
        "ingress_trunk": m.ingress_trunk, "ingress_ip": m.ingress_ip, "account": m.account,
        "disposition": m.disposition, "duration_s": m.duration_s, "provider": m.provider,
    }
