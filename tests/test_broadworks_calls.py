"""BroadWorks accounting CDRs (broadworks.py): who the account names, the records of one
forwarded call, and a file that starts with a record.

3. The account falls back from accountCode to groupNumber only on an Originating record the
   user placed; on a Terminating record the group is the called customer's, so a carrier's
   call to that customer answered ``originating`` when the group was listed as an account.
4. A forwarded call's Terminating record (from the carrier) and its redirecting Originating
   record name each other in relatedCallId: both get the lesser id as correlation_id, so a
   lookup of the forwarded-to number follows the egress leg to the carrier.
5. The first line is skipped only when it is not a record (metadata or column names).
6. trunkGroupName is the trunk group of the record's own user (BroadWorks Trunk Group: a
   customer's PBX trunk). On an Originating record that is where the customer handed us the
   call (ingress); on a Terminating record it is where we delivered it to the called customer
   (egress), never who handed it to us: an on-net call (no network route) to a trunking
   customer answered ``originating`` naming the called customer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.broadworks import POSITIONS, R18_FIELDS, call_key
from tracehop.ingest.run import parse_file

META = "BroadWorks CDR file header,BW-AS1,20260714140000"
BASE = {"serviceProvider": "SP1", "type": "Normal", "groupNumber": "3125550400",
        "userTimeZone": "1-040000"}
PEERS = """
[[peer]]
name = "Carrier A"
role = "upstream"
ips = ["203.0.113.0/24"]

[[peer]]
name = "Dental Office"
role = "customer"
accounts = ["3125550400", "ACCT77"]
"""


def _rec(**values: str) -> str:
    fields = [""] * R18_FIELDS
    for k, v in {**BASE, **values}.items():
        fields[POSITIONS[k] - 1] = v
    return ",".join(fields)


def _terminating(n: str, called: str, clock: str, **kw: str) -> str:
    return _rec(recordId=f"1:{n}", userNumber=called, direction="Terminating",
                callingNumber="+12025550111", calledNumber=called,
                startTime=f"20260714{clock}.000", answerIndicator="Yes",
                answerTime=f"20260714{clock}.000", releaseTime=f"20260714{clock}.000",
                terminationCause="016", route="203.0.113.10:5060",
                networkCallID=f"bw{n}@203.0.113.10", localCallId=f"{n}1:0", **kw)


# A carrier's call to user 3125550401; user 3125550402 forwards a carrier's call to
# +13125559999 (Terminating + redirecting Originating record); the PBX user places a call.
CALLS = [
    _terminating("1", "+13125550401", "100000"),
    _terminating("2", "+13125550402", "100500", relatedCallId="22:0"),
    _rec(recordId="1:3", userNumber="+13125550402", direction="Originating",
         callingNumber="+12025550111", calledNumber="+13125559999",
         startTime="20260714100500.200", answerIndicator="Yes",
         answerTime="20260714100506.000", releaseTime="20260714100606.000",
         terminationCause="016", route="198.51.100.20:5060", networkCallID="bw2b@10.0.0.1",
         originalCalledNumber="+13125550402", redirectingNumber="+13125550402",
         localCallId="22:0", relatedCallId="21:0"),
    _rec(recordId="1:4", userNumber="+13125550001", direction="Originating",
         callingNumber="+13125550001", calledNumber="+13125550403",
         startTime="20260714101000.000", answerIndicator="No",
         releaseTime="20260714101030.000", terminationCause="019",
         accessDeviceAddress="10.0.0.21", localCallId="41:0"),
]


def _file(tmp_path: Path, *lines: str) -> Path:
    f = tmp_path / "BW-CDR-20260714140000-2-000042.csv"
    f.write_text("\n".join(lines) + "\n")
    return f


def test_account_only_where_it_names_the_caller(tmp_path: Path) -> None:
    legs = parse_file(_file(tmp_path, META, *CALLS)).legs.to_pylist()
    # Terminating: the called customer's group is not an account; the forwarding record is
    # not a call the user placed; the PBX user's own call is its group's.
    assert [leg["account"] for leg in legs] == [None, None, None, "3125550400"]


def test_account_code_wins_over_the_group(tmp_path: Path) -> None:
    placed = CALLS[3].split(",")
    placed[POSITIONS["accountCode"] - 1] = "ACCT77"
    legs = parse_file(_file(tmp_path, META, ",".join(placed))).legs.to_pylist()
    assert legs[0]["account"] == "ACCT77"


@pytest.mark.parametrize(("local", "related", "key"), [
    ("21:0", "22:0", "21:0"), ("22:0", "21:0", "21:0"), ("41:0", None, "41:0"),
    (None, "22:0", "22:0"), (None, None, None),
])
def test_call_key(local: str | None, related: str | None, key: str | None) -> None:
    assert call_key(local, related) == key


def test_forwarded_call_records_share_one_correlation_id(tmp_path: Path) -> None:
    legs = parse_file(_file(tmp_path, META, *CALLS)).legs.to_pylist()
    assert [leg["correlation_id"] for leg in legs] == ["11:0", "21:0", "21:0", "41:0"]


def _lookup(tmp_path: Path, f: Path, called: str, at: str) -> dict[str, object]:
    store, peers = tmp_path / "store", tmp_path / "peers.toml"
    peers.write_text(PEERS)
    runner = CliRunner()
    if not store.exists():
        r = runner.invoke(cli, ["ingest", str(f), "--store", str(store)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["lookup", "--store", str(store), "--called", called, "--at", at,
                            "--peers", str(peers), "--json"])
    assert r.exit_code == 0, r.output
    answer: dict[str, object] = json.loads(r.output)
    return answer


def test_carriers_call_to_a_customer_group_answers_upstream(tmp_path: Path) -> None:
    a = _lookup(tmp_path, _file(tmp_path, META, *CALLS), "+13125550401", "2026-07-14T14:00:00Z")
    assert a["status"] == "upstream" and a["customer"] is None


def test_forwarded_to_number_leads_to_the_carrier(tmp_path: Path) -> None:
    a = _lookup(tmp_path, _file(tmp_path, META, *CALLS), "+13125559999", "2026-07-14T14:05:00Z")
    assert a["status"] == "upstream"
    assert a["match"]["evidence"]["record"] == 3  # type: ignore[index]


def test_customer_placed_call_answers_originating(tmp_path: Path) -> None:
    a = _lookup(tmp_path, _file(tmp_path, META, *CALLS), "+13125550403", "2026-07-14T14:10:00Z")
    assert a["status"] == "originating"
    assert a["customer"] == {"account": "3125550400", "name": "Dental Office"}


@pytest.mark.parametrize("first", [None, META, ",".join(["recordId", *[""] * (R18_FIELDS - 1)])])
def test_first_line_is_skipped_only_when_it_is_not_a_record(
        tmp_path: Path, first: str | None) -> None:
    lines = [*([first] if first else []), *CALLS]
    res = parse_file(_file(tmp_path, *lines))
    assert res.legs.num_rows == len(CALLS) and res.rejects.num_rows == 0
    assert res.legs.column("source_record").to_pylist()[0] == (1 if first is None else 2)


def _to_trunking_customer(route: str = "") -> str:
    # An on-net call (route empty: placed by another user of this BroadWorks system) to a
    # user of the PBX customer's trunk group ACMEPBX_TG.
    return _rec(recordId="1:5", userNumber="+13125550406", groupNumber="ACMEPBX",
                direction="Terminating", callingNumber="+13125550900",
                calledNumber="+13125550406", startTime="20260714110000.000",
                answerIndicator="Yes", answerTime="20260714110005.000",
                releaseTime="20260714110105.000", terminationCause="016", route=route,
                accessDeviceAddress="198.18.0.10:5060", trunkGroupName="ACMEPBX_TG",
                localCallId="51:0", remoteCallId="50:0")


def test_terminating_trunk_group_is_the_egress(tmp_path: Path) -> None:
    (leg,) = parse_file(_file(tmp_path, META, _to_trunking_customer())).legs.to_pylist()
    assert leg["direction"] == "inbound"
    assert leg["ingress_trunk"] is None and leg["ingress_ip"] is None
    assert leg["egress_trunk"] == "ACMEPBX_TG" and leg["egress_ip"] == "198.18.0.10"


def test_terminating_record_from_the_network_keeps_its_route(tmp_path: Path) -> None:
    f = _file(tmp_path, META, _to_trunking_customer("203.0.113.10:5060"))
    (leg,) = parse_file(f).legs.to_pylist()
    assert leg["ingress_trunk"] == "203.0.113.10:5060" and leg["ingress_ip"] == "203.0.113.10"
    assert leg["egress_trunk"] == "ACMEPBX_TG"


def test_originating_record_leaves_by_its_route(tmp_path: Path) -> None:
    legs = parse_file(_file(tmp_path, META, *CALLS)).legs.to_pylist()
    assert legs[2]["egress_trunk"] == "198.51.100.20:5060"
    assert legs[2]["egress_ip"] == "198.51.100.20"


def test_on_net_call_to_a_trunking_customer_does_not_name_it_the_originator(
        tmp_path: Path) -> None:
    peers = PEERS + """
[[peer]]
name = "Acme PBX Co"
role = "customer"
trunks = ["ACMEPBX_TG"]
"""
    store, pf = tmp_path / "store", tmp_path / "peers2.toml"
    pf.write_text(peers)
    runner = CliRunner()
    f = _file(tmp_path, META, _to_trunking_customer())
    assert runner.invoke(cli, ["ingest", str(f), "--store", str(store)]).exit_code == 0
    r = runner.invoke(cli, ["lookup", "--store", str(store), "--called", "+13125550406",
                            "--at", "2026-07-14T15:00:00Z", "--peers", str(pf), "--json"])
    a = json.loads(r.output)
    assert a["status"] != "originating" and a["customer"] is None
    # Nothing to add to the peer directory: the warning says the record has no ingress.
    assert any("records no ingress" in w for w in a["warnings"])
    assert not any("add it to the peer directory" in w for w in a["warnings"])
