"""Which column is the called number: the profile engine's ``by_direction`` and ``prefer``
field options (docs/profiles.md), and the carrier profiles that need them.

1. Cisco UCM: a call from a trunk that CUCM forwarded or tandemed out of another trunk has
   outpulsedCalledPartyNumber (the forwarded-to number); the inbound leg's called number is
   the DID the upstream handed over (originalCalledPartyNumber), so a lookup of the DID finds
   it. A call placed from a phone keeps the outpulsed number (access code stripped).
2. Kamailio/OpenSIPS acc: dst_user ($rU, the R-URI after aliases and lookup) may be a user
   name; the called number is then dst_ouser ($tU, the To user).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.errors import ProfileError
from tracehop.ingest.profile import load_profile
from tracehop.ingest.run import parse_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
CUCM = FIXTURES / "cisco_cucm_cdr" / "cdr_TracehopCluster_01_202603071900_000001"

PROFILE = """
name = "two_sided"
[csv]
header = true
[time]
start = "start"
zone = "utc"
[fields]
called_raw = { columns = ["sent", "received"], by_direction = { inbound = ["received"] } }
calling_raw = { columns = ["ruri_user", "to_user"], prefer = '^\\+?[0-9]+$' }
account = { by_direction = { outbound = ["acct"] } }
[direction]
column = "dir"
map = { "IN" = "inbound", "OUT" = "outbound" }
"""
ROWS = """start,dir,sent,received,ruri_user,to_user,acct
2026-03-07 14:00:00,IN,13125559999,3125550100,alice,+12025550111,A1
2026-03-07 14:01:00,OUT,13125550199,913125550199,+12025550122,bob,A2
2026-03-07 14:02:00,OUT,,913125550177,carol,dave,A3
"""


def _two_sided(tmp_path: Path) -> list[dict[str, object]]:
    (tmp_path / "p.toml").write_text(PROFILE)
    (tmp_path / "calls.csv").write_text(ROWS)
    legs = parse_file(tmp_path / "calls.csv", str(tmp_path / "p.toml")).legs.to_pylist()
    return legs


def test_by_direction_takes_the_columns_of_the_rows_direction(tmp_path: Path) -> None:
    legs = _two_sided(tmp_path)
    assert [leg["called_raw"] for leg in legs] == ["3125550100", "13125550199", "913125550177"]
    # No columns for inbound rows: the account is empty there, not another row's column.
    assert [leg["account"] for leg in legs] == [None, "A2", "A3"]


def test_prefer_takes_the_first_value_in_shape_else_the_first_value(tmp_path: Path) -> None:
    legs = _two_sided(tmp_path)
    assert [leg["calling_raw"] for leg in legs] == ["+12025550111", "+12025550122", "carol"]


@pytest.mark.parametrize(("text", "key"), [
    ('x = { by_direction = { sideways = ["a"] } }', "by_direction.sideways"),
    ("x = { columns = ['a'], prefer = '(' }", "prefer"),
])
def test_field_option_mistakes_are_named(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(PROFILE.replace("[fields]\n", "[fields]\n" + text.replace("x", "dialed_raw")
                                 + "\n"))
    with pytest.raises(ProfileError) as e:
        load_profile(f)
    assert f"fields.dialed_raw.{key}" in str(e.value)


# --- Cisco UCM ------------------------------------------------------------------------------


def _forwarded_cucm(tmp_path: Path) -> Path:
    """The fixture with call 1 (trunk ACME_IN -> DID 3125550100) forwarded out of the ACME_OUT
    trunk to 913125559999, as CUCM writes it: one row, outpulsed* = the forwarded-to number."""
    with CUCM.open(newline="") as fh:
        rows = list(csv.reader(fh))
    head, call = rows[0], rows[2]
    call[head.index("finalCalledPartyNumber")] = "913125559999"
    call[head.index("outpulsedCalledPartyNumber")] = "13125559999"
    call[head.index("destDeviceName")] = "ACME_OUT"
    call[head.index("destSpan")] = call[head.index("destLegIdentifier")]
    out = tmp_path / CUCM.name
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def test_cucm_forwarded_inbound_call_is_found_by_its_did(tmp_path: Path) -> None:
    src = _forwarded_cucm(tmp_path)
    legs = parse_file(src, "cisco_cucm_cdr").legs.to_pylist()
    assert legs[0]["direction"] == "inbound" and legs[0]["egress_trunk"] == "ACME_OUT"
    assert legs[0]["called_e164"] == "+13125550100"
    assert "13125559999" in str(legs[0]["raw_record"])  # the forwarded-to number is kept
    store = tmp_path / "store"
    runner = CliRunner()
    r = runner.invoke(cli, ["ingest", str(src), "--store", str(store)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["lookup", "--store", str(store), "--called", "3125550100",
                            "--at", "2026-03-07T19:03:22Z", "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.output)
    assert a["status"] == "unmapped"  # found: no peer directory given
    assert a["match"]["evidence"]["record"] == legs[0]["source_record"]


def test_cucm_call_placed_from_a_phone_keeps_the_outpulsed_number(tmp_path: Path) -> None:
    legs = parse_file(_forwarded_cucm(tmp_path), "cisco_cucm_cdr").legs.to_pylist()
    assert legs[1]["direction"] == "outbound"
    assert legs[1]["called_raw"] == "+12025550199"


# --- Kamailio / OpenSIPS acc ----------------------------------------------------------------


SYSLOG = ("Jul 14 10:00:04 proxy1 /usr/sbin/{proc}[2417]: NOTICE: acc [acc.c:281]: ACC: "
          "transaction answered: timestamp=1784037604;method=INVITE;from_tag=fA1;to_tag=tA1;"
          "call_id=ka1@203.0.113.10;code=200;reason=OK;src_user=+12025550111;"
          "src_domain=carrier-a.example;src_ip=203.0.113.10;dst_ouser=+13125550500;"
          "dst_user={ruser};dst_domain=sip.example.net\n")


@pytest.mark.parametrize("fmt", ["kamailio_acc_syslog", "opensips_acc_syslog"])
@pytest.mark.parametrize(("ruser", "called"), [
    ("alice", "+13125550500"),          # an alias or registered user: the To user
    ("13125550501", "13125550501"),     # a number after rewriting: the R-URI still wins
])
def test_acc_called_number_skips_a_ruri_user_that_is_a_name(
        tmp_path: Path, fmt: str, ruser: str, called: str) -> None:
    f = tmp_path / "acc.log"
    proc = "opensips" if fmt.startswith("opensips") else "kamailio"
    f.write_text(SYSLOG.format(proc=proc, ruser=ruser))
    leg = parse_file(f, fmt).legs.to_pylist()[0]
    assert leg["called_raw"] == called
    assert leg["ruri_raw"] == ruser  # the R-URI user is kept, not matched on


def test_acc_db_export_called_number_skips_a_ruri_user_that_is_a_name(tmp_path: Path) -> None:
    f = tmp_path / "acc.csv"
    f.write_text(
        "id,method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,"
        "src_ip,dst_ouser,dst_user,dst_domain\n"
        "1,INVITE,fa1,tA1,ka1@203.0.113.10,200,OK,2026-07-14 10:00:04,+12025550111,"
        "carrier-a.example,203.0.113.10,+13125550500,alice,sip.example.net\n")
    leg = parse_file(f, "kamailio_acc_db", tz="UTC").legs.to_pylist()[0]
    assert (leg["called_raw"], leg["ruri_raw"]) == ("+13125550500", "alice")
