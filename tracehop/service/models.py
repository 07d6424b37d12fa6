"""Pydantic models of the HTTP API: the inquiry a requester sends, the answer it gets back.

The answer models are generated from the dataclasses of :class:`tracehop.answer.TracebackAnswer`
(field names, types, defaults), so they cannot drift from it. They document the API in
``/openapi.json``; at run time the service serialises answers with
``TracebackAnswer.to_dict()``, the single source of the JSON form.

Inquiry fields are checked here only for shape (types, lengths, no unknown keys); what they mean
(a valid number, an ISO 8601 time, a window of at most 24 h) is checked by
:meth:`tracehop.inquiry.Inquiry.parse`, the one validator every entry point shares.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from tracehop.answer import (
    Customer,
    Evidence,
    InquiryEcho,
    Match,
    Searched,
    TracebackAnswer,
    Upstream,
)
from tracehop.inquiry import MAX_WINDOW_S

#: The store keeps microseconds; a window below a millisecond would round to nothing.
MIN_WINDOW_S = 0.001


class InquiryIn(BaseModel):
    """One inquiry: who handed you the call to this number at this time?"""

    # strict: JSON true/false or "12" are not numbers here (the schema says number)
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "calling": "+12025550111"},
    ]})

    called: str = Field(min_length=1, max_length=64,
                        description="The one called number (E.164 or a national form). "
                                    "No wildcards.")
    # A JSON number is Unix time, as in an inquiry file's JSON lines (not a bool: strict).
    time: Annotated[str, Field(min_length=1, max_length=64)] | int | float = Field(
        description="Call time, ISO 8601 with a zone or offset, or followed by an IANA zone "
                    "name (US month/day/year is read too; a naive time is read as UTC and the "
                    "answer says so), or Unix time in seconds (a JSON number or its digits).")
    calling: str | None = Field(default=None, max_length=64,
                                description="The calling number shown, if known.")
    window: float | None = Field(default=None, ge=MIN_WINDOW_S, le=MAX_WINDOW_S,
                                 description="Search ±window seconds around the time "
                                             "(default 120; from 0.001 to 86400).")
    id: str | None = Field(default=None, max_length=128,
                           description="Your reference for this inquiry, echoed back.")
    duration: float | None = Field(default=None, ge=0, le=7 * 86400,
                                   description="Call duration in seconds, if known.")
    disposition: str | None = Field(default=None, max_length=32,
                                    description="answered / no_answer / busy / failed / ...")
    zone: str | None = Field(default=None, max_length=64,
                             description="IANA zone of a time given without an offset "
                                         "(e.g. America/New_York).")


def _translate(tp: Any, done: dict[type, type[BaseModel]]) -> Any:
    """A dataclass field type with every answer dataclass replaced by its model."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return done[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        out: Any = None
        for a in args:
            t = _translate(a, done)
            out = t if out is None else out | t
        return out
    if origin is list:
        return list[_translate(args[0], done)]  # type: ignore[misc]
    return tp


def _doc(dc: type) -> str | None:
    """The dataclass's own docstring, not the signature dataclass() writes when there is none."""
    doc = dc.__doc__
    return None if doc is None or doc.startswith(f"{dc.__name__}(") else doc


def _model_of(dc: type, done: dict[type, type[BaseModel]], *, skip: tuple[str, ...] = (),
              extra: Literal["allow", "forbid", "ignore"] = "ignore") -> type[BaseModel]:
    """A pydantic model with the fields, types and defaults of dataclass ``dc``."""
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.name in skip:
            continue
        tp = _translate(hints[f.name], done)
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (tp, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (tp, ...)
    model: type[BaseModel] = create_model(
        f"{dc.__name__}Out", __config__=ConfigDict(extra=extra), __doc__=_doc(dc), **fields)
    done[dc] = model
    return model


# The answer models are generated from the dataclasses of tracehop.answer, so they cannot
# drift from TracebackAnswer.to_dict(). The one difference: the inquiry echo's ``extra`` dict
# is flattened into the echo by to_dict(), so the echo model allows extra keys instead.
_DONE: dict[type, type[BaseModel]] = {}
for _dc in (Upstream, Customer, Evidence, Match, Searched):
    _model_of(_dc, _DONE)
InquiryEchoOut = _model_of(InquiryEcho, _DONE, skip=("extra",), extra="allow")
UpstreamOut = _DONE[Upstream]
CustomerOut = _DONE[Customer]
EvidenceOut = _DONE[Evidence]
MatchOut = _DONE[Match]
SearchedOut = _DONE[Searched]
TracebackAnswerOut = _model_of(TracebackAnswer, _DONE)
#: The 200 response of POST /v1/inquiries: one answer, or a list (same shape as the request).
AnswerOrList: Any = TracebackAnswerOut | list[TracebackAnswerOut]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. invalid_inquiry, unauthorized, "
                                  "rate_limited, body_too_large, invalid_json, internal.")
    message: str = Field(description="What was wrong and how to fix it.")
    field: str | None = Field(default=None,
                              description="The offending field, e.g. 'called' or '3.time' "
                                          "(item 3 of a batch).")
    id: str | None = Field(default=None, description="The request id (also in X-Request-ID).")


class ErrorOut(BaseModel):
    error: ErrorDetail


class StoreHealth(BaseModel):
    version: int | None = Field(description="The store snapshot version answers come from.")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str = Field(description="tracehop version.")
    store: StoreHealth
