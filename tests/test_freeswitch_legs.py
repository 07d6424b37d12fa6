"""FreeSWITCH mod_cdr_csv with ``legs = ab`` (the shipped cdr_csv.conf.xml: legs "may be a b
or ab"): each bridged call has an A-leg record (the leg FreeSWITCH received) and a B-leg
record (the leg it placed). The A-leg's ``bleg_uuid`` is its B-leg's ``uuid``.

fixtures/cdr/freeswitch_cdr_csv/Master_legs_ab.csv: a carrier's call to a DID bridged to
extension 1000 (A then B), our customer's call out to 13125559999 (B written before A: the
callee hung up first), and a carrier call answered by an IVR (no B-leg). DESIGN §5: the
matcher answers from the inbound leg, never the egress leg; a B-leg must therefore be
outbound and share its A-leg's correlation_id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import cli_lookup

from tracehop.cli import cli
from tracehop.errors import ProfileError
from tracehop.ingest import readers
from tracehop.ingest.profile import parse_profile
from tracehop.ingest.run import parse_file

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "freeswitch_cdr_csv"
           / "Master_legs_ab.csv")
PEERS = """
[[peer]]
name = "Acme Transit"
role = "upstream"
accounts = ["ACME"]

[[peer]]
name = "Dialer Co"
role = "customer"
accounts = ["CUST42"]
"""
TZ = "America/New_York"


def _legs(path: Path = FIXTURE) -> list[dict[str, object]]:
    res = parse_file(path, None, TZ, "fs")
    assert res.format == "freeswitch_cdr_csv"
    assert res.rejects.num_rows == 0
    return sorted(res.legs.to_pylist(), key=lambda r: int(str(r["source_record"])))


def test_b_legs_are_outbound_and_share_their_a_legs_key() -> None:
    rows = _legs()
    assert [r["direction"] for r in rows] == [
        "inbound", "outbound", "outbound", "inbound", "inbound"]
    a, b, b2, a2, ivr = rows
    assert a["correlation_id"] == b["correlation_id"] == "6f1c0a3e-1b2c-4d5e-8f90-a1b2c3d4e502"
    assert a2["correlation_id"] == b2["correlation_id"]
    assert ivr["correlation_id"] == "6f1c0a3e-1b2c-4d5e-8f90-a1b2c3d4e505"  # its own uuid


def test_a_pair_split_across_read_batches_is_still_linked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A B-leg written before its A-leg, with the two in different batches: the file's
    # references are collected first, so the batch boundary changes nothing.
    monkeypatch.setattr(readers, "CHUNK_BYTES", 300)
    assert [r["direction"] for r in _legs()] == [
        "inbound", "outbound", "outbound", "inbound", "inbound"]


def test_legs_naming_each_other_are_left_as_they_were(tmp_path: Path) -> None:
    # Two records naming each other say nothing about which is the B-leg: neither is
    # made outbound on that evidence alone.
    lines = FIXTURE.read_text().splitlines()
    b = lines[1].replace('"6f1c0a3e-1b2c-4d5e-8f90-a1b2c3d4e502","",',
                         '"6f1c0a3e-1b2c-4d5e-8f90-a1b2c3d4e502",'
                         '"6f1c0a3e-1b2c-4d5e-8f90-a1b2c3d4e501",')
    f = tmp_path / "Master.csv"
    f.write_text("\n".join([lines[0], b]) + "\n")
    assert [r["direction"] for r in _legs(f)] == ["inbound", "inbound"]


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "peers.toml").write_text(PEERS)
    r = CliRunner().invoke(cli, ["ingest", str(FIXTURE), "--store", str(tmp_path / "store"),
                                 "--tz", TZ, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stored"] == 5
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


def _record(answer: dict[str, object]) -> object:
    match = answer["match"]
    assert isinstance(match, dict)
    return match["evidence"]["record"]


def test_our_customers_call_is_answered_from_its_a_leg(store: tuple[str, str]) -> None:
    # Before: the B-leg (inbound too) was a second candidate for the same number: ambiguous.
    a = cli_lookup(store, "3125559999", "2026-11-20T14:10:00Z")
    assert a["status"] == "originating", a
    assert a["customer"] == {"account": "CUST42", "name": "Dialer Co"}
    assert _record(a) == 4
    assert a["alternatives"] == []


def test_a_carriers_call_is_answered_from_its_a_leg(store: tuple[str, str]) -> None:
    a = cli_lookup(store, "3125550100", "2026-11-20T14:03:22Z")
    assert a["status"] == "upstream", a
    assert _record(a) == 1
    assert a["alternatives"] == []


def test_a_rule_takes_a_regex_or_referenced_by_not_both() -> None:
    base = {"name": "x", "csv": {"columns": ["a", "b", "t"]}, "time": {"start": "t"},
            "fields": {"called_raw": "a"}}
    for rule in ({"column": "a", "value": "outbound"},
                 {"column": "a", "regex": "x", "referenced_by": "b", "value": "outbound"}):
        with pytest.raises(ProfileError, match="referenced_by"):
            parse_profile({**base, "direction": {"rules": [rule]}}, "x.toml")
    with pytest.raises(ProfileError, match=r"not in csv\.columns"):
        parse_profile({**base, "direction": {"rules": [
            {"column": "a", "referenced_by": "zz", "value": "outbound"}]}}, "x.toml")


# A carrier's call to a DID rung on two extensions at once (ring-all: `bridge
# user/1000,user/1001`): the A-leg names the B-leg that answered; the other B-leg, named by
# no record, ended with LOSE_RACE.
RING_ALL = FIXTURE.with_name("Master_ring_all.csv")


def test_ring_all_legs_that_lost_are_outbound() -> None:
    # LOSE_RACE and PICKED_OFF end only legs FreeSWITCH placed; nothing else marks a B-leg
    # that no A-leg names.
    assert [r["direction"] for r in _legs(RING_ALL)] == [
        "inbound", "outbound", "outbound", "outbound"]


# The "asterisk" template (channel_name, bridge_channel) with `legs = ab`: a carrier's call
# sent on through a gateway to the same number (a transit hop), then the B-leg's record.
ASTERISK_AB = FIXTURE.with_name("Master_asterisk_legs_ab.csv")


def test_asterisk_template_gateway_legs_are_outbound(tmp_path: Path) -> None:
    res = parse_file(ASTERISK_AB, None, TZ, "fs")
    assert res.format == "freeswitch_cdr_csv_asterisk"
    a, b = sorted(res.legs.to_pylist(), key=lambda r: int(str(r["source_record"])))
    assert (a["direction"], a["ingress_trunk"], a["ingress_ip"], a["egress_trunk"]) == (
        "inbound", "external", "198.51.100.7", "carrier1")
    # The B-leg went out through gateway carrier1; it came in on nothing.
    assert (b["direction"], b["ingress_trunk"], b["ingress_ip"], b["egress_trunk"]) == (
        "outbound", None, None, "carrier1")
    assert a["called_e164"] == b["called_e164"] == "+13125550100"

    (tmp_path / "peers.toml").write_text(
        '[[peer]]\nname = "Acme Transit"\nrole = "upstream"\ntrunks = ["external"]\n')
    r = CliRunner().invoke(cli, ["ingest", str(ASTERISK_AB), "--store", str(tmp_path / "s"),
                                 "--tz", TZ, "--json"])
    assert r.exit_code == 0, r.output
    answer = cli_lookup((str(tmp_path / "s"), str(tmp_path / "peers.toml")),
                        "3125550100", "2026-11-20T14:03:22Z")
    # Before: the gateway leg was a second inbound candidate for the same number and time.
    assert answer["status"] == "upstream", answer
    assert _record(answer) == 1
    assert answer["alternatives"] == []
