"""The `respond`, `audit verify` and `rmd check` commands, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_respond import LEGS, make_store

from tracehop.cli import cli
from tracehop.respond.audit import verify

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("cli") / "store"
    make_store(d, LEGS)
    return str(d)


def test_respond_writes_answers_in_order_and_the_summary(store_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    audit = tmp_path / "audit.jsonl"
    r = CliRunner().invoke(cli, [
        "respond", str(FIX / "inquiries_bad.csv"), "--store", store_dir,
        "--peers", str(FIX / "peers.toml"), "--out", str(out), "--audit", str(audit),
        "--requester", "itg", "--evidence", str(tmp_path / "packs"), "--json"])
    assert r.exit_code == 0, r.output
    answers = [json.loads(x) for x in out.read_text().splitlines()]
    assert [a["inquiry"].get("id") for a in answers] == ["OK-1", "BAD-TIME", "BAD-NUMBER",
                                                         "SHORT", "OK-2"]
    assert [a.get("error", {}).get("line") for a in answers] == [None, 3, 4, 5, None]
    summary = json.loads(r.stderr.strip().splitlines()[-1])
    assert summary["inquiries"] == 5 and summary["rejected"] == 3 and summary["found"] == 2
    assert summary["evidence_packs"] == 5
    rep = verify(audit)
    assert rep.ok and rep.entries == 5 and summary["audit_head"] == rep.head_hash
    assert len(list((tmp_path / "packs").iterdir())) == 5


def test_respond_to_stdout_with_a_human_summary_on_stderr(store_dir: str) -> None:
    r = CliRunner().invoke(cli, [
        "respond", str(FIX / "inquiries.csv"), "--store", store_dir,
        "--peers", str(FIX / "peers.toml"), "--rmd", str(FIX / "rmd_export.csv")])
    assert r.exit_code == 0, r.output
    answers = [json.loads(x) for x in r.stdout.splitlines()]
    assert [a["status"] for a in answers] == ["upstream", "upstream", "originating",
                                              "not_found"]
    assert "Campaign summary" in r.stderr
    assert "Shady Routes is not listed in the Robocall Mitigation Database" in r.stderr


def test_an_unwritable_out_file_is_refused_before_anything_is_answered(
        store_dir: str, tmp_path: Path) -> None:
    """--out in a directory that does not exist was a traceback *after* the audit entries
    and evidence packs were written: the answers were lost, and the rerun was refused
    because the evidence directory already held packs."""
    audit = tmp_path / "audit.jsonl"
    args = ["respond", str(FIX / "inquiries.csv"), "--store", store_dir,
            "--peers", str(FIX / "peers.toml"), "--audit", str(audit),
            "--evidence", str(tmp_path / "packs")]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "nodir" / "a.jsonl")])
    assert r.exit_code == 1 and "Error:" in r.output and "nodir" in r.output
    assert not isinstance(r.exception, OSError)
    assert not audit.exists() and not (tmp_path / "packs").exists()
    # the same run with a good --out goes through, and leaves no temporary file behind
    out = tmp_path / "a.jsonl"
    out.write_text("previous answers\n")
    r = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len(out.read_text().splitlines()) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "audit.jsonl", "packs"]


def test_respond_on_a_missing_store_is_one_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["respond", str(FIX / "inquiries.csv"), "--store",
                                 str(tmp_path / "nope"), "--peers", str(FIX / "peers.toml")])
    assert r.exit_code == 1
    assert "no tracehop store here" in r.output


def test_audit_verify_ok_and_tampered(store_dir: str, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    runner = CliRunner()
    r = runner.invoke(cli, ["respond", str(FIX / "inquiries.csv"), "--store", store_dir,
                            "--peers", str(FIX / "peers.toml"), "--audit", str(audit),
                            "--out", str(tmp_path / "a.jsonl")])
    assert r.exit_code == 0, r.output
    ok = runner.invoke(cli, ["audit", "verify", str(audit)])
    assert ok.exit_code == 0 and "OK, 4 entries" in ok.stdout
    lines = audit.read_text().splitlines(keepends=True)
    audit.write_text(lines[0] + lines[2] + lines[3])  # delete seq 2
    bad = runner.invoke(cli, ["audit", "verify", str(audit), "--json"])
    assert bad.exit_code == 1
    rep = json.loads(bad.stdout)
    assert rep["ok"] is False and rep["first_bad_line"] == 2 and rep["first_bad_seq"] == 3
    assert "deleted" in rep["reason"]


def test_rmd_check_flags_unlisted_peers() -> None:
    r = CliRunner().invoke(cli, ["rmd", "check", str(FIX / "rmd_export.csv"), "--peers",
                                 str(FIX / "peers.toml"), "--json"])
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    listed = {c["provider"]: c["listed"] for c in out["peers"]}
    assert listed == {"Acme Transit": True, "Shady Routes": False, "Globe Carrier": False}
    assert out["skipped"] == [{"line": 5, "reason": "no business name"}]
