"""respond's answer dicts (``answer_dict``: ``TracebackAnswer.to_plain``) are exactly
``TracebackAnswer.to_dict()``, keys in the same order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from matchkit import leg, make_store, peers

from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.respond.batch import answer_dict

A, B = "+13125550100", "+14155550123"


def test_answer_dict_equals_to_dict_for_every_kind_of_answer(tmp_path: Path) -> None:
    rows = [
        # signed call from a mapped upstream, with an alternative 40 s away on another trunk
        leg(A, "2026-11-20 12:00:05", calling="+12025550111", attest="A", origid="o-1",
            orig_tn="12025550111", dest_tn="13125550100", signer_spc="1234",
            iat_utc=datetime(2026, 11, 20, 12, 0, 5, tzinfo=UTC), stir_verified=True),
        leg(A, "2026-11-20 12:00:45", trunk="BRAVO_IN", calling="+19995550000"),
        # only by widening, on an unmapped trunk
        leg(B, "2026-11-20 15:00:00", trunk="MYSTERY"),
    ]
    store = make_store(tmp_path / "s", rows)
    m = Matcher(store, peers(tmp_path))
    inquiries = [
        Inquiry.parse(A, "2026-11-20T12:00:00Z", "+12025550111", id="signed",
                      extra={"campaign": "C-7", "n": 3}),
        Inquiry.parse(A, "2026-11-20 12:00:00", id="naive-ambiguous"),
        Inquiry.parse(B, "2026-11-20T12:00:00Z", id="widened"),
        Inquiry.parse("+12125550199", "2026-11-20T12:00:00Z", id="not-found", window=30),
    ]
    answers = m.lookup_many(inquiries, strategy="join")
    assert {a.status for a in answers} >= {"upstream", "unmapped", "not_found"}
    assert any(a.alternatives for a in answers)
    for a in answers:
        walked = answer_dict(a)
        assert walked == a.to_dict()
        assert json.dumps(walked) == json.dumps(a.to_dict())  # the same order of keys
    signed = answer_dict(answers[0])
    assert signed["inquiry"]["campaign"] == "C-7"  # extra fields are flattened, as to_dict
    assert signed["match"]["stir"]["attest"] == "A"


def test_to_plain_names_every_field_of_the_answer() -> None:
    """to_plain lists the fields by hand (for speed): a field added to an answer class must
    be added there too, or this fails."""
    import dataclasses

    from tracehop.answer import (
        Customer,
        Evidence,
        InquiryEcho,
        Match,
        Searched,
        TracebackAnswer,
        Upstream,
    )

    def full(cls: type) -> object:  # every field set to a value of its own
        args = {}
        for f in dataclasses.fields(cls):
            sub = {"evidence": Evidence, "inquiry": InquiryEcho, "searched": Searched,
                   "upstream": Upstream, "customer": Customer, "match": Match}.get(f.name)
            args[f.name] = (full(sub) if sub else [full(Match)] if f.name == "alternatives"
                            else {"k": f.name} if f.name in ("stir", "extra")
                            else [f.name] if f.name in ("steps_tried", "warnings")
                            else f"v-{f.name}")
        return cls(**args)

    a = full(TracebackAnswer)
    assert isinstance(a, TracebackAnswer)
    assert json.dumps(a.to_plain()) == json.dumps(a.to_dict())

