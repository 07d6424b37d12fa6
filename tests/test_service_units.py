"""The service's parts without a server: token file, rate limiter, API models, token CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.answer import (
    Customer,
    Evidence,
    InquiryEcho,
    Match,
    Searched,
    TracebackAnswer,
    Upstream,
)
from tracehop.cli import cli
from tracehop.errors import TokenError
from tracehop.service import models
from tracehop.service.ratelimit import RateLimiter
from tracehop.service.tokens import TokenFile, add_token, hash_token, read_entries, revoke_token

# --- token file ---------------------------------------------------------------------------


def test_add_returns_a_256_bit_token_and_the_file_keeps_only_its_hash(tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    token = add_token(f, "consortium")
    assert token.startswith("th_") and len(token) == 3 + 43  # 32 bytes, base64url
    text = f.read_text()
    assert token not in text and token[3:] not in text
    assert hash_token(token) in text
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert add_token(f, "other") != token


def test_token_file_verifies_and_sees_revocation_and_additions(tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    a = add_token(f, "alice")
    tf = TokenFile(f)
    assert tf.verify(a) == "alice"
    assert tf.verify(a + "x") is None and tf.verify("") is None and tf.verify(None) is None
    b = add_token(f, "bob")
    assert tf.verify(b) == "bob"
    revoke_token(f, "alice")
    assert tf.verify(a) is None
    assert tf.verify(b) == "bob"
    # revoked entries stay listed, with the time
    entries = read_entries(f)
    assert [(e.name, e.active) for e in entries] == [("alice", False), ("bob", True)]
    # a new token for a revoked name is a new token
    a2 = add_token(f, "alice")
    assert tf.verify(a2) == "alice" and tf.verify(a) is None


def test_a_damaged_token_file_fails_closed(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "tokens.json"
    a = add_token(f, "alice")
    tf = TokenFile(f)
    f.write_text('{"format": "tracehop-tokens", "tokens": [')
    assert tf.verify(a) is None
    assert tf.load_error is not None and "not valid JSON" in str(tf.load_error)
    # ... and the server log says why (to the client it looks like a wrong token)
    assert any("token file unusable" in r.getMessage() and str(f) in r.getMessage()
               for r in caplog.records)
    f.unlink()
    assert tf.verify(a) is None


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not valid JSON"),
    ('{"tokens": []}', "not a tracehop token file"),
    ('{"format": "tracehop-tokens", "tokens": [{"name": "a", "sha256": "xyz"}]}',
     "no valid sha256"),
    ('{"format": "tracehop-tokens", "tokens": [{"name": "a b", "sha256": "' + "0" * 64 + '"}]}',
     "invalid name"),
])
def test_bad_token_files_are_named_errors(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "tokens.json"
    f.write_text(content)
    with pytest.raises(TokenError, match=message) as e:
        TokenFile(f)
    assert str(f) in str(e.value)


def test_a_service_needs_at_least_one_active_token(tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    with pytest.raises(TokenError, match="does not exist"):
        TokenFile(f)
    add_token(f, "a")
    revoke_token(f, "a")
    with pytest.raises(TokenError, match="no active token"):
        TokenFile(f)


def test_duplicate_names_and_unknown_revocations_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    add_token(f, "alice")
    with pytest.raises(TokenError, match="already exists"):
        add_token(f, "alice")
    with pytest.raises(TokenError, match="no active token named 'bob'"):
        revoke_token(f, "bob")
    with pytest.raises(TokenError, match="invalid token name"):
        add_token(f, "../etc")


# --- rate limiter -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    rl = RateLimiter(60, clock=clock)  # one per second, bursts of 60
    assert rl.take("a", 60).allowed
    d = rl.take("a", 1)
    assert not d.allowed and d.retry_after_s == 1
    assert rl.take("b", 10).allowed  # another requester's bucket is full
    clock.t += 10
    assert not rl.take("a", 11).allowed  # all or nothing: 10 in the bucket
    d = rl.take("a", 10)
    assert d.allowed and d.remaining == 0
    d = rl.take("a", 30)
    assert not d.allowed and d.retry_after_s == 30
    clock.t += 3600
    assert rl.take("a", 60).allowed and not rl.take("a", 1).allowed  # capped at capacity


def test_a_batch_larger_than_the_bucket_is_never_allowed() -> None:
    rl = RateLimiter(10, clock=Clock())
    assert not rl.take("a", 11).allowed


# --- models -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dc", "model"), [
    (TracebackAnswer, models.TracebackAnswerOut), (Upstream, models.UpstreamOut),
    (Customer, models.CustomerOut), (Match, models.MatchOut), (Evidence, models.EvidenceOut),
    (Searched, models.SearchedOut),
])
def test_answer_models_have_exactly_the_fields_of_the_dataclasses(dc: type, model: type) -> None:
    assert {f.name for f in dataclasses.fields(dc)} == set(model.model_fields)


def test_inquiry_echo_model_matches_its_dataclass_with_extras_allowed() -> None:
    fields = {f.name for f in dataclasses.fields(InquiryEcho)} - {"extra"}
    assert fields == set(models.InquiryEchoOut.model_fields)
    assert models.InquiryEchoOut.model_config.get("extra") == "allow"


def test_a_real_answer_validates_against_the_published_model() -> None:
    ans = TracebackAnswer(
        inquiry=InquiryEcho(called="+13125550100", time_utc="2026-11-20T14:03:22Z",
                            extra={"ticket": "T-1"}),
        status="upstream", confidence=0.9,
        searched=Searched(from_utc="a", to_utc="b", step="±120s"),
        upstream=Upstream(provider="Acme", trunk="ACME_IN_1"),
        match=Match(leg_id="x", start_utc="2026-11-20T14:03:10Z", offset_s=-12.0,
                    called_raw="3125550100", calling_raw=None, call_id=None,
                    evidence=Evidence(source="s", file="f", record=3)),
    )
    out = models.TracebackAnswerOut.model_validate(ans.to_dict())
    assert out.model_dump(exclude_unset=True)["inquiry"]["ticket"] == "T-1"


# --- CLI ----------------------------------------------------------------------------------


def test_token_cli_prints_the_token_once_and_lists_without_it(tmp_path: Path) -> None:
    f = str(tmp_path / "tokens.json")
    runner = CliRunner()
    r = runner.invoke(cli, ["token", "add", "consortium", "--tokens", f])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert token.startswith("th_")
    assert TokenFile(f).verify(token) == "consortium"
    r = runner.invoke(cli, ["token", "list", "--tokens", f, "--json"])
    assert r.exit_code == 0
    listed = json.loads(r.stdout)["tokens"]
    assert listed[0]["name"] == "consortium" and listed[0]["revoked_utc"] is None
    assert token not in r.stdout and hash_token(token) not in r.stdout
    r = runner.invoke(cli, ["token", "add", "consortium", "--tokens", f])
    assert r.exit_code == 1 and "already exists" in r.output
    r = runner.invoke(cli, ["token", "revoke", "consortium", "--tokens", f])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["token", "list", "--tokens", f])
    assert "revoked" in r.stdout


def test_a_token_is_rotated_without_a_gap(tmp_path: Path) -> None:
    """add --rotate gives the requester a second token beside the first; a running service
    takes both until the old one is revoked by its fingerprint, and only then refuses it."""
    f = str(tmp_path / "tokens.json")
    runner = CliRunner()
    old = runner.invoke(cli, ["token", "add", "consortium", "--tokens", f]).stdout.strip()
    service = TokenFile(f)
    r = runner.invoke(cli, ["token", "add", "consortium", "--tokens", f])
    assert r.exit_code == 1 and "--rotate" in r.output  # the hint names the way without a gap
    r = runner.invoke(cli, ["token", "add", "consortium", "--rotate", "--tokens", f])
    assert r.exit_code == 0, r.output
    new = r.stdout.strip()
    assert service.verify(old) == service.verify(new) == "consortium"
    listed = json.loads(runner.invoke(cli, ["token", "list", "--tokens", f, "--json"]).stdout)
    fp_old = next(t["fingerprint"] for t in listed["tokens"]
                  if hash_token(old).startswith(t["fingerprint"]))
    r = runner.invoke(cli, ["token", "revoke", "consortium", "--fingerprint", fp_old,
                            "--tokens", f])
    assert r.exit_code == 0, r.output
    assert service.verify(old) is None and service.verify(new) == "consortium"
    r = runner.invoke(cli, ["token", "revoke", "consortium", "--fingerprint", fp_old,
                            "--tokens", f])
    assert r.exit_code == 1 and "no active token" in r.output
    r = runner.invoke(cli, ["token", "add", "partner", "--rotate", "--tokens", f])
    assert r.exit_code == 1 and "no active token named 'partner' to rotate" in r.output


def test_serve_refuses_bad_files_before_opening_a_port(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path / "none"), "--peers",
                                 str(tmp_path / "p.toml"), "--tokens", str(tmp_path / "t.json")])
    assert r.exit_code == 1
    assert "Error:" in r.output and "no tracehop store" in r.output


# --- audit group commit -------------------------------------------------------------------


def test_group_commit_writes_every_entry_once_in_a_valid_chain(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tracehop.respond.audit import AuditLog, AuditRecord, verify
    from tracehop.service.groupcommit import GroupCommitLog

    log = GroupCommitLog(AuditLog(tmp_path / "audit.jsonl"))

    def one(i: int) -> list[int]:
        recs = [AuditRecord(who=f"w{i}", asked={"i": i, "j": j}, searched=None,
                            answered={"ok": True}) for j in range(i % 3 + 1)]
        return [e["asked"]["i"] for e in log.append_many(recs)]

    with ThreadPoolExecutor(16) as ex:
        got = list(ex.map(one, range(200)))
    assert all(g == [i] * (i % 3 + 1) for i, g in enumerate(got))  # each caller its own
    report = verify(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == sum(i % 3 + 1 for i in range(200))
    assert log.groups <= 200


def test_group_commit_reports_a_failed_write_to_its_callers(tmp_path: Path) -> None:
    from tracehop.errors import AuditError
    from tracehop.respond.audit import AuditLog, AuditRecord
    from tracehop.service.groupcommit import GroupCommitLog

    (tmp_path / "audit.jsonl").write_text('{"cut short')  # a damaged last line
    log = GroupCommitLog(AuditLog(tmp_path / "audit.jsonl"))
    rec = AuditRecord(who="a", asked={}, searched=None, answered={})
    with pytest.raises(AuditError):
        log.append_many([rec])
    with pytest.raises(AuditError):  # and the next caller is not stuck behind it
        log.append_many([rec])


def test_token_add_and_revoke_keep_the_files_mode_and_group(tmp_path: Path) -> None:
    # docs/deploy.md: root:tracehop 0640, the service's user reads it. A rewrite that left
    # it 0600 root:root would lock the running service out.
    from tracehop.service.tokens import add_token, revoke_token

    path = tmp_path / "tokens.json"
    add_token(path, "first")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a new file: owner only
    os.chmod(path, 0o640)
    gid = 65534 if os.geteuid() == 0 else path.stat().st_gid
    if os.geteuid() == 0:
        os.chown(path, -1, gid)
    add_token(path, "second")
    revoke_token(path, "first")
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == gid


def test_token_add_does_not_create_a_missing_directory(tmp_path: Path) -> None:
    from tracehop.errors import TokenError
    from tracehop.service.tokens import add_token

    with pytest.raises(TokenError, match="does not exist"):
        add_token(tmp_path / "nope" / "tokens.json", "x")
    assert not (tmp_path / "nope").exists()


def test_token_add_fills_an_empty_token_file_created_beforehand(tmp_path: Path) -> None:
    """`install -m 0640 -g tracehop /dev/null tokens.json`, then `token add`: the empty file
    holds no tokens yet (it was refused as "not valid JSON", and the hint said to run the very
    `token add` that had refused it)."""
    f = tmp_path / "tokens.json"
    f.touch(mode=0o640)
    os.chmod(f, 0o640)
    res = CliRunner().invoke(cli, ["token", "add", "consortium", "--tokens", str(f)])
    assert res.exit_code == 0, res.output
    token = res.output.splitlines()[0]
    assert TokenFile(f).verify(token) == "consortium"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    # ... and an empty file is a service with no token: refused at start, as a missing one
    g = tmp_path / "empty.json"
    g.write_text("\n")
    with pytest.raises(TokenError, match="no active token"):
        TokenFile(g)


def test_the_duplicate_name_hint_is_a_command_that_works(tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    add_token(f, "alice")
    with pytest.raises(TokenError, match=f"token revoke alice --tokens {f}"):
        add_token(f, "alice")


def test_a_running_service_says_when_no_token_is_left(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "tokens.json"
    a = add_token(f, "alice")
    tf = TokenFile(f)
    revoke_token(f, "alice")
    assert tf.verify(a) is None
    assert any("no active token" in r.getMessage() for r in caplog.records)


def test_sigterm_drains_for_longer_than_before_but_within_the_units_stop_timeout() -> None:
    """docs/deploy.md's unit gives a stop TimeoutStopSec=30s and says the requests in flight
    finish: the drain must use most of that (it was 10 s: queued batches got a 500) and end
    before systemd's SIGKILL."""
    import re

    from fastapi import FastAPI

    from tracehop.service.run import uvicorn_config

    unit = (Path(__file__).parents[1] / "docs" / "deploy.md").read_text()
    m = re.search(r"^TimeoutStopSec=(\d+)s$", unit, re.M)
    assert m is not None
    drain = uvicorn_config(FastAPI(), "127.0.0.1", 0).timeout_graceful_shutdown
    assert drain is not None and 20 <= drain < int(m.group(1))


def test_token_list_of_a_missing_file_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    f = tmp_path / "tokns.json"  # a typo
    res = CliRunner().invoke(cli, ["token", "list", "--tokens", str(f)])
    assert res.exit_code != 0 and "does not exist" in res.output, res.output


def test_serve_warns_when_plain_http_or_proxy_headers_are_reachable_from_the_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracehop.service.run as run

    monkeypatch.setattr(run, "build_app", lambda *a, **k: None)
    monkeypatch.setattr(run, "serve", lambda *a, **k: None)
    base = ["serve", "--store", str(tmp_path), "--peers", str(tmp_path / "p.toml"),
            "--tokens", str(tmp_path / "t.json")]
    quiet = CliRunner().invoke(cli, [*base, "--proxy-client-cert"])
    assert quiet.exit_code == 0 and "Warning" not in quiet.output, quiet.output
    loud = CliRunner().invoke(cli, [*base, "--host", "0.0.0.0", "--proxy-client-cert"])
    assert loud.exit_code == 0, loud.output
    assert "plain HTTP on 0.0.0.0" in loud.output and "X-SSL-Client-Verify" in loud.output
