"""The FastAPI application behind ``tracehop serve`` (DESIGN.md §6 and §7).

``POST /v1/inquiries`` takes one inquiry object or a list of them and answers in the same shape.
A request goes through, in this order (the cheapest refusals first, and authentication before
the body is even read):

1. the bearer token (401 + ``WWW-Authenticate: Bearer``, RFC 6750 §3);
2. the body size (413), read in chunks so an oversized body is never held in memory;
3. JSON syntax (400), then shape: an object or a non-empty list of at most ``max_batch`` (422);
4. the requester's rate limit, one unit per inquiry (429 + ``Retry-After``);
5. each inquiry's fields (422, ``field`` names e.g. ``3.called``): one called number, an ISO 8601
   time, a window of at most 24 h, via :meth:`Inquiry.parse`;
6. the matcher, on a fresh store snapshot, then the audit log, then the answer.

Waiting happens on the event loop, not in threads: at most ``concurrency`` lookups run at once
(one per matcher of the pool), and requests wait for a turn in arrival order (an
:class:`asyncio.Semaphore` is FIFO); audit entries are written by group commit
(:class:`~tracehop.service.groupcommit.AsyncGroupCommit`: one fsync for every request waiting).
Before, every waiting request parked a worker thread, in the matcher pool's queue (in no fair
order) or in the audit write, and under 50 clients the answered requests waited for a free
thread behind those still queued for a matcher: p99 was 5x p50 (benchmarks/RESULTS.md).

Every refusal and every answer is written to the audit log with the requester's name and the
request id before the response leaves; if the audit log cannot be written, nothing is answered.
Answers go only to the asker, and there is no endpoint that lists or searches anything else.
Error bodies are ``{"error": {"code", "message", "field", "id"}}`` and never carry a traceback
or a path: unexpected exceptions are logged server-side under the request id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
import weakref
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath
from typing import Annotated, Any, Final, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracehop import __version__
from tracehop.answer import OTHER_CALL_WARNINGS, OTHER_CALLING, TracebackAnswer
from tracehop.errors import InquiryError, StoreError
from tracehop.inquiry import MAX_WINDOW_S, Inquiry
from tracehop.respond.audit import AuditRecord, answered_summary, asked_echo
from tracehop.respond.inquiries import SURROGATE_REASON, lone_surrogate
from tracehop.service.groupcommit import AsyncGroupCommit
from tracehop.service.models import (
    AnswerOrList,
    ErrorOut,
    HealthOut,
    InquiryIn,
    StoreHealth,
)
from tracehop.service.ratelimit import RateLimiter
from tracehop.service.tokens import TokenFile

log = logging.getLogger("tracehop.service")

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_BATCH = 1000
DEFAULT_RATE_PER_MINUTE = 6000
#: The audit log's ``who`` for a request that presented no valid token.
UNAUTHENTICATED = "-unauthenticated-"
#: Set by the reverse proxy from nginx's $ssl_client_verify and $ssl_client_s_dn.
CLIENT_VERIFY_HEADER = "x-ssl-client-verify"
CLIENT_DN_HEADER = "x-ssl-client-dn"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Answerer(Protocol):
    """What answers inquiries: :class:`tracehop.match.Matcher` satisfies it. It is called from
    several threads at once, so it must be thread-safe (the Matcher takes a fresh snapshot per
    call and its DuckDB engine serialises queries on its one connection)."""

    def lookup_many(self, inquiries: list[Inquiry]) -> list[TracebackAnswer]: ...


class AuditSink(Protocol):
    """Where every request and answer is recorded: :class:`tracehop.respond.audit.AuditLog`
    (append-only, hash-chained, safe across threads and processes) satisfies it."""

    def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]: ...


@dataclass
class ServiceConfig:
    tokens: TokenFile
    answerer: Answerer
    audit: AuditSink
    #: How many lookups may run at once: the matcher pool's size. More would only queue in
    #: the pool while holding a worker thread each.
    concurrency: int = 1
    #: returns the current store snapshot version, for /v1/health
    store_version: Callable[[], int | None] = lambda: None
    #: raises if the audit log cannot be appended to, for /v1/health (every answer waits for
    #: its entry, so the service is down then even though it listens)
    audit_ready: Callable[[], None] = lambda: None
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    max_batch: int = DEFAULT_MAX_BATCH
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: Behind a reverse proxy that verifies client certificates (docs/deploy.md): require
    #: ``X-SSL-Client-Verify: SUCCESS`` and record ``X-SSL-Client-DN`` in the audit log. Only
    #: safe when the proxy sets both headers on every request and nothing else can connect.
    proxy_client_cert: bool = False


class ApiError(Exception):
    """A refusal: becomes ``{"error": {...}}`` with ``status`` and is audit-logged."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None, item: Any = None) -> None:
        super().__init__(message)
        self.item = item  # the offending inquiry of a batch, for the audit log
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def _error_body(code: str, message: str, field: str | None, request_id: str | None
                ) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, "id": request_id}}


def _request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else uuid.uuid4().hex


class _RequestIdMiddleware:
    """Gives each request an id (in ``request.state`` and the ``X-Request-ID`` header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed JSON."},
    401: {"model": ErrorOut, "description": "Missing, wrong or revoked token."},
    413: {"model": ErrorOut, "description": "Body too large."},
    422: {"model": ErrorOut, "description": "An inquiry is invalid (field names which), or the "
                                            "batch is empty or too large."},
    429: {"model": ErrorOut, "description": "Rate limit hit; see Retry-After."},
    500: {"model": ErrorOut, "description": "The answer failed on our side (code internal); "
                                            "the request id names it in the server log."},
    503: {"model": ErrorOut, "description": "The call records cannot be read right now (code "
                                            "store_unavailable); nothing was answered. Retry "
                                            "after Retry-After seconds."},
}

_ITEM = TypeAdapter(InquiryIn)
#: How far from the inquiry time the matcher may search: widening ±24 h plus the window.
_SEARCH_REACH = timedelta(seconds=2 * MAX_WINDOW_S + 3600)
# Module level: FastAPI resolves the endpoint's (string) annotations in this module's globals.
_BEARER = HTTPBearer(auto_error=False, description="A token from `tracehop token add`.")


#: What an answer over HTTP keeps of each alternative: when and through which hand-off
#: another call might have come, never what that call was (DESIGN §7: the responder reveals
#: "nothing about other calls"; as portal.txt names the candidates' hand-offs, not numbers).
_ALTERNATIVE_KEEPS: Final = frozenset({"leg_id", "start_utc", "offset_s", "called_raw",
                                       "score", "direction", "ingress_trunk", "ingress_ip",
                                       "provider"})


def for_requester(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` as an outside requester gets it (DESIGN §7: nothing about other calls).

    * the alternatives are stripped of the other calls' calling numbers, Call-IDs, accounts,
      outcomes, STIR fields and record locations;
    * so is the match itself when its calling number differs from the inquiry's (the answer
      is then ``ambiguous``: it may well be another call), or when the inquiry gives no
      calling number: nothing then confirms the call found is the one asked about, and its
      caller, Call-ID and account would go to whoever names a number and a time (sliding the
      time, a list of the subscriber's calls); the hand-off and the time stay, which is what
      a traceback needs, with a warning that says what to send to get the rest;
    * the match's evidence names its file by name, not by its path on this server;
    * warnings about other calls (:data:`tracehop.answer.OTHER_CALL_WARNINGS`) lose the
      details in brackets: when those calls were, their calling numbers.

    The answer's own match keeps its evidence. The provider's own tools (``lookup``,
    ``respond``) keep everything."""
    out = dict(answer)
    warnings = list(answer.get("warnings") or [])
    other = [w for w in warnings if w.startswith(OTHER_CALL_WARNINGS)]
    if other:
        out["warnings"] = [next((s for s in OTHER_CALL_WARNINGS if w.startswith(s)), w)
                           for w in warnings]
    unconfirmed = not (answer.get("inquiry") or {}).get("calling")
    if answer.get("match") and unconfirmed:
        out["warnings"] = [*out.get("warnings", warnings), NO_CALLING_WITHHELD]
    if answer.get("match") and (unconfirmed
                                or any(w.startswith(OTHER_CALLING) for w in warnings)):
        out["match"] = _stripped(answer["match"])
        # The matcher's other warnings about this leg (its ingress in no peer entry, its
        # egress leg, its PASSporT) quote the very fields just withheld: the account, the
        # Call-ID, the attestation and the token's destination number. Cut them out there too.
        withheld = _withheld_values(answer["match"])
        out["warnings"] = [_redact(w, withheld) for w in out.get("warnings", warnings)]
    if answer.get("alternatives"):
        out["alternatives"] = [_stripped(alt) for alt in answer["alternatives"]]
    evidence = (out.get("match") or {}).get("evidence")
    if isinstance(evidence, dict) and isinstance(evidence.get("file"), str):
        # The path tells an outside requester how this server is laid out; the name is
        # enough to cite the record ("file X, record N") in the traceback.
        out["match"] = {**out["match"], "evidence": {
            **evidence, "file": PurePath(evidence["file"]).name}}
    return out


#: Added to an HTTP answer whose match was stripped because the inquiry gave no calling number.
NO_CALLING_WITHHELD: Final = (
    "the inquiry gives no calling number, so nothing confirms the call found is the one asked "
    "about: its calling number, Call-ID, account, STIR fields and record are withheld; ask "
    "again with the calling number to have them")


def _stripped(match: dict[str, Any]) -> dict[str, Any]:
    """A match as one of another call: when and how it came in, nothing of the call itself."""
    out = {k: (v if k in _ALTERNATIVE_KEEPS else None) for k, v in match.items()}
    out["stir"] = {}
    out["evidence"] = {"source": None, "file": None, "record": None}
    return out


#: The fields of a stripped match whose values are identifiers worth cutting from warnings
#: too (disposition and direction are words that warnings use as plain language).
_WITHHELD_IDS: Final = ("calling_raw", "call_id", "account", "stir", "evidence")
_WITHHELD = "[withheld]"


def _withheld_values(match: dict[str, Any]) -> list[str]:
    """The text of the identifiers :func:`_stripped` removes from ``match``, longest first,
    less any that a kept field shows anyway (an account named like the trunk)."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                add(v)
        elif isinstance(value, str) and value.strip():
            found.add(value.strip())
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 7:  # a phone number is also quoted as its digits alone
                found.add(digits)

    for key in _WITHHELD_IDS:
        add(match.get(key))
    kept = {str(match[k]) for k in _ALTERNATIVE_KEEPS if match.get(k) is not None}
    return sorted(found - kept, key=len, reverse=True)


def _redact(warning: str, values: list[str]) -> str:
    """``warning`` with each of ``values`` (as a whole token, not inside a longer word or
    number) replaced by ``[withheld]``."""
    for v in values:
        warning = re.sub(rf"(?<![\w+]){re.escape(v)}(?!\w)", _WITHHELD, warning)
    return warning


def _answer_record(who: str, asked: dict[str, Any], answer: dict[str, Any]) -> AuditRecord:
    """The audit entry for one answer, in the same shape as ``tracehop respond`` writes, plus
    the SHA-256 of the exact answer sent, so that it can be proven later from a copy."""
    sent = json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return AuditRecord(
        who=who,
        asked=asked | asked_echo(answer),
        searched=answer.get("searched"),
        answered=answered_summary(answer)
        | {"answer_sha256": hashlib.sha256(sent.encode()).hexdigest()},
    )


def _check_searchable(inq: Inquiry) -> None:
    """Refuse a time whose search range leaves the calendar (year 1 or 9999).

    Inquiry.parse accepts any ISO 8601 instant, but the matcher's widening reaches up to
    ±(24 h + window) around it, and datetime arithmetic there overflows: without this check
    an inquiry about 9999-12-31 would be a server error instead of a clear refusal.
    """
    try:
        inq.time_utc - _SEARCH_REACH
        inq.time_utc + _SEARCH_REACH
    except OverflowError:
        raise InquiryError(f"time {inq.time_raw!r} is too far in the past or future to search",
                           field="time", hint="Give the time of the call") from None


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259 §6), though Python's parser takes them."""
    raise ValueError(f"{name} is not a JSON number")


def _item_schema() -> dict[str, Any]:
    return InquiryIn.model_json_schema()


def create_app(config: ServiceConfig) -> FastAPI:
    """Build the ASGI app over ``config`` (no global state: tests build several)."""
    app = FastAPI(
        title="tracehop responder",
        version=__version__,
        description="Answers robocall traceback inquiries from this provider's call records. "
                    "Every /v1/inquiries request carries `Authorization: Bearer TOKEN`.",
        docs_url=None,  # the HTML docs pull scripts from a CDN: not on a hardened service
        redoc_url=None,
    )
    limiter = RateLimiter(config.rate_per_minute)
    if config.concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    # Asyncio primitives belong to one event loop; the app normally runs on one, but tests
    # may serve the same app from several loops in turn: keep one set per loop.
    per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                        tuple[asyncio.Semaphore, AsyncGroupCommit]] = (
        weakref.WeakKeyDictionary())

    def loop_state() -> tuple[asyncio.Semaphore, AsyncGroupCommit]:
        loop = asyncio.get_running_loop()
        state = per_loop.get(loop)
        if state is None:
            state = (asyncio.Semaphore(config.concurrency), AsyncGroupCommit(config.audit))
            per_loop[loop] = state
        return state

    async def audit(records: list[AuditRecord]) -> None:
        """Returns once ``records`` are in the audit log (raises if they could not be)."""
        await loop_state()[1].append_many(records)

    def client_of(request: Request) -> str | None:
        return request.client.host if request.client else None

    def asked(request: Request, **more: Any) -> dict[str, Any]:
        out = {"request_id": _request_id(request), "client": client_of(request),
               "method": request.method, "path": request.url.path}
        if config.proxy_client_cert:
            out["client_cert"] = request.headers.get(CLIENT_DN_HEADER)
        return out | more

    async def refuse(request: Request, err: ApiError, requester: str | None,
                     body_sha256: str | None = None, item: Any = None) -> JSONResponse:
        rid = _request_id(request)
        what = asked(request, body_sha256=body_sha256)
        if item is not None:
            # The offending inquiry as sent (bounded), so the log shows what was refused.
            what["item"] = json.dumps(item, ensure_ascii=False, default=str)[:2048]
        await audit([AuditRecord(
            who=requester or UNAUTHENTICATED, asked=what, searched=None,
            answered={"refused": {"http_status": err.status, "code": err.code,
                                  "message": err.message, "field": err.field}})])
        return JSONResponse(_error_body(err.code, err.message, err.field, rid),
                            status_code=err.status, headers=err.headers)

    def authenticate(creds: HTTPAuthorizationCredentials | None, request: Request) -> str:
        if config.proxy_client_cert and request.headers.get(CLIENT_VERIFY_HEADER) != "SUCCESS":
            raise ApiError(401, "client_certificate_required",
                           "a verified client certificate is required",
                           headers={"WWW-Authenticate": 'Bearer realm="tracehop"'})
        if creds is None:
            raise ApiError(401, "unauthorized",
                           "missing bearer token: send 'Authorization: Bearer TOKEN'",
                           headers={"WWW-Authenticate": 'Bearer realm="tracehop"'})
        name = config.tokens.verify(creds.credentials)
        if name is None:
            raise ApiError(401, "unauthorized", "the token is not valid or has been revoked",
                           headers={"WWW-Authenticate":
                                    'Bearer realm="tracehop", error="invalid_token"'})
        return name

    async def read_body(request: Request) -> bytes:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        too_big = ApiError(413, "body_too_large",
                           f"the request body is larger than {limit} bytes; "
                           "send fewer inquiries per request")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def parse_items(body: bytes) -> tuple[bool, list[Any]]:
        try:
            doc = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            # ValueError covers bad UTF-8, JSON syntax, NaN/Infinity and integers too long to
            # convert (CPython's int_max_str_digits); RecursionError, nesting thousands deep.
            where = f" at line {e.lineno} column {e.colno}" if isinstance(
                e, json.JSONDecodeError) else ""
            raise ApiError(400, "invalid_json",
                           f"the body is not valid JSON{where}: send one inquiry object "
                           "or a list of them") from None
        if lone_surrogate(doc, body):
            # Not writable as UTF-8: the audit entry (shared by a group commit with other
            # requests) and the answer would fail with a 500 after the lookup.
            raise ApiError(400, "invalid_json", f"the body {SURROGATE_REASON}: send UTF-8 "
                           "text, or escape a character outside the BMP as a surrogate pair")
        if isinstance(doc, dict):
            return False, [doc]
        if isinstance(doc, list):
            if not doc:
                raise ApiError(422, "invalid_request", "the batch is empty: send at least one "
                               "inquiry")
            if len(doc) > config.max_batch:
                raise ApiError(422, "batch_too_large",
                               f"a batch holds at most {config.max_batch} inquiries, "
                               f"this one has {len(doc)}: split it")
            return True, doc
        raise ApiError(422, "invalid_request",
                       "the body must be one inquiry object or a list of inquiry objects")

    def validate(items: list[Any], batch: bool) -> list[Inquiry]:
        out: list[Inquiry] = []
        for i, raw in enumerate(items):
            prefix = f"{i}." if batch else ""
            try:
                item = _ITEM.validate_python(raw)
            except ValidationError as e:
                first = e.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ApiError(422, "invalid_inquiry",
                               f"{prefix + loc if loc else 'inquiry'}: {first['msg']}",
                               field=(prefix + loc) if loc else (prefix.rstrip(".") or None),
                               item=raw) from None
            try:
                inq = Inquiry.parse(item.called, str(item.time), item.calling, window=item.window,
                                    id=item.id, duration=item.duration,
                                    disposition=item.disposition, zone=item.zone)
                _check_searchable(inq)
                out.append(inq)
            except InquiryError as e:
                fld = f"{prefix}{e.field}" if e.field else (prefix.rstrip(".") or None)
                raise ApiError(422, "invalid_inquiry", str(e), field=fld, item=raw) from None
            except OverflowError:
                # parse_instant converts to UTC; 0001-01-01T00:00+14:00 has no UTC instant.
                raise ApiError(422, "invalid_inquiry",
                               f"time {item.time!r} is outside the calendar once converted "
                               "to UTC", field=f"{prefix}time", item=raw) from None
        return out

    @app.post(
        "/v1/inquiries",
        response_model=AnswerOrList,
        responses=_ERRORS,
        summary="Answer one inquiry, or a batch",
        description="Send one inquiry object to get one TracebackAnswer, or a list of inquiries "
                    "to get a list of answers in the same order. An inquiry names one called "
                    "number and a time; the search window is at most ±24 h.",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"oneOf": [
                _item_schema(),
                {"type": "array", "minItems": 1, "maxItems": config.max_batch,
                 "items": _item_schema()},
            ]}}}}},
    )
    async def inquiries(request: Request,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
                        ) -> JSONResponse:
        requester: str | None = None
        body_sha: str | None = None
        try:
            requester = authenticate(creds, request)
            body = await read_body(request)
            body_sha = hashlib.sha256(body).hexdigest()
            batch, items = parse_items(body)
            if len(items) > config.rate_per_minute:
                # More than a minute's allowance can never pass: retrying is no answer.
                raise ApiError(422, "batch_too_large",
                               f"the batch holds {len(items)} inquiries, more than the rate "
                               f"limit of {config.rate_per_minute} per minute allows at once; "
                               f"split it into batches of at most {config.rate_per_minute}")
            decision = limiter.take(requester, len(items))
            if not decision.allowed:
                raise ApiError(429, "rate_limited",
                               f"rate limit of {config.rate_per_minute} inquiries per minute "
                               f"reached; retry after {decision.retry_after_s} s",
                               headers={"Retry-After": str(decision.retry_after_s)})
            parsed = validate(items, batch)
        except ApiError as err:
            return await refuse(request, err, requester, body_sha, err.item)
        try:
            async with loop_state()[0]:
                answers = await run_in_threadpool(config.answerer.lookup_many, parsed)
        except InquiryError as e:
            # The matcher found an inquiry it cannot search as asked: the asker's problem.
            return await refuse(request, ApiError(422, "invalid_inquiry", str(e),
                                                  field=e.field), requester, body_sha)
        except StoreError as e:
            # The call records cannot be read (the store moved or deleted under the service, a
            # data file gone): no answer can be given, and "not_found" would be a false one.
            # Our side, and temporary: 503 with Retry-After; the path stays in the server log.
            log.error("request %s: the store cannot be read: %s", _request_id(request), e)
            await audit([AuditRecord(
                who=requester or UNAUTHENTICATED,
                asked=asked(request, body_sha256=body_sha, items=len(parsed)),
                searched=None,
                answered={"failed": {"http_status": 503, "code": "store_unavailable"}})])
            return JSONResponse(
                _error_body("store_unavailable", "the call records cannot be read on our side "
                            "right now; nothing was answered: retry later",
                            None, _request_id(request)),
                status_code=503, headers={"Retry-After": "60"})
        except Exception:
            # Logged as a failed request, then handed to the catch-all handler (500, no
            # details in the body; the traceback goes to the server log under the id).
            await audit([AuditRecord(
                who=requester or UNAUTHENTICATED,
                asked=asked(request, body_sha256=body_sha, items=len(parsed)),
                searched=None, answered={"failed": {"http_status": 500, "code": "internal"}})])
            raise
        out = [for_requester(a.to_dict()) for a in answers]

        base = asked(request, body_sha256=body_sha, batch=batch)
        await audit([
            _answer_record(requester or UNAUTHENTICATED, base | {"item": n}, a)
            for n, a in enumerate(out)])
        return JSONResponse(out if batch else out[0])

    @app.get("/v1/health", response_model=HealthOut, summary="Service health and version",
             responses={503: {"model": HealthOut,
                              "description": "degraded: the store has no committed version "
                                             "(moved or deleted) or cannot be read, or the "
                                             "audit log cannot be appended to."}})
    async def health() -> HealthOut | JSONResponse:
        try:
            version = await run_in_threadpool(config.store_version)
        except Exception:
            log.exception("health: cannot read the store snapshot version")
            version = None
        if version is not None and version < 0:
            version = None
        audit_ok = True
        try:
            await run_in_threadpool(config.audit_ready)
        except Exception as e:
            # Every inquiry is then a 500 (nothing is answered without its audit entry), while
            # health said "ok": a load balancer kept the service in rotation, no monitor woke.
            log.error("health: the audit log cannot be appended to: %s", e)
            audit_ok = False
        if version is None or not audit_ok:
            # No committed version: the store was moved or deleted under the running service
            # (it refuses to start without one). Every answer is then "not_found" from no
            # records at all; this used to say "ok" (200) with version -1, so a load balancer
            # or monitor kept sending inquiries to it. 503 is what a health check acts on.
            return JSONResponse({"status": "degraded", "version": __version__,
                                 "store": {"version": version}}, status_code=503)
        return HealthOut(status="ok", version=__version__, store=StoreHealth(version=version))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(_error_body(code, str(exc.detail), None, _request_id(request)),
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(_error_body("invalid_request", str(first.get("msg")), loc or None,
                                        _request_id(request)), status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        rid = _request_id(request)
        log.error("request %s failed", rid, exc_info=exc)
        return JSONResponse(_error_body("internal", "internal error", None, rid),
                            status_code=500, headers={"X-Request-ID": rid})

    app.add_middleware(_RequestIdMiddleware)
    return app
