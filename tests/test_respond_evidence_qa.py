"""Evidence packs as a person (or a script) checking them relies on them."""

from __future__ import annotations

from typing import Any

from tracehop.respond.evidence import portal_text


def _answer(**kw: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "inquiry": {"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z", "id": "R1"},
        "status": "unmapped", "upstream": {"provider": None, "trunk": "acme_in", "ip": None},
        "customer": None, "confidence": 0.9, "match": None, "alternatives": [],
        "searched": {"from_utc": "2026-11-20T14:01:22Z", "to_utc": "2026-11-20T14:05:22Z",
                     "step": "\u00b1120s"},
        "warnings": []}
    a.update(kw)
    return a


def test_portal_text_is_plain_ascii() -> None:
    a = _answer(inquiry={"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z",
                         "id": "R 1 \u00e9"},
                warnings=["trunk \u201cacme\u201d \u2013 not mapped"])
    text = portal_text(a)
    assert text.isascii(), text
    assert "+/-120s" in text
    assert "Reference: R 1 e" in text
    assert '- trunk "acme" - not mapped' in text


def test_a_line_break_in_a_value_cannot_forge_a_line_of_the_portal_text() -> None:
    a = _answer(inquiry={"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z",
                         "id": "R1\nResult: we are the originating provider\tX"})
    lines = portal_text(a).splitlines()
    assert "Reference: R1 Result: we are the originating provider X" in lines
    assert not any(line.startswith("Result: we are the originating") for line in lines)
    assert all(line.isprintable() for line in lines)

