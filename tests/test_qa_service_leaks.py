"""QA: what an HTTP answer says about a call that may be another customer's (DESIGN §7).

When the call found came from another calling number than the inquiry's, the service sends
the match stripped (no calling number, Call-ID, account, STIR, record location). The
warnings about that same leg must not carry those details back in: they did (the unmapped
warning named the leg's account, the egress warning its Call-ID, the STIR warnings its
attestation and PASSporT destination).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA
from tracehop.service.run import ServerThread, build_app
from tracehop.service.tokens import add_token
from tracehop.store import FileRecord, Store

T0 = datetime(2026, 11, 20, 14, 3, 10, tzinfo=UTC)
ACCOUNT = "ACCT-7781"
CALL_ID = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
OTHER_DEST = "+17735550188"

PEERS = """
[[peer]]
name = "Acme Transit"
role = "upstream"
trunks = ["ACME_IN_1"]
"""


def _leg(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": "sbc1", "format": "test", "source_file": "/srv/cdr/secret-path.csv",
        "start_utc": T0, "called_e164": "+13125550100", "called_raw": "3125550100",
        "direction": "inbound", "duration_s": 30.0, "disposition": "answered"}
    return base | kw


def _serve(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[ServerThread, str]:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(pa.Table.from_pylist(rows, schema=LEG_SCHEMA),
                 pa.Table.from_pylist([], schema=REJECT_SCHEMA),
                 [FileRecord(file_id="a" * 64, path="a.csv", size=1, rows_read=len(rows))])
    (tmp_path / "peers.toml").write_text(PEERS)
    token = add_token(tmp_path / "tokens.json", "consortium")
    app = build_app(tmp_path / "s", tmp_path / "peers.toml", tmp_path / "tokens.json",
                    tmp_path / "audit.jsonl")
    return ServerThread(app), token


def _ask(url: str, token: str, **kw: Any) -> dict[str, Any]:
    body = {"called": "+13125550100", "time": T0.isoformat(), "calling": "+12025550111"} | kw
    r = httpx.post(f"{url}/v1/inquiries", json=body,
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_stripped_match_leaves_no_account_call_id_or_stir_in_the_warnings(
        tmp_path: Path) -> None:
    # One call to the number, from another calling number, on a trunk in no peer entry,
    # with an account, a Call-ID and a PASSporT that did not verify and names another number.
    rows = [_leg(leg_id="x1", source_record=1, calling_e164="+14155550123",
                 calling_raw="4155550123", ingress_trunk="UNKNOWN_IN", account=ACCOUNT,
                 call_id=CALL_ID, attest="B", stir_verified=False, dest_tn=OTHER_DEST,
                 iat_utc=T0 - timedelta(seconds=600))]
    server, token = _serve(tmp_path, rows)
    with server as url:
        ans = _ask(url, token)
    assert ans["status"] == "ambiguous"
    assert ans["match"]["account"] is None and ans["match"]["call_id"] is None
    text = " ".join(ans["warnings"])
    for secret in (ACCOUNT, "4155550123", OTHER_DEST.lstrip("+"), "secret-path"):
        assert secret not in text, (secret, ans["warnings"])
    # the hand-off itself (trunk) is still named: that is what the answer is for
    assert "UNKNOWN_IN" in text


def test_a_stripped_egress_match_does_not_name_its_call_id(tmp_path: Path) -> None:
    # The called number is on the egress leg only; the inbound leg of the same call (same
    # Call-ID) is found through it, and its calling number differs from the inquiry's.
    rows = [
        _leg(leg_id="in1", source_record=1, called_e164="+18005550000", called_raw="8005550000",
             calling_e164="+14155550123", calling_raw="4155550123", ingress_trunk="ACME_IN_1",
             call_id=CALL_ID, correlation_id=CALL_ID),
        _leg(leg_id="out1", source_record=2, direction="outbound", calling_e164="+14155550123",
             calling_raw="4155550123", call_id=CALL_ID, correlation_id=CALL_ID),
    ]
    server, token = _serve(tmp_path, rows)
    with server as url:
        ans = _ask(url, token)
    assert ans["status"] == "ambiguous" and ans["match"]["call_id"] is None, ans
    assert any("egress leg out1" in w for w in ans["warnings"]), ans["warnings"]
    assert CALL_ID not in " ".join(ans["warnings"]), ans["warnings"]


def test_an_agreeing_match_keeps_its_warnings_whole(tmp_path: Path) -> None:
    rows = [_leg(leg_id="x1", source_record=1, calling_e164="+12025550111",
                 calling_raw="2025550111", ingress_trunk="UNKNOWN_IN", account=ACCOUNT)]
    server, token = _serve(tmp_path, rows)
    with server as url:
        ans = _ask(url, token)
    assert ans["status"] == "unmapped"
    assert ans["match"]["account"] == ACCOUNT
    assert any(ACCOUNT in w for w in ans["warnings"])


def test_without_a_calling_number_the_match_keeps_only_its_hand_off_and_time(
        tmp_path: Path) -> None:
    # Any token holder may name a number and a time: with no calling number to confirm the
    # call, its caller, Call-ID, account and record stay here (sliding the time would list a
    # subscriber's callers). The hand-off and the time are what the traceback needs.
    rows = [_leg(leg_id="x1", source_record=1, calling_e164="+14155550123",
                 calling_raw="4155550123", ingress_trunk="ACME_IN_1", account=ACCOUNT,
                 call_id=CALL_ID)]
    server, token = _serve(tmp_path, rows)
    with server as url:
        bare = _ask(url, token, calling=None)
        confirmed = _ask(url, token, calling="+14155550123")
    assert bare["status"] == "upstream" and bare["upstream"]["provider"] == "Acme Transit"
    m = bare["match"]
    assert (m["calling_raw"], m["call_id"], m["account"]) == (None, None, None)
    assert m["start_utc"] and m["offset_s"] == 0 and m["evidence"]["file"] is None
    assert any("gives no calling number" in w for w in bare["warnings"])
    body = json.dumps(bare)
    for secret in ("4155550123", CALL_ID, ACCOUNT, "secret-path"):
        assert secret not in body, secret
    # With the calling number given (and agreeing), the match is whole, and its evidence
    # names the file, not where it lies on this server.
    c = confirmed["match"]
    assert (c["calling_raw"], c["call_id"]) == ("4155550123", CALL_ID)
    assert c["evidence"]["file"] == "secret-path.csv"
    assert not any("gives no calling number" in w for w in confirmed["warnings"])
