"""The published JSON Schema of TracebackAnswer accepts what tracehop says and rejects what it
must never say. (Every answer the matcher tests produce is also validated: matchkit.check_schema.)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from matchkit import SCHEMA_PATH, check_schema, leg, make_store, peers

from tracehop.inquiry import Inquiry
from tracehop.match import Matcher

N = "+13125550100"


def _answers(tmp_path: Path) -> dict[str, dict[str, Any]]:
    rows = [leg(N, "2026-11-20 14:03:30", orig_tn="12025550111", attest="A",
                iat_utc=datetime_utc("2026-11-20 14:03:29"), stir_verified=True),
            leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN"),
            leg("+13125550101", "2026-11-20 14:03:30", trunk="CUST_TRUNK", account="ACCT-77"),
            leg("+13125550102", "2026-11-20 14:03:30", trunk="X", ingress_ip="203.0.113.4"),
            leg("+13125550103", "2026-11-20 14:03:30", trunk="NOBODY")]
    m = Matcher(make_store(tmp_path / "s", rows), peers(tmp_path))
    t = "2026-11-20T14:03:22Z"
    got = {}
    for called, calling in [(N, None), (N, "2025550111"), ("3125550101", None),
                            ("3125550102", None), ("3125550103", None), ("3125550104", None)]:
        a = m.lookup(Inquiry.parse(called, t, calling, id="ref-1", extra={"campaign": "x"}))
        got[a.status] = check_schema(a)
    return got


def datetime_utc(text: str) -> Any:
    from matchkit import utc

    return utc(text)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_status_validates(tmp_path: Path) -> None:
    got = _answers(tmp_path)
    assert set(got) == {"ambiguous", "upstream", "originating", "point_of_entry", "unmapped",
                        "not_found"}
    assert got["upstream"]["match"]["stir"]["verified"] is True
    assert got["upstream"]["match"]["stir"]["iat_utc"] == "2026-11-20T14:03:29Z"
    assert got["upstream"]["inquiry"]["campaign"] == "x"  # extra columns are echoed


@pytest.mark.parametrize(
    ("status", "mutate"),
    [
        ("upstream", lambda d: d.update(status="found")),
        ("upstream", lambda d: d.update(confidence=1.5)),
        ("upstream", lambda d: d["upstream"].update(provider=None)),
        ("unmapped", lambda d: d["upstream"].update(provider="Acme")),
        ("originating", lambda d: d.update(customer=None)),
        ("not_found", lambda d: d.update(match={"leg_id": "x"})),
        ("upstream", lambda d: d["match"].pop("evidence")),
        ("upstream", lambda d: d["match"].update(start_utc="20 Nov 2026")),
        ("upstream", lambda d: d["inquiry"].update(called="3125550100")),
        ("upstream", lambda d: d.update(surprise=1)),
    ],
)
def test_schema_rejects_broken_answers(tmp_path: Path, status: str, mutate: Any) -> None:
    good = _answers(tmp_path)[status]
    bad = copy.deepcopy(good)
    mutate(bad)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert validator.is_valid(good)
    assert not validator.is_valid(bad)


def test_an_inquiry_column_named_like_the_echo_does_not_replace_it() -> None:
    """An inquiry file's further columns are echoed, but one named like the echo's own keys
    (a ``time_utc`` column beside ``time``) must not stand in for the time tracehop read and
    searched around: both ways of turning an answer into JSON keep the understood value."""
    from tracehop.answer import InquiryEcho, Searched, TracebackAnswer

    echo = InquiryEcho(called="+13125550100", time_utc="2026-11-20T14:03:22Z",
                       extra={"time_utc": "2026-11-20 09:03", "window_s": "600",
                              "campaign": "warranty"})
    ans = TracebackAnswer(inquiry=echo, status="not_found", confidence=0.0,
                          searched=Searched("2026-11-20T14:01:22Z", "2026-11-20T14:05:22Z",
                                            "±120s"))
    for d in (ans.to_dict(), ans.to_plain()):
        assert d["inquiry"] == {"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z",
                                "campaign": "warranty"}
