"""QA: the audit log under a running service when someone deletes or cuts it (DESIGN §7).

The service used to start a fresh chain (seq 1, genesis hash) on the next request after the
log was deleted, and to chain on from whatever entry was last after the log was cut at a line
boundary: either way `tracehop audit verify` said OK and the removed answers left no trace.
And with a log it could no longer append to, every inquiry was a 500 while /v1/health said
"ok".
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from test_service import ASK, Env, auth

from tracehop.respond.audit import AuditLog, AuditRecord, verify
from tracehop.service.run import ServerThread


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


def test_a_log_deleted_under_the_service_goes_on_from_the_last_entry(tmp_path: Path) -> None:
    e = Env(tmp_path)
    with ServerThread(e.app()) as u:
        for _ in range(2):
            assert httpx.post(f"{u}/v1/inquiries", json=ASK,
                              headers=auth(e.alice)).status_code == 200
        before = verify(e.audit)
        assert before.ok and before.entries == 2
        e.audit.unlink()
        assert httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice)).status_code == 200
    first = json.loads(_lines(e.audit)[0])
    # chained to the entry the service wrote last, not to a new genesis
    assert first["seq"] == 3 and first["prev_hash"] == before.head_hash
    report = verify(e.audit)
    assert not report.ok and "1..2 was deleted" in (report.reason or "")


def test_a_log_cut_at_a_line_under_the_service_shows_the_gap(tmp_path: Path) -> None:
    e = Env(tmp_path)
    with ServerThread(e.app()) as u:
        for _ in range(3):
            assert httpx.post(f"{u}/v1/inquiries", json=ASK,
                              headers=auth(e.alice)).status_code == 200
        lines = _lines(e.audit)
        e.audit.write_bytes(b"\n".join(lines[:1]) + b"\n")  # entries 2 and 3 cut
        assert httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice)).status_code == 200
    report = verify(e.audit)
    assert not report.ok and "2..3 was deleted" in (report.reason or ""), report


def test_two_writers_on_one_log_still_chain(tmp_path: Path) -> None:
    """The memory of the last entry must not fork a log that two processes share."""
    path = tmp_path / "audit.jsonl"
    a, b = AuditLog(path), AuditLog(path)
    for log in (a, b, a, a, b):
        log.append(AuditRecord(who="x", asked={}, searched=None, answered={}))
    assert verify(path).ok and verify(path).entries == 5


def test_health_is_503_while_the_audit_log_cannot_be_appended_to(tmp_path: Path) -> None:
    e = Env(tmp_path)
    with ServerThread(e.app()) as u:
        assert httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice)).status_code == 200
        good = e.audit.read_bytes()
        e.audit.write_bytes(good[:-10])  # the last entry cut mid-line
        r = httpx.post(f"{u}/v1/inquiries", json=ASK, headers=auth(e.alice))
        assert r.status_code == 500  # nothing is answered without its audit entry
        r = httpx.get(f"{u}/v1/health")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
        assert str(e.audit) not in r.text
        e.audit.write_bytes(good)
        assert httpx.get(f"{u}/v1/health").status_code == 200


def test_serve_says_at_start_where_the_audit_chain_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log cut or deleted while the service was stopped still verifies; the head printed
    at each start (the journal keeps it) is what `audit verify --expect-head` checks it by."""
    import tracehop.service.run as run
    from tracehop.cli import cli

    monkeypatch.setattr(run, "build_app", lambda *a, **k: None)
    monkeypatch.setattr(run, "serve", lambda *a, **k: None)
    log = tmp_path / "audit.jsonl"
    entries = AuditLog(log).append_many(
        [AuditRecord(who="x", asked={}, searched=None, answered={}) for _ in range(3)])
    res = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path), "--peers",
                                   str(tmp_path / "p.toml"), "--tokens", str(tmp_path / "t.json"),
                                   "--audit", str(log)])
    assert res.exit_code == 0, res.output
    assert "seq 3" in res.output and entries[-1]["hash"] in res.output, res.output


def test_a_head_recorded_earlier_still_verifies_after_more_entries(tmp_path: Path) -> None:
    """--expect-head said "entries were removed from the end" of every log written to since
    the head was recorded: useless for a running service's log, which always is."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    rec = AuditRecord(who="x", asked={}, searched=None, answered={})
    log.append_many([rec, rec, rec])
    head = verify(path).head_hash
    log.append_many([rec, rec])
    assert verify(path, expected_head=head).ok
    lines = _lines(path)
    path.write_bytes(b"\n".join(lines[:2]) + b"\n")  # cut past the recorded head
    rep = verify(path, expected_head=head)
    assert not rep.ok and "removed from the end" in (rep.reason or "")
