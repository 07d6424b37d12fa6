"""Tracing a call across providers: the coordinator and the ways it asks each provider."""

from tracehop.chain.coordinator import CallExample, Chain, Hop, trace
from tracehop.chain.responders import (
    HttpResponder,
    LocalResponder,
    NoAnswer,
    Responder,
    SilentResponder,
)

__all__ = [
    "CallExample",
    "Chain",
    "Hop",
    "HttpResponder",
    "LocalResponder",
    "NoAnswer",
    "Responder",
    "SilentResponder",
    "trace",
]
