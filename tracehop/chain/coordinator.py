"""The chain coordinator: one call example, traced provider by provider (research/domain.md §1.2).

It starts at the terminating provider with the call example (called number, time, calling
number) and asks each provider in turn "who handed you this call?". Each provider sees only the
inquiry for its own hop: the called number, the calling number, and the time *as the provider
before it reported it* (the matched leg's ``start_utc``), because that is all a real traceback
passes on; a provider's clock error therefore shows up as the offset of the next hop's match.

The chain stops at ``originating`` (a customer found), ``point_of_entry`` (the call came from a
foreign carrier), ``not_found``, ``ambiguous``, ``unmapped`` (a leg whose ingress the provider
cannot name), a provider that gives no answer (``no_response``), an upstream the coordinator has
no way to reach (``unreachable``), a loop, or ``max_hops`` (the chain is ``max_hops`` long and
names yet another provider, who is not asked).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tracehop.answer import TracebackAnswer
from tracehop.chain.responders import NoAnswer, Responder
from tracehop.inquiry import DEFAULT_WINDOW_S, Inquiry

#: Statuses that end a chain successfully (the source is identified).
TERMINAL_FOUND = ("originating", "point_of_entry")
MAX_HOPS = 12


@dataclass(frozen=True)
class CallExample:
    """A call to trace, as the consortium received it."""

    ref: str
    called: str
    time_utc: datetime
    calling: str | None = None


@dataclass(frozen=True)
class Hop:
    """One provider's part of a chain: what it was asked, what it said, how long it took."""

    provider: str  # name as the previous hop named it (or the terminating provider's)
    inquiry: Inquiry
    status: str  # answer status, or no_response / unreachable / loop / max_hops
    answer: TracebackAnswer | None
    elapsed_s: float
    reason: str | None = None  # why there is no answer

    @property
    def next_provider(self) -> str | None:
        a = self.answer
        if a is None or a.upstream is None:
            return None
        return a.upstream.provider

    @property
    def offset_s(self) -> float | None:
        return self.answer.match.offset_s if self.answer and self.answer.match else None

    @property
    def confidence(self) -> float | None:
        return self.answer.confidence if self.answer else None


@dataclass
class Chain:
    example: CallExample
    hops: list[Hop] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def end(self) -> str:
        return self.hops[-1].status if self.hops else "unreachable"

    @property
    def found(self) -> bool:
        return self.end in TERMINAL_FOUND

    @property
    def origin(self) -> str | None:
        """The customer's account (originating) or the foreign carrier (point_of_entry)."""
        if not self.hops or self.hops[-1].answer is None:
            return None
        a = self.hops[-1].answer
        if self.end == "originating" and a.customer is not None:
            return a.customer.account
        if self.end == "point_of_entry" and a.upstream is not None:
            return a.upstream.provider
        return None

    @property
    def origin_name(self) -> str | None:
        """The customer's name, if the originating provider gave one."""
        if self.end == "originating" and self.hops and self.hops[-1].answer is not None:
            c = self.hops[-1].answer.customer
            return c.name if c is not None else None
        return self.origin

    @property
    def last_provider(self) -> str | None:
        return self.hops[-1].provider if self.hops else None

    def providers(self) -> list[str]:
        return [h.provider for h in self.hops]


def trace(
    example: CallExample,
    start: str,
    responders: Mapping[str, Responder],
    *,
    window_s: float = DEFAULT_WINDOW_S,
    max_hops: int = MAX_HOPS,
    clock: Callable[[], float] = time.perf_counter,
) -> Chain:
    """Trace ``example`` from provider ``start`` (a key of ``responders``, by provider name)."""
    chain = Chain(example)
    t_chain = clock()
    provider: str | None = start
    called, calling, at = example.called, example.calling, example.time_utc
    seen: set[str] = set()
    while provider is not None:
        inquiry = Inquiry.parse(called, at, calling, window=window_s,
                                id=f"{example.ref}/{len(chain.hops) + 1}")
        if len(chain.hops) >= max_hops:
            # Said, not left as the last hop's "upstream": a chain that ends on an upstream
            # answer reads as neither found nor stopped (and names no one who was not asked).
            chain.hops.append(Hop(provider, inquiry, "max_hops", None, 0.0,
                                  f"the chain already has {max_hops} hops; not asked"))
            break
        if provider in seen:
            chain.hops.append(Hop(provider, inquiry, "loop", None, 0.0,
                                  "the chain came back to a provider it already asked"))
            break
        seen.add(provider)
        responder = responders.get(provider)
        if responder is None:
            chain.hops.append(Hop(provider, inquiry, "unreachable", None, 0.0,
                                  "no responder is known for this provider"))
            break
        t0 = clock()
        try:
            answer = responder.answer(inquiry)
        except NoAnswer as e:
            chain.hops.append(Hop(provider, inquiry, "no_response", None, clock() - t0,
                                  str(e)))
            break
        hop = Hop(provider, inquiry, answer.status, answer, clock() - t0)
        chain.hops.append(hop)
        if answer.status != "upstream" or hop.next_provider is None or answer.match is None:
            break
        # the next provider is asked about the time this one saw the call
        provider = hop.next_provider
        at = _parse_utc(answer.match.start_utc)
    chain.elapsed_s = clock() - t_chain
    return chain


def _parse_utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
