"""How the chain coordinator asks one provider: in process, or over HTTP.

A responder takes the inquiry for its own hop and returns that provider's
:class:`~tracehop.answer.TracebackAnswer`, or raises :class:`NoAnswer` when the provider gives no
answer at all (it refused, timed out, failed, or is not reachable). "No answer" is an outcome of
a traceback (research/domain.md §1.4: a non-cooperative provider), not an error of the tool, so it
is a separate exception the coordinator turns into a hop with status ``no_response``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tracehop.answer import STATUSES, TracebackAnswer
from tracehop.inquiry import Inquiry

if TYPE_CHECKING:  # the matcher pulls in DuckDB; import it only where it is used
    import httpx

    from tracehop.match import Matcher


class NoAnswer(Exception):  # an outcome of a traceback, not an error of tracehop
    """The provider gave no answer. ``reason`` is one of timeout, error, refused, unreachable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Responder(Protocol):
    """One provider's answering end."""

    def answer(self, inquiry: Inquiry) -> TracebackAnswer: ...


def inquiry_payload(inquiry: Inquiry) -> dict[str, Any]:
    """The inquiry as the HTTP API takes it: only what this hop needs to know."""
    payload: dict[str, Any] = {
        "called": inquiry.called_e164,
        "time": inquiry.time_utc.isoformat().replace("+00:00", "Z"),
        "window": inquiry.window_s,
    }
    if inquiry.calling_e164:
        payload["calling"] = inquiry.calling_e164
    if inquiry.id:
        payload["id"] = inquiry.id
    return payload


@dataclass
class LocalResponder:
    """Answers from a provider's own store in this process (``Matcher.lookup``)."""

    store_dir: Path
    peers_file: Path
    _matcher: Matcher | None = field(default=None, init=False, repr=False)

    def matcher(self) -> Matcher:
        if self._matcher is None:
            from tracehop.match import Matcher
            from tracehop.peers import PeerDirectory
            from tracehop.store import Store

            self._matcher = Matcher(Store.open(self.store_dir),
                                    PeerDirectory.load(self.peers_file))
        return self._matcher

    def answer(self, inquiry: Inquiry) -> TracebackAnswer:
        return self.matcher().lookup(inquiry)


@dataclass
class SilentResponder:
    """A provider that never answers (a non-cooperative provider, for tests and the demo)."""

    reason: str = "timeout"

    def answer(self, inquiry: Inquiry) -> TracebackAnswer:
        raise NoAnswer(self.reason, "the provider did not answer the inquiry")


@dataclass
class HttpResponder:
    """Asks a ``tracehop serve`` instance: ``POST /v1/inquiries`` with a bearer token."""

    base_url: str
    token: str
    timeout_s: float = 10.0
    #: An httpx transport to use instead of the network (tests use httpx.MockTransport).
    transport: httpx.BaseTransport | None = None
    #: Use the proxy settings of the environment (HTTP_PROXY, ...). A provider across the
    #: internet may need them; a responder on this machine (the demo's) must not go through
    #: them (httpx sends 127.0.0.1 to the proxy too, unless NO_PROXY names it).
    trust_env: bool = True
    # One client per responder: building an httpx.Client costs ~60 ms here (TLS context, pool),
    # far more than the request itself, and keep-alive saves a connect per hop.
    _client: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout_s, transport=self.transport,
                                        headers={"Authorization": f"Bearer {self.token}"},
                                        trust_env=self.trust_env)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def answer(self, inquiry: Inquiry) -> TracebackAnswer:
        import httpx

        url = self.base_url.rstrip("/") + "/v1/inquiries"
        try:
            r = self._http().post(url, json=inquiry_payload(inquiry))
        except httpx.TimeoutException as e:
            raise NoAnswer("timeout", f"{url}: no answer within {self.timeout_s:g} s") from e
        except httpx.HTTPError as e:
            raise NoAnswer("unreachable", f"{url}: {e}") from e
        if r.status_code in (401, 403):
            raise NoAnswer("refused", f"{url}: HTTP {r.status_code}")
        if r.status_code != 200:
            raise NoAnswer("error", f"{url}: HTTP {r.status_code}: {r.text[:200]}")
        try:
            body = r.json()
            if isinstance(body, list):  # the API answers a list with a list
                body = body[0]
            answer = TracebackAnswer.from_dict(body)
            _check_followable(answer)
            return answer
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise NoAnswer("error", f"{url}: the answer is not a TracebackAnswer ({e})") from e


def _check_followable(answer: TracebackAnswer) -> None:
    """ValueError unless the coordinator can act on ``answer``: a known status, and for
    ``upstream`` a named provider and a match time to ask it about.

    ``from_dict`` takes whatever types the JSON holds. An answer from another provider's
    server is outside input: an unknown status would end the chain under that made-up name,
    an upstream without a provider would end it as ``upstream`` (neither found nor stopped),
    a provider that is no string or a match time that is no ISO time raised out of ``trace``
    and stopped the whole campaign. Each is that provider giving no usable answer."""
    from datetime import datetime

    if answer.status not in STATUSES:
        raise ValueError(f"unknown status {answer.status!r}")
    up = answer.upstream
    if up is not None and up.provider is not None and not isinstance(up.provider, str):
        raise ValueError(f"upstream provider {up.provider!r} is not a name")
    if answer.status != "upstream":
        return
    if up is None or not up.provider:
        raise ValueError("status upstream names no upstream provider")
    if answer.match is None:
        raise ValueError("status upstream without the matched call")
    if not isinstance(answer.match.start_utc, str):
        raise ValueError(f"match start_utc {answer.match.start_utc!r} is not a time")
    datetime.fromisoformat(answer.match.start_utc.replace("Z", "+00:00"))  # ValueError
