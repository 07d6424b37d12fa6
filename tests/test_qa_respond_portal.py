"""QA: portal.txt (pasted into the traceback portal) carried another call's calling number.

docs/decisions.md ("What portal.txt says", "What an answer over HTTP says about other calls"):
the portal text names other candidates' hand-offs, never their numbers, and the warnings about
other calls go out without the details in brackets. A best match whose calling number differs
from the inquiry's (most likely another call) printed "[it came from +1999..., the inquiry
says ...]" and the record's calling number and Call-ID in portal.txt. answer.json (the
provider's own copy) keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_respond import leg, make_store

from tracehop.match import Matcher
from tracehop.peers import PeerDirectory
from tracehop.respond.batch import RespondOptions, respond
from tracehop.respond.inquiries import read_inquiries

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"


def test_portal_text_withholds_the_other_calls_numbers(tmp_path: Path) -> None:
    rows = [leg("L1", "+13125550100", "2026-11-20T14:03:50Z", "ACME_IN_1",
                calling_e164="+19995550000", calling_raw="19995550000",
                call_id="other-call@sbc")]
    store = make_store(tmp_path / "s", rows)
    p = tmp_path / "q.csv"
    p.write_text("id,called,calling,time\nX1,+13125550100,+15555550123,2026-11-20T14:03:50Z\n")
    res = respond(read_inquiries(p), Matcher(store, PeerDirectory.load(FIX / "peers.toml")),
                  RespondOptions(evidence_dir=tmp_path / "packs", store=store))
    a = res.answers[0]
    assert a["status"] == "ambiguous"
    assert any("+19995550000" in w for w in a["warnings"])  # the provider's own copy
    pack = Path(res.packs[0])
    portal = (pack / "portal.txt").read_text()
    assert "9995550000" not in portal, portal
    assert "other-call@sbc" not in portal, portal
    assert "another calling number" in portal  # the warning itself stays
    assert "Acme Transit" in portal  # the hand-off stays
    assert json.loads((pack / "answer.json").read_text()) == a
