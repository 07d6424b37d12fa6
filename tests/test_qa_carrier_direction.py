"""QA (carrier formats): which side of an SBC a call entered from.

The Ribbon and Acme profiles mark a call `outbound` when its ingress trunk group / realm is
named for our own side (docs/carrier_formats.md "Direction on SBCs and proxies": `core*`,
`internal*`, `pbx*`, `softswitch*`, `local*`, `private*`). `INT` is not in that list and must
not be read as "internal": carriers name their international gateway trunks `INT_...`
(`INT_BT_LONDON`), and a call from there marked outbound was never answered from (the matcher
skips egress legs): a traceback of a call that entered the US through us came back
`not_found` instead of `point_of_entry`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.acme import LAYOUTS
from tracehop.ingest.ribbon import POSITIONS
from tracehop.ingest.run import parse_file


def _ribbon_stop(ingress_tg: str) -> str:
    fields = [""] * 235
    fields[0] = "STOP"
    values = {
        "gateway": "SBC1", "accounting_id": "0x00000001000000A3", "node_tz": "GMT-05:00-Eastern",
        "start_date": "11/20/2026", "start_clock": "18:59:58.6", "setup_to_service_ticks": "700",
        "disconnect_date": "11/20/2026", "disconnect_clock": "19:01:05.6", "service_ticks": "6000",
        "disconnect_reason": "16", "calling_number": "442079460958", "calling_number_noa": "4",
        "called_number": "3125550103", "dialed_number": "3125550103", "ingress_tg": ingress_tg,
        "ingress_remote_ip": "2001:db8::5",
    }
    for k, v in values.items():
        fields[POSITIONS["STOP"][k] - 1] = v
    return ",".join(fields)


def _acme_stop(realm: str) -> str:
    lay = LAYOUTS[("Stop", 175)]
    fields = [""] * 175
    fields[0] = "2"
    values = {
        "nas_ip": "192.0.2.1", "session_id": "sess-2", "ingress_call_id": "v6@2001:db8::5",
        "calling_station": '"<sip:+442079460958@[2001:db8::5]>;tag=2"',
        "called_station": '"<sip:+13125550103@[2001:db8::1]>"',
        "setup_time": "23:59:58.600 UTC NOV 20 2026",
        "connect_time": "00:00:03.000 UTC NOV 21 2026",
        "disconnect_time": "00:01:03.000 UTC NOV 21 2026", "session_time": "60",
        "ingress_realm": realm, "egress_realm": "core", "ingress_remote_addr": "[2001:db8::5]:5060",
        "sip_status": "200",
    }
    for k, v in values.items():
        fields[lay[k] - 1] = v
    return ",".join(fields)


@pytest.mark.parametrize(("tg", "direction"), [
    ("INT_BT_LONDON", "inbound"), ("int-telefonica", "inbound"), ("INTL_GW", "inbound"),
    ("CORE_OUT", "outbound"), ("INTERNAL_PBX", "outbound"), ("pbx-12", "outbound"),
])
def test_ribbon_international_trunk_group_is_a_peer(tmp_path: Path, tg: str,
                                                    direction: str) -> None:
    f = tmp_path / "1000104.ACT"
    f.write_text("SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED\n" + _ribbon_stop(tg) + "\n")
    (leg,) = parse_file(f, "ribbon_sbc_act").legs.to_pylist()
    assert leg["direction"] == direction
    assert leg["ingress_trunk"] == tg


@pytest.mark.parametrize(("realm", "direction"), [
    ("INT_BT_LONDON", "inbound"), ("int-telefonica", "inbound"),
    ("core", "outbound"), ("internal-sip", "outbound"),
])
def test_acme_international_realm_is_a_peer(tmp_path: Path, realm: str, direction: str) -> None:
    f = tmp_path / "cdr20261120.csv"
    f.write_text(_acme_stop(realm) + "\n")
    (leg,) = parse_file(f, "acme_sbc_cdr").legs.to_pylist()
    assert leg["direction"] == direction
    assert leg["ingress_ip"] == "2001:db8::5"


def test_lookup_of_a_call_from_an_international_trunk_is_point_of_entry(tmp_path: Path) -> None:
    f = tmp_path / "1000104.ACT"
    f.write_text("SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED\n"
                 + _ribbon_stop("INT_BT_LONDON") + "\n")
    peers = tmp_path / "peers.toml"
    peers.write_text('[[peer]]\nname = "BT International"\nrole = "foreign"\n'
                     'trunks = ["INT_BT_*"]\n')
    store = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(f), "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["lookup", "--store", str(store), "--peers", str(peers),
                               "--called", "3125550103", "--at", "2026-11-21T00:00:00Z",
                               "--json"])
    assert res.exit_code == 0, res.output
    answer = json.loads(res.output)
    assert answer["status"] == "point_of_entry"
    assert answer["upstream"]["provider"] == "BT International"
    assert answer["match"]["start_utc"].startswith("2026-11-20T23:59:58")


def test_an_egress_leg_found_twice_is_counted_once(tmp_path: Path) -> None:
    """The egress leg's called number is the number asked about and so is its dialed number
    (a Ribbon STOP writes both): the dialed search, run last, found the same leg again and the
    warning said "2 leg(s)" for one call."""
    f = tmp_path / "1000105.ACT"
    f.write_text("SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED\n"
                 + _ribbon_stop("CORE_OUT") + "\n")
    store = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(f), "--store", str(store)]).exit_code == 0
    res = runner.invoke(cli, ["lookup", "--store", str(store), "--called", "3125550103",
                              "--at", "2026-11-21T00:00:00Z", "--json"])
    answer = json.loads(res.output)
    assert answer["status"] == "not_found"
    (egress,) = [w for w in answer["warnings"] if w.startswith("found egress")]
    assert "[1 leg(s), the nearest at 2026-11-20T23:59:58.600000Z]" in egress


def test_cucm_origination_time_zero_is_named_in_the_reason(tmp_path: Path) -> None:
    """dateTimeOrigination 0 (no instant) was rejected as 'column ... is empty' while the
    rejected line shows a value."""
    src = Path(__file__).parent.parent / "fixtures/cdr/cisco_cucm_cdr"
    lines = (src / "cdr_TracehopCluster_01_202603071900_000001").read_text().splitlines()
    names = lines[0].split(",")
    at = [n.strip('"') for n in names].index("dateTimeOrigination")
    fields = lines[2].split(",")
    assert fields[at].isdigit()
    fields[at] = "0"
    f = tmp_path / "cdr_TracehopCluster_01_202603071900_000009"
    f.write_text("\n".join([lines[0], lines[1], ",".join(fields)]) + "\n")
    res = parse_file(f, "cisco_cucm_cdr")
    assert res.legs.num_rows == 0
    (reason,) = res.rejects.column("reason").to_pylist()
    assert reason == "no start time: column 'dateTimeOrigination' is empty or 0"


def test_acc_syslog_timestamp_that_is_no_number_is_named(tmp_path: Path) -> None:
    f = tmp_path / "acc.log"
    f.write_text("Nov 20 15:10:00 proxy1 /usr/sbin/kamailio[2417]: NOTICE: acc [acc.c:281]: "
                 "ACC: transaction answered: timestamp=abc;method=INVITE;from_tag=a;"
                 "to_tag=b;call_id=x@203.0.113.5;code=200;reason=OK;src_user=2025550111;"
                 "src_domain=203.0.113.5;src_ip=203.0.113.5;dst_ouser=3125550100;"
                 "dst_user=3125550100;dst_domain=192.0.2.1\n")
    res = parse_file(f, "kamailio_acc_syslog")
    (reason,) = res.rejects.column("reason").to_pylist()
    assert reason == "the acc record's unix 'timestamp' 'abc' is not a number of seconds"
