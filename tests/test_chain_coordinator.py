"""The chain coordinator on scripted providers: what each provider is asked, and when it stops."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tracehop.answer import (
    Customer,
    Evidence,
    InquiryEcho,
    Match,
    Searched,
    TracebackAnswer,
    Upstream,
)
from tracehop.chain import CallExample, HttpResponder, NoAnswer, SilentResponder, trace
from tracehop.chain.responders import inquiry_payload
from tracehop.inquiry import Inquiry

T0 = datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC)
EXAMPLE = CallExample("C1", "+13127834411", T0, "+17735550123")


def answer(inq: Inquiry, status: str, *, upstream: str | None = None,
           customer: str | None = None, shift_s: float = 0.0) -> TracebackAnswer:
    start = inq.time_utc + timedelta(seconds=shift_s)
    echo = InquiryEcho(inq.called_e164, inq.time_utc.isoformat(), inq.calling_e164)
    match = None
    if status != "not_found":
        match = Match("leg-1", start.isoformat().replace("+00:00", "Z"), shift_s,
                      inq.called_e164, inq.calling_e164, None, Evidence("s", "f", 1))
    return TracebackAnswer(
        echo, status, 0.9 if match else 0.0,  # type: ignore[arg-type]
        Searched("a", "b", "±120s"),
        upstream=Upstream(upstream) if upstream else None,
        customer=Customer(customer, "Robo Inc") if customer else None, match=match)


class Scripted:
    def __init__(self, fn: Callable[[Inquiry], TracebackAnswer]) -> None:
        self.fn = fn
        self.seen: list[Inquiry] = []

    def answer(self, inquiry: Inquiry) -> TracebackAnswer:
        self.seen.append(inquiry)
        return self.fn(inquiry)


def test_follows_upstreams_to_the_customer_passing_each_hops_time() -> None:
    term = Scripted(lambda q: answer(q, "upstream", upstream="Transit", shift_s=8.0))
    transit = Scripted(lambda q: answer(q, "upstream", upstream="Orig", shift_s=-40.0))
    orig = Scripted(lambda q: answer(q, "originating", customer="ROBO-1", shift_s=3.0))
    other = Scripted(lambda q: answer(q, "originating", customer="X"))
    chain = trace(EXAMPLE, "Term", {"Term": term, "Transit": transit, "Orig": orig,
                                    "Other": other})
    assert chain.providers() == ["Term", "Transit", "Orig"]
    assert chain.end == "originating" and chain.found and chain.origin == "ROBO-1"
    assert other.seen == []  # a provider off the path is never asked
    # each provider is asked once, about the time the provider before it saw the call
    assert [len(r.seen) for r in (term, transit, orig)] == [1, 1, 1]
    assert term.seen[0].time_utc == T0
    assert transit.seen[0].time_utc == T0 + timedelta(seconds=8)
    assert orig.seen[0].time_utc == T0 + timedelta(seconds=8 - 40)
    for r in (term, transit, orig):
        q = r.seen[0]
        assert (q.called_e164, q.calling_e164) == (EXAMPLE.called, EXAMPLE.calling)
    assert [h.offset_s for h in chain.hops] == [8.0, -40.0, 3.0]
    assert all(h.elapsed_s >= 0 for h in chain.hops) and chain.elapsed_s >= 0


def test_point_of_entry_names_the_foreign_carrier() -> None:
    chain = trace(EXAMPLE, "Term", {
        "Term": Scripted(lambda q: answer(q, "upstream", upstream="Gateway")),
        "Gateway": Scripted(lambda q: answer(q, "point_of_entry", upstream="Danube")),
    })
    assert chain.end == "point_of_entry" and chain.origin == "Danube"
    assert chain.last_provider == "Gateway"


@pytest.mark.parametrize("status", ["not_found", "ambiguous", "unmapped"])
def test_stops_where_a_provider_cannot_name_an_upstream(status: str) -> None:
    after = Scripted(lambda q: answer(q, "originating", customer="X"))
    chain = trace(EXAMPLE, "Term", {
        "Term": Scripted(lambda q: answer(q, "upstream", upstream="Transit")),
        "Transit": Scripted(lambda q: answer(q, status)),
        "Orig": after,
    })
    assert chain.end == status and not chain.found and chain.origin is None
    assert after.seen == []


def test_a_provider_that_does_not_answer_ends_the_chain() -> None:
    chain = trace(EXAMPLE, "Term", {
        "Term": Scripted(lambda q: answer(q, "upstream", upstream="Transit")),
        "Transit": SilentResponder("timeout"),
    })
    assert chain.end == "no_response" and chain.hops[-1].answer is None
    assert "timeout" in (chain.hops[-1].reason or "")


def test_unknown_upstream_and_loops() -> None:
    chain = trace(EXAMPLE, "Term", {
        "Term": Scripted(lambda q: answer(q, "upstream", upstream="Nobody We Know")),
    })
    assert chain.end == "unreachable" and chain.hops[-1].provider == "Nobody We Know"
    chain = trace(EXAMPLE, "A", {
        "A": Scripted(lambda q: answer(q, "upstream", upstream="B")),
        "B": Scripted(lambda q: answer(q, "upstream", upstream="A")),
    })
    assert chain.end == "loop" and chain.providers() == ["A", "B", "A"]


def test_http_responder_posts_only_this_hops_inquiry() -> None:
    seen: list[httpx.Request] = []
    inq = Inquiry.parse(EXAMPLE.called, T0, EXAMPLE.calling, id="C1/2")
    body = answer(inq, "upstream", upstream="Next").to_dict()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != "Bearer secret":
            return httpx.Response(401)
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(handler)
    got = HttpResponder("http://provider.example", "secret", transport=transport).answer(inq)
    assert got.status == "upstream" and got.upstream and got.upstream.provider == "Next"
    req = seen[0]
    assert req.url.path == "/v1/inquiries"
    sent = json.loads(req.content)
    assert sent == inquiry_payload(inq)
    assert set(sent) == {"called", "calling", "time", "window", "id"}
    with pytest.raises(NoAnswer) as e:
        HttpResponder("http://provider.example", "wrong", transport=transport).answer(inq)
    assert e.value.reason == "refused"


def test_http_responder_unreachable_is_no_answer() -> None:
    inq = Inquiry.parse(EXAMPLE.called, T0, EXAMPLE.calling)
    with pytest.raises(NoAnswer) as e:
        HttpResponder("http://127.0.0.1:9", "t", timeout_s=2).answer(inq)
    assert e.value.reason in ("unreachable", "timeout")


@pytest.mark.parametrize("spoil", [
    lambda d: d["match"].update(start_utc="yesterday-ish"),
    lambda d: d["match"].update(start_utc=None),
    lambda d: d["upstream"].update(provider={"name": "B"}),
    lambda d: d["upstream"].update(provider=None),
    lambda d: d.update(status="forwarded"),
])
def test_a_malformed_answer_mid_chain_is_no_response_not_a_crash(
        spoil: Callable[[dict[str, object]], None]) -> None:
    """Another provider's server is outside input: an answer the coordinator cannot follow
    ends the chain at that provider with no_response (and why), never a traceback out of
    trace() that stops the campaign, nor an end status the API does not have."""
    inq = Inquiry.parse(EXAMPLE.called, T0, EXAMPLE.calling)
    body = answer(inq, "upstream", upstream="B", shift_s=5).to_dict()
    spoil(body)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    after = Scripted(lambda q: answer(q, "originating", customer="X"))
    chain = trace(EXAMPLE, "A", {"A": HttpResponder("http://a.example", "t", transport=transport),
                                 "B": after})
    assert chain.providers() == ["A"] and chain.end == "no_response"
    assert "not a TracebackAnswer" in (chain.hops[0].reason or "")
    assert after.seen == []


def test_a_chain_longer_than_max_hops_ends_saying_so() -> None:
    names = [f"P{i}" for i in range(6)]
    responders = {n: Scripted(lambda q, nxt=nxt: answer(q, "upstream", upstream=nxt))
                  for n, nxt in zip(names, [*names[1:], "P-end"], strict=True)}
    chain = trace(EXAMPLE, "P0", responders, max_hops=3)
    assert chain.providers() == ["P0", "P1", "P2", "P3"]
    assert chain.end == "max_hops" and not chain.found and chain.hops[-1].answer is None
    assert "3 hops" in (chain.hops[-1].reason or "")
    assert responders["P3"].seen == []  # type: ignore[attr-defined]
