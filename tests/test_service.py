"""`tracehop serve` over real HTTP on loopback: auth, limits, refusals, audit, live data.

A uvicorn server runs in a thread on 127.0.0.1 at a free port over a real store (committed with
Store.commit), a real peer directory, token file and audit log; httpx is the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tracehop.answer import EGRESS_ONLY, OTHER_CALLING
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.peers import PeerDirectory
from tracehop.respond.audit import verify
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA
from tracehop.service.app import UNAUTHENTICATED
from tracehop.service.run import ServerThread, build_app
from tracehop.service.tokens import add_token, revoke_token
from tracehop.store import FileRecord, Store

PEERS = """
[[peer]]
name = "Acme Transit"
role = "upstream"
ocn = "1234"
trunks = ["ACME_IN_1"]
ips = ["198.51.100.0/24"]

[[peer]]
name = "Globex Carrier"
role = "upstream"
trunks = ["GLOBEX_IN"]
"""

T0 = datetime(2026, 11, 20, 14, 3, 10, tzinfo=UTC)


def leg(leg_id: str, called: str, t: datetime, trunk: str, *, calling: str = "+12025550111",
        direction: str = "inbound", record: int = 1) -> dict[str, Any]:
    return {"leg_id": leg_id, "source": "sbc1", "format": "test", "source_file": "cdr.csv",
            "source_record": record, "start_utc": t, "called_e164": called,
            "called_raw": called.lstrip("+"), "calling_e164": calling,
            "calling_raw": calling.lstrip("+"), "direction": direction,
            "ingress_trunk": trunk, "ingress_ip": "198.51.100.7", "call_id": f"cid-{leg_id}",
            "duration_s": 30.0, "disposition": "answered"}


def commit(store: Store, rows: list[dict[str, Any]], file_id: str) -> None:
    legs = pa.Table.from_pylist(rows, schema=LEG_SCHEMA)
    rejects = pa.Table.from_pylist([], schema=REJECT_SCHEMA)
    store.commit(legs, rejects, [FileRecord(file_id=file_id * 64, path=f"{file_id}.csv",
                                            size=1, rows_read=len(rows))])


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store_dir = root / "calls.store"
        self.peers = root / "peers.toml"
        self.tokens = root / "tokens.json"
        self.audit = root / "audit.jsonl"
        self.peers.write_text(PEERS)
        self.store = Store.open(self.store_dir, create=True)
        commit(self.store, [
            leg("a1", "+13125550100", T0, "ACME_IN_1", record=1),
            leg("a1-out", "+13125550100", T0, "", direction="outbound", record=2),
            # another call, to another number, in the same second: never revealed
            leg("g1", "+13125550199", T0, "GLOBEX_IN", calling="+14155550123", record=3),
            # two calls to one number seconds apart from two carriers: an ambiguous answer
            leg("m1", "+13125550177", T0, "ACME_IN_1", calling="+16175550101", record=4),
            leg("m2", "+13125550177", T0 + timedelta(seconds=4), "GLOBEX_IN",
                calling="+15125550102", record=5),
            # a number we only ever sent a call to (no inbound leg of that call)
            leg("e1", "+13125550166", T0, "", direction="outbound", record=6),
        ], "a")
        self.alice = add_token(self.tokens, "alice")
        self.bob = add_token(self.tokens, "bob")

    def app(self, **kw: Any) -> Any:
        return build_app(self.store_dir, self.peers, self.tokens, self.audit, **kw)

    def audit_entries(self) -> list[dict[str, Any]]:
        # split on "\n" only: entries may hold U+2028 and friends, which splitlines() splits on
        return [json.loads(line) for line in self.audit.read_text().split("\n") if line]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def url(env: Env) -> Iterator[str]:
    with ServerThread(env.app(max_batch=50, max_body_bytes=64 * 1024)) as u:
        yield u


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ASK = {"called": "(312) 555-0100", "time": "2026-11-20T09:03:22-05:00", "calling": "2025550111"}


def test_health_needs_no_token_and_reveals_no_path(env: Env, url: str) -> None:
    r = httpx.get(f"{url}/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["store"]["version"] == env.store.snapshot().version
    assert str(env.root) not in r.text and "rows" not in body["store"]


def test_one_inquiry_gets_one_answer_from_the_inbound_leg(env: Env, url: str) -> None:
    r = httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(env.alice))
    assert r.status_code == 200, r.text
    a = r.json()
    assert isinstance(a, dict)
    assert a["status"] == "upstream"
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["leg_id"] == "a1"  # never the egress row a1-out
    assert a["inquiry"]["called"] == "+13125550100"
    assert r.headers["x-request-id"]


def test_a_zone_field_reads_a_time_without_an_offset(env: Env, url: str) -> None:
    """`zone` names the IANA zone of a time given without an offset; an abbreviation there is
    a 422 naming the field and the name to use."""
    zoned = dict(ASK, time="2026-11-20 08:03:22", zone="America/Chicago")
    r = httpx.post(f"{url}/v1/inquiries", json=zoned, headers=auth(env.alice))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["inquiry"]["time_utc"] == "2026-11-20T14:03:22Z"
    assert a["match"]["leg_id"] == "a1"
    assert not any("no zone" in w for w in a["warnings"])
    r = httpx.post(f"{url}/v1/inquiries", json=dict(zoned, zone="CST"), headers=auth(env.alice))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "zone" and "America/Chicago" in r.text


def test_a_batch_gets_a_list_in_order_and_nothing_about_other_calls(env: Env, url: str) -> None:
    batch = [ASK, {"called": "+13125550199", "time": "2026-11-20T14:03:11Z", "id": "q2"},
             {"called": "+13125550142", "time": "2026-11-20T14:03:11Z"}]
    r = httpx.post(f"{url}/v1/inquiries", json=batch, headers=auth(env.bob))
    assert r.status_code == 200, r.text
    answers = r.json()
    assert [a["status"] for a in answers] == ["upstream", "upstream", "not_found"]
    assert answers[1]["upstream"]["provider"] == "Globex Carrier"
    assert answers[1]["inquiry"]["id"] == "q2"
    # An answer speaks only of the number asked about: the other call in the same second
    # (another called number) appears nowhere in it.
    first = json.dumps(answers[0])
    assert "g1" not in first and "14155550123" not in first and "GLOBEX" not in first
    assert answers[2]["match"] is None and answers[2]["alternatives"] == []


def test_alternatives_name_the_hand_off_never_the_other_call(env: Env, url: str) -> None:
    # DESIGN §7: nothing about other calls. An ambiguous answer names the other candidate's
    # carrier and time (the requester needs them), not its calling number, Call-ID, outcome
    # or where the record is kept.
    r = httpx.post(f"{url}/v1/inquiries", headers=auth(env.alice),
                   json={"called": "+13125550177", "time": "2026-11-20T14:03:11Z"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["status"] == "ambiguous" and len(a["alternatives"]) == 1
    alt = a["alternatives"][0]
    assert alt["provider"] in ("Acme Transit", "Globex Carrier") and alt["offset_s"] is not None
    assert alt["calling_raw"] is None and alt["call_id"] is None and alt["stir"] == {}
    assert alt["evidence"] == {"source": None, "file": None, "record": None}
    text = json.dumps(a["alternatives"])
    assert "6175550101" not in text and "5125550102" not in text and "cdr.csv" not in text


def test_a_call_from_another_calling_number_is_not_described(env: Env, url: str) -> None:
    """The leg found came from another calling number than the inquiry's, so it may be
    another call: the answer says so (ambiguous) without that call's caller ID, Call-ID or
    record; a not_found answer does not say when the egress legs it saw were."""
    r = httpx.post(f"{url}/v1/inquiries", headers=auth(env.alice), json=[
        {"called": "+13125550199", "time": "2026-11-20T14:03:11Z", "calling": "2029999999"},
        {"called": "+13125550166", "time": "2026-11-21T02:03:11Z"}])
    assert r.status_code == 200, r.text
    mismatch, egress = r.json()
    assert mismatch["status"] == "ambiguous"
    assert mismatch["warnings"] == [OTHER_CALLING]
    m = mismatch["match"]
    assert m["provider"] == "Globex Carrier" and m["offset_s"] is not None
    assert m["calling_raw"] is None and m["call_id"] is None
    assert m["evidence"] == {"source": None, "file": None, "record": None}
    assert "4155550123" not in json.dumps(mismatch)
    assert egress["status"] == "not_found" and egress["warnings"][0] == EGRESS_ONLY
    # The store holds nothing on the inquiry's own day: said (the day asked about, never the
    # days it does hold, nor when the egress legs were).
    assert len(egress["warnings"]) == 2
    assert egress["warnings"][1].startswith("the store holds no call records on 2026-11-21 (UTC)")
    assert "2026-11-20" not in json.dumps(egress["warnings"])
    # The provider's own lookup keeps the details.
    own = Matcher(env.store, PeerDirectory.load(env.peers)).lookup(
        Inquiry.parse("+13125550199", "2026-11-20T14:03:11Z", "2029999999"))
    assert own.match is not None and own.match.calling_raw == "14155550123"
    assert any("+14155550123" in w for w in own.warnings)


def test_no_endpoint_lists_or_searches_answers(url: str) -> None:
    spec = httpx.get(f"{url}/openapi.json").json()
    assert set(spec["paths"]) == {"/v1/inquiries", "/v1/health"}
    assert set(spec["paths"]["/v1/inquiries"]) == {"post"}
    assert httpx.get(f"{url}/v1/inquiries").status_code == 405
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())


def _error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["message"]
    if field is not None:
        assert err["field"] == field, err
    assert err["id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text and "/tracehop/" not in r.text
    return dict(err)


def test_missing_wrong_and_malformed_tokens_get_401(env: Env, url: str) -> None:
    for headers in ({}, auth("th_" + "x" * 43), {"Authorization": f"Basic {env.alice}"},
                    {"Authorization": "Bearer"}):
        r = httpx.post(f"{url}/v1/inquiries", json=ASK, headers=headers)
        _error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")
    refused = [e for e in env.audit_entries() if e["who"] == UNAUTHENTICATED]
    assert len(refused) >= 4
    assert refused[-1]["answered"]["refused"]["http_status"] == 401


def test_revoked_token_is_refused_without_restart_and_new_token_works(env: Env,
                                                                      url: str) -> None:
    carol = add_token(env.tokens, "carol")
    assert httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(carol)).status_code == 200
    revoke_token(env.tokens, "carol")
    r = httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(carol))
    _error(r, 401, "unauthorized")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    # the others are unaffected
    assert httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(env.alice)).status_code == 200


def test_malformed_json_is_400(env: Env, url: str) -> None:
    for body in (b'{"called": "+13125550100",', b"\xff\xfe not utf-8", b"",
                 b"[" * 30_000 + b"]" * 30_000,  # nesting deeper than the parser recurses
                 b'{"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "window": NaN}',
                 b'{"called": ' + b"9" * 10_000 + b"}"):  # over int_max_str_digits
        r = httpx.post(f"{url}/v1/inquiries", content=body, headers=auth(env.alice))
        _error(r, 400, "invalid_json")


def test_a_lone_surrogate_escape_is_400_not_a_500_for_the_whole_group(env: Env,
                                                                       url: str) -> None:
    """`"\\ud800"` is valid JSON syntax but no character (RFC 8259 §8.2): it cannot be
    written as UTF-8, so it used to fail the audit write with a 500 (and the group commit
    with it, every concurrent request's answer). It is refused as 400, and logged."""
    assert httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(env.alice)).status_code == 200
    before = len(env.audit_entries())
    for body in (b'{"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "id": "\\ud800"}',
                 b'[{"called": "\\udfff", "time": "2026-11-20T14:03:22Z"}]'):
        r = httpx.post(f"{url}/v1/inquiries", content=body, headers=auth(env.alice))
        _error(r, 400, "invalid_json")
        assert "surrogate" in r.json()["error"]["message"]
    assert len(env.audit_entries()) == before + 2
    assert verify(env.audit).ok
    # a surrogate pair is one character, and fine
    ok = dict(ASK, id="\U0001F600")
    assert httpx.post(f"{url}/v1/inquiries", json=ok, headers=auth(env.alice)).status_code == 200


def test_unix_time_as_a_json_number_is_read_as_in_a_file(env: Env, url: str) -> None:
    """The time field says Unix seconds are read, and an inquiry file's JSON lines take a
    number: the API takes one too (2026-11-20T14:03:22Z), and the answer is the same as for
    the ISO time. A JSON true is still no time."""
    iso = httpx.post(f"{url}/v1/inquiries", json=ASK, headers=auth(env.alice)).json()
    for t in (1795183402, 1795183402.0):
        r = httpx.post(f"{url}/v1/inquiries", json=dict(ASK, time=t), headers=auth(env.alice))
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["inquiry"]["time_utc"] == iso["inquiry"]["time_utc"] == "2026-11-20T14:03:22Z"
        assert (got["status"], got["match"]) == (iso["status"], iso["match"])
    _error(httpx.post(f"{url}/v1/inquiries", json=dict(ASK, time=True), headers=auth(env.alice)),
           422, "invalid_inquiry")


def test_wrong_shapes_are_422(env: Env, url: str) -> None:
    for body in ("42", '"+13125550100"', "[]", "null", "[42]"):
        r = httpx.post(f"{url}/v1/inquiries", content=body, headers=auth(env.alice))
        assert r.status_code == 422, (body, r.text)


def test_oversized_bodies_are_413_and_oversized_batches_422(env: Env, url: str) -> None:
    big = json.dumps([ASK] * 40).encode() + b" " * (64 * 1024)
    _error(httpx.post(f"{url}/v1/inquiries", content=big, headers=auth(env.alice)),
           413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b"["
        for _ in range(2000):
            yield json.dumps(ASK).encode() + b","
        yield b"{}]"

    r = httpx.post(f"{url}/v1/inquiries", content=chunks(), headers=auth(env.alice))
    _error(r, 413, "body_too_large")
    # a batch over --max-batch (50 here), small enough in bytes
    _error(httpx.post(f"{url}/v1/inquiries", json=[ASK] * 51, headers=auth(env.alice)),
           422, "batch_too_large")


def test_a_caller_id_that_is_no_number_is_answered_not_refused(env: Env, url: str) -> None:
    r = httpx.post(f"{url}/v1/inquiries", json={**ASK, "calling": "anonymous"},
                   headers=auth(env.alice))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["status"] == "upstream" and a["inquiry"]["calling_raw"] == "anonymous"
    assert any("not a valid phone number" in w for w in a["warnings"])


@pytest.mark.parametrize(("inquiry", "field"), [
    ({"called": "not a number", "time": "2026-11-20T14:03:22Z"}, "called"),
    ({"called": "+1312555*", "time": "2026-11-20T14:03:22Z"}, "called"),
    ({"called": "%", "time": "2026-11-20T14:03:22Z"}, "called"),
    ({"time": "2026-11-20T14:03:22Z"}, "called"),
    ({"called": "+13125550100", "time": "yesterday"}, "time"),
    ({"called": "+13125550100", "time": "2026-13-45T25:00:00Z"}, "time"),
    ({"called": "+13125550100"}, "time"),
    ({"called": "+13125550100", "time": "9999-12-31T23:59:59Z"}, "time"),
    ({"called": "+13125550100", "time": "0001-01-01T00:00:00+14:00"}, "time"),
    ({"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "window": 90000}, "window"),
    ({"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "window": -5}, "window"),
    ({"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "called_from": "+1312"},
     "called_from"),
    ({"called": 13125550100, "time": "2026-11-20T14:03:22Z"}, "called"),
])
def test_invalid_inquiries_are_422_naming_the_field_and_logged(env: Env, url: str,
                                                               inquiry: dict[str, Any],
                                                               field: str) -> None:
    r = httpx.post(f"{url}/v1/inquiries", json=inquiry, headers=auth(env.alice))
    err = _error(r, 422, "invalid_inquiry", field)
    last = env.audit_entries()[-1]
    assert last["who"] == "alice"
    assert last["asked"]["request_id"] == err["id"]
    assert last["answered"]["refused"]["field"] == field


def test_one_bad_item_refuses_the_batch_naming_its_index(env: Env, url: str) -> None:
    batch = [ASK, {"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "window": 172800}]
    r = httpx.post(f"{url}/v1/inquiries", json=batch, headers=auth(env.alice))
    _error(r, 422, "invalid_inquiry", "1.window")


def test_every_answer_and_refusal_is_in_a_verifiable_audit_log(env: Env, url: str) -> None:
    r = httpx.post(f"{url}/v1/inquiries", json=[ASK, ASK], headers=auth(env.bob))
    rid = r.headers["x-request-id"]
    entries = env.audit_entries()
    mine = [e for e in entries if e["asked"].get("request_id") == rid]
    assert [e["asked"]["item"] for e in mine] == [0, 1]
    assert all(e["who"] == "bob" and e["answered"]["status"] == "upstream" for e in mine)
    assert mine[0]["asked"]["called"] == "+13125550100"
    assert mine[0]["answered"]["leg_id"] == "a1"
    report = verify(env.audit)
    assert report.ok, report.reason
    assert report.entries == len(entries)


def test_rate_limit_per_requester_counts_each_inquiry(env: Env) -> None:
    with ServerThread(env.app(rate_per_minute=5)) as u:
        ok = httpx.post(f"{u}/v1/inquiries", json=[ASK] * 3, headers=auth(env.alice))
        assert ok.status_code == 200
        r = httpx.post(f"{u}/v1/inquiries", json=[ASK] * 3, headers=auth(env.alice))
        _error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # bob has his own bucket
        assert httpx.post(f"{u}/v1/inquiries", json=ASK,
                          headers=auth(env.bob)).status_code == 200
        assert httpx.post(f"{u}/v1/inquiries", json=[ASK] * 2,
                          headers=auth(env.alice)).status_code == 200
        _error(httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(env.alice)),
               429, "rate_limited")
        assert env.audit_entries()[-1]["answered"]["refused"]["code"] == "rate_limited"
        # a batch larger than a minute's allowance could never pass: not "retry", but 422
        _error(httpx.post(f"{u}/v1/inquiries", json=[ASK] * 6, headers=auth(env.bob)),
               422, "batch_too_large")


def test_new_data_is_answered_while_the_service_runs(env: Env, url: str) -> None:
    ask = {"called": "+13125550177", "time": "2026-11-20T15:00:00Z"}
    before = httpx.post(f"{url}/v1/inquiries", json=ask, headers=auth(env.alice)).json()
    assert before["status"] == "not_found"
    v0 = httpx.get(f"{url}/v1/health").json()["store"]["version"]
    # another writer (an ingest) commits while the server runs
    writer = Store.open(env.store_dir)
    commit(writer, [leg("n1", "+13125550177", datetime(2026, 11, 20, 15, 0, 4, tzinfo=UTC),
                        "GLOBEX_IN")], "b")
    after = httpx.post(f"{url}/v1/inquiries", json=ask, headers=auth(env.alice)).json()
    assert after["status"] == "upstream"
    assert after["match"]["leg_id"] == "n1"
    assert httpx.get(f"{url}/v1/health").json()["store"]["version"] > v0


def test_an_internal_error_shows_no_details(env: Env) -> None:
    from tracehop.respond.audit import AuditLog
    from tracehop.service.app import ServiceConfig, create_app
    from tracehop.service.tokens import TokenFile

    class Broken:
        def lookup_many(self, inquiries: list[Any]) -> list[Any]:
            raise RuntimeError(f"cannot open {env.store_dir}/legs/day=2026-11-20/x.parquet")

    app = create_app(ServiceConfig(tokens=TokenFile(env.tokens), answerer=Broken(),
                                   audit=AuditLog(env.audit)))
    with ServerThread(app, log_level="critical") as u:
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(env.alice))
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    assert r.json() == {"error": {"code": "internal", "message": "internal error",
                                  "field": None, "id": rid}}
    assert "parquet" not in r.text and str(env.root) not in r.text
    last = env.audit_entries()[-1]
    assert last["asked"]["request_id"] == rid
    assert last["answered"] == {"failed": {"http_status": 500, "code": "internal"}}


CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,negative_data_rejection,response_headers_conformance,"
          "missing_required_header,unsupported_method,ignored_auth")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(env: Env, url: str) -> None:
    """Fuzz the live server from its own OpenAPI document (25 examples: ~150 requests, ~10 s;
    run `schemathesis` by hand with --max-examples 300 for a deeper search)."""
    examples = 25
    import shutil
    import subprocess

    exe = shutil.which("schemathesis")
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    r = subprocess.run(
        [exe, "run", f"{url}/openapi.json", "--header", f"Authorization: Bearer {env.alice}",
         "--checks", CHECKS, "--max-examples", str(examples), "--no-color",
         "--request-timeout", "20"],
        capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
    assert "passed" in r.stdout
    # what it sent was audit-logged, and the chain still verifies
    assert verify(env.audit).ok


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_the_serve_command_runs_the_service_and_stops_on_sigterm(env: Env, signame: str
                                                                 ) -> None:
    """SIGTERM (systemctl stop) and SIGHUP (a closed terminal; it used to kill the process
    on the spot, requests in flight and all) both shut down gracefully."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    sig = getattr(signal, signame)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    audit = env.root / f"cli-audit-{signame}.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracehop.cli", "serve", "--store", str(env.store_dir),
         "--peers", str(env.peers), "--tokens", str(env.tokens), "--audit", str(audit),
         "--port", str(port), "--rate-limit", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "tracehop serve did not start"
            time.sleep(0.1)
        r = httpx.post(f"{base}/v1/inquiries", json=ASK, headers=auth(env.alice))
        assert r.status_code == 200 and r.json()["status"] == "upstream"
        assert "server" not in r.headers  # no software banner
        assert verify(audit).entries == 1
    finally:
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=40)
    # uvicorn shuts down gracefully, then re-raises the signal (systemd counts it as clean)
    assert proc.returncode in (0, -sig), err
    assert "Application shutdown complete" in err


def test_concurrent_requests_each_get_their_own_answers(env: Env, url: str) -> None:
    """Requests in parallel go through the matcher pool; no answer crosses to another."""
    from concurrent.futures import ThreadPoolExecutor

    asks = [(ASK, "a1"), ({"called": "+13125550199", "time": "2026-11-20T14:03:12Z"}, "g1")] * 8

    def one(item: tuple[dict[str, Any], str]) -> tuple[str, str]:
        r = httpx.post(f"{url}/v1/inquiries", json=item[0], headers=auth(env.bob), timeout=30)
        return r.json()["match"]["leg_id"], item[1]

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, asks))
    assert all(got == want for got, want in results)


def test_no_answer_leaves_when_the_audit_log_cannot_be_written(env: Env) -> None:
    from tracehop.errors import AuditError
    from tracehop.match import Matcher
    from tracehop.peers import PeerDirectory
    from tracehop.service.app import ServiceConfig, create_app
    from tracehop.service.tokens import TokenFile

    class FullDisk:
        def append_many(self, records: Any) -> Any:
            raise AuditError(f"{env.audit}: cannot open the audit log for appending")

    app = create_app(ServiceConfig(tokens=TokenFile(env.tokens),
                                   answerer=Matcher(env.store, PeerDirectory.load(env.peers)),
                                   audit=FullDisk()))
    with ServerThread(app, log_level="critical") as u:
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(env.alice))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal"
    assert "Acme" not in r.text and "upstream" not in r.text and str(env.root) not in r.text


def test_behind_an_mtls_proxy_the_verified_certificate_is_required_and_audited(
        env: Env) -> None:
    with ServerThread(env.app(proxy_client_cert=True)) as u:
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(env.alice))
        _error(r, 401, "client_certificate_required")
        failed = auth(env.alice) | {"X-SSL-Client-Verify": "FAILED:certificate has expired",
                                    "X-SSL-Client-DN": "CN=consortium"}
        _error(httpx.post(f"{u}/v1/inquiries", json=ASK, headers=failed), 401,
               "client_certificate_required")
        ok = failed | {"X-SSL-Client-Verify": "SUCCESS"}
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=ok)
        assert r.status_code == 200
    last = env.audit_entries()[-1]
    assert last["who"] == "alice" and last["asked"]["client_cert"] == "CN=consortium"


def test_health_is_503_while_the_store_is_gone(tmp_path: Path) -> None:
    """A store moved or deleted under the running service: every answer would be not_found
    from no records, so the health check must say so (it said 200 "ok", version -1)."""
    e = Env(tmp_path)
    with ServerThread(e.app()) as u:
        assert httpx.get(f"{u}/v1/health").json()["status"] == "ok"
        e.store_dir.rename(tmp_path / "moved.store")
        r = httpx.get(f"{u}/v1/health")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
        (tmp_path / "moved.store").rename(e.store_dir)
        r = httpx.get(f"{u}/v1/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"


def test_serve_refuses_to_start_on_an_audit_log_it_cannot_append_to(tmp_path: Path) -> None:
    """A damaged audit log tail: every answer would be a 500 (each waits for its entry), so
    the service stops at start with an error naming the file, before any port is opened."""
    from tracehop.errors import AuditError

    e = Env(tmp_path)
    e.audit.write_text('{"seq": 1, "hash": "x"}\n{"cut short')
    with pytest.raises(AuditError, match=str(e.audit)):
        e.app()
    e.audit.write_text('{"not": "an entry"\n')
    with pytest.raises(AuditError, match="cannot be read"):
        e.app()
    e.audit.unlink()
    e.app()  # a missing log is made by the first entry
