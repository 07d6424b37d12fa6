"""`tracehop demo` end to end: the README's first command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import tracehop.demo.run as demo_run
from tracehop.cli import cli
from tracehop.sim.network import Network, demo_network


def test_demo_traces_every_campaign_call_correctly(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--calls", "8", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["calls"] == 8 and d["correct"] == 8 and d["all_correct"] is True
    ends = {c["end"] for c in d["chains"]}
    assert ends == {"originating", "point_of_entry"}
    for c in d["chains"]:
        assert c["correct"] and len(c["hops"]) >= 3
        assert all(h["elapsed_ms"] > 0 for h in c["hops"])
        assert c["origin"] in ("ROBO-7781", "Danube Telecom SRL")
    # every provider's records went into its own store, nothing rejected
    for p in d["providers"].values():
        assert p["ingest"]["stored"] > 0 and p["ingest"]["rejected"] == 0
    report = Path(d["report"])
    assert report.is_file() and report.parent == out
    assert (out / "truth.json").is_file()
    for key in ("lakeside", "keystone", "harbor", "atlas", "summit"):
        assert (out / key / "peers.toml").is_file() and (out / key / "store").is_dir()
    # each provider keeps its records in its own switch's real format
    formats = {p["format"] for p in d["providers"].values()}
    assert len(formats) >= 5 and {"asterisk_cdr_csv", "freeswitch_cdr_csv"} <= formats
    # a hop whose matched leg carried a PASSporT shows it: attestation, verified, signer SPC
    stirs = [h["stir"] for c in d["chains"] for h in c["hops"] if h.get("stir")]
    assert stirs and all(s["verified"] is True for s in stirs)
    ocn = {"Summit Voice": "8453", "Atlas Gateway": "7342"}
    for c in d["chains"]:
        for h in c["hops"]:
            if h.get("stir"):
                # the origin's signature: Summit signs its customers (A), Atlas what it took
                # from the foreign carrier (C)
                signer = "Summit Voice" if c["end"] == "originating" else "Atlas Gateway"
                assert (h["stir"]["signer_spc"], h["stir"]["attest"]) == (
                    ocn[signer], "A" if signer == "Summit Voice" else "C")
    html = report.read_text("utf-8")
    assert "Ribbon SBC .ACT" in html and "Cisco CUCM CDR" in html and "SIP capture" in html
    assert "STIR: attestation" in html and "signed by SPC" in html


def test_demo_exits_non_zero_when_a_chain_is_wrong(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def swapped(**kw: object) -> Network:
        net = demo_network()
        swap = {"Keystone Transit": "Harbor Carrier", "Harbor Carrier": "Keystone Transit"}
        net.peers = [replace(p, name=swap.get(p.name, p.name)) if p.provider == "lakeside"
                     else p for p in net.peers]
        return net

    monkeypatch.setattr(demo_run, "demo_network", swapped)
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--calls", "3"])
    assert r.exit_code == 1
    assert "WRONG C001" in r.output


def test_demo_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--calls", "2"])
    assert r.exit_code != 0 and "not empty" in r.output
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_demo_over_http_with_a_silent_provider(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each provider answers from its own `tracehop serve`; one provider never answers.
    A proxy set in the environment (as on many company machines) is for the outside world:
    the demo's own services on 127.0.0.1 are asked directly."""
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr("tracehop.demo.http.STARTUP_TIMEOUT_S", 15.0)
    run = demo_run.run_demo(demo_run.prepare_out(tmp_path / "d"), calls=3, ordinary=30,
                            http=True, silent={"keystone"})
    assert run.all_correct, [v.problems for v in run.verdicts]
    assert any(v.chain.end == "no_response" for v in run.verdicts)
    assert any(v.chain.found for v in run.verdicts)
    # the inquiries really went over HTTP: each responding provider's audit log has them
    asked = {h.provider for v in run.verdicts for h in v.chain.hops if h.answer is not None}
    for b in run.providers.values():
        audit = b.dir / "audit.jsonl"
        if b.name in asked:
            assert audit.is_file() and audit.read_text().count("\n") >= 1
        if b.key == "keystone":
            assert not audit.exists()


def test_demo_runs_again_in_the_current_directory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`tracehop demo --out .` twice: the second run replaces the first, it does not fail
    trying to remove the directory the user is in."""
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        out = demo_run.prepare_out(Path("."))
        (out / "report.html").write_text("earlier run")
        (out / "lakeside").mkdir()
    assert out == tmp_path.resolve() and tmp_path.is_dir()
    out = demo_run.prepare_out(Path("."))
    assert sorted(p.name for p in tmp_path.iterdir()) == [demo_run.MARKER]


def test_demo_in_a_directory_it_cannot_write_is_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *a: object, **kw: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "ro" / "demo")])
    assert r.exit_code == 1 and r.exception is not None
    assert isinstance(r.exception, SystemExit), r.exception
    assert "Error: " in r.output and "Permission denied" in r.output
    assert "writable directory" in r.output
