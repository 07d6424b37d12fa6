"""FusionPBX's "Call Detail Records" CSV export (parsers/fusionpbx_cdr_csv.toml).

The header depends on the FusionPBX version, the user's permissions and the operator's
``cdr.field`` settings (fusionpbx app/xml_cdr/xml_cdr_inc.php): the profile must detect and
read today's export, the 4.x one and one with custom columns alike. Every A-leg is inbound
(a customer's call out is FusionPBX ``direction`` outbound, yet it is the leg the switch
received from that customer: ``originating``); B-legs and ring-all legs that lost are egress.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup

from tracehop.cli import cli
from tracehop.ingest.detect import detect_format
from tracehop.ingest.run import parse_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "fusionpbx_cdr_csv" / (
    "cdr_example.csv")

PEERS = PEERS_TOML + """
[[peer]]
name = "CustCo"
role = "customer"
accounts = ["pbx.custco.example"]
"""


def _q(values: list[str]) -> str:
    # xml_cdr_export.php: every key and value written between quotes, nothing escaped.
    return ",".join(f'"{v}"' for v in values)


def _ingest(tmp_path: Path, src: Path) -> tuple[str, str]:
    (tmp_path / "peers.toml").write_text(PEERS)
    r = CliRunner().invoke(cli, ["ingest", str(src), "--store", str(tmp_path / "store"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["rejected"] == 0, summary
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


def test_example_is_detected_and_answers_both_ways(tmp_path: Path) -> None:
    store = _ingest(tmp_path, FIXTURE)
    # The customer's call out: its A-leg (FusionPBX direction "outbound") is where CustCo
    # handed it over; the B-leg to the carrier, same called number, is never the answer.
    a = cli_lookup(store, "2025550123", "2026-03-07T19:09:00Z")
    assert a["status"] == "originating", a
    assert a["customer"] == {"account": "pbx.custco.example", "name": "CustCo"}
    assert a["match"]["evidence"]["record"] == 3
    # The carrier's call to the DID: the A-leg answers (the export names no ingress: unmapped).
    b = cli_lookup(store, "3125550100", "2026-03-07T19:03:25Z")
    assert b["status"] == "unmapped", b
    assert b["match"]["evidence"]["record"] == 7
    assert b["match"]["call_id"] == "a84b4c76e66710@198.51.100.7"


#: app/xml_cdr/xml_cdr_inc.php at 3e1e822f (4.x): the select list then, with pdd and mos.
HEADER_4X = ["domain_uuid", "start_stamp", "start_epoch", "hangup_cause", "duration",
             "billmsec", "recording_file", "uuid", "bridge_uuid", "direction", "billsec",
             "caller_id_name", "caller_id_number", "destination_number", "accountcode",
             "pdd_ms", "rtp_audio_in_mos", "tta"]


def test_the_4x_export_is_detected_and_a_lost_race_leg_is_outbound(tmp_path: Path) -> None:
    d = "4f2c1d3e-8a7b-4c6d-9e0f-1a2b3c4d5e6f"
    lines = [
        _q(HEADER_4X),
        # a ring-all leg to the same number that lost (no `leg` column in 4.x: its cause says)
        _q([d, "2026-03-07 14:03:23-05", "1772910203", "LOSE_RACE", "4", "0", "",
            "00000000-0000-0000-0000-0000000000b2", "", "inbound", "0", "ROBO CALLER",
            "2025550111", "3125550100", "", "120", "", "-1772910203"]),
        # the carrier's A-leg; `duration` was the real duration then (65), billsec 60
        _q([d, "2026-03-07 14:03:22-05", "1772910202", "NORMAL_CLEARING", "65", "60004", "",
            "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b1",
            "inbound", "60", "ROBO CALLER", "2025550111", "3125550100", "", "0", "4.2", "5"]),
    ]
    f = tmp_path / "cdr_pbx.example.net_20260307_150000.csv"
    f.write_text("\n".join(lines) + "\n")
    assert detect_format(f) == "fusionpbx_cdr_csv"
    res = parse_file(f)
    assert res.rejects.num_rows == 0
    rows = res.legs.to_pylist()
    assert [r["direction"] for r in rows] == ["outbound", "inbound"]
    assert [r["disposition"] for r in rows] == ["cancelled", "answered"]
    assert rows[1]["correlation_id"] == "00000000-0000-0000-0000-0000000000a1"
    assert rows[1]["called_e164"] == "+13125550100"
    assert rows[1]["start_utc"].strftime("%Y-%m-%dT%H:%M:%S") == "2026-03-07T19:03:22"
    # Not guessed: no answer or end column is read, and `duration` is not trusted.
    assert rows[1]["answer_utc"] is None and rows[1]["duration_s"] is None
    assert rows[1]["billsec_s"] == 60.0


#: Today's select list with two `cdr.field` columns after cc_side and no permission columns.
HEADER_CUSTOM = ["domain_uuid", "sip_call_id", "extension", "extension_name", "start_stamp",
                 "end_stamp", "start_date_formatted", "start_time_formatted", "start_epoch",
                 "hangup_cause", "duration", "billmsec", "missed_call", "record_path",
                 "record_name", "xml_cdr_uuid", "bridge_uuid", "direction", "billsec",
                 "caller_id_name", "caller_id_number", "caller_destination", "source_number",
                 "destination_number", "leg", "read_codec", "write_codec", "cc_side",
                 "network_addr", "originating_leg_uuid", "answer_stamp", "status",
                 "sip_hangup_disposition", "tta"]


@pytest.mark.parametrize("desc", [True, False], ids=["newest-first", "oldest-first"])
def test_custom_columns_give_the_ingress_and_link_an_unbridged_b_leg(
        tmp_path: Path, desc: bool) -> None:
    d, a, b = ("4f2c1d3e-8a7b-4c6d-9e0f-1a2b3c4d5e6f",
               "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b1")
    a_leg = _q([d, "c0ffee01@198.51.100.7", "", "", "2026-03-07 14:07:10-05",
                "2026-03-07 14:07:40-05", "07 Mar 2026", "02:07 pm", "1772910430",
                "NO_ANSWER", "0", "0", "1", "", "", a, "", "inbound", "0", 'Bob "Bo" Jones',
                "3125550155", "3125550100", "", "13125550177", "a", "PCMU", "PCMU", "",
                "198.51.100.7", "", "", "missed", "send_refuse", "-1772910430"])
    # The leg FusionPBX sent on to a mobile (an outside follow-me): never bridged, so no
    # bridge_uuid; originating_leg_uuid names its A-leg.
    b_leg = _q([d, "9d1c@10.0.0.5", "", "", "2026-03-07 14:07:11-05", "2026-03-07 14:07:40-05",
                "07 Mar 2026", "02:07 pm", "1772910431", "NO_ANSWER", "0", "0", "", "", "", b,
                "", "outbound", "0", 'Bob "Bo" Jones', "3125550155", "", "", "13125550177",
                "b", "PCMU", "PCMU", "", "203.0.113.9", a, "", "missed", "recv_cancel",
                "-1772910431"])
    body = [b_leg, a_leg] if desc else [a_leg, b_leg]
    f = tmp_path / "cdr_20260307_150000.csv"
    f.write_text("\n".join([_q(HEADER_CUSTOM), *body]) + "\n")
    assert detect_format(f) == "fusionpbx_cdr_csv"
    rows = {r["direction"]: r for r in parse_file(f).legs.to_pylist()}
    assert rows["inbound"]["ingress_ip"] == "198.51.100.7"
    assert rows["inbound"]["calling_raw"] == "3125550155"
    assert rows["outbound"]["ingress_ip"] is None  # the far end of a leg we placed
    assert rows["inbound"]["correlation_id"] == rows["outbound"]["correlation_id"] == a
    store = _ingest(tmp_path, f)
    # Asked about the mobile the call was sent on to: the carrier that handed it to us.
    ans = cli_lookup(store, "3125550177", "2026-03-07T19:07:11Z")
    assert ans["status"] == "upstream", ans
    assert ans["upstream"]["provider"] == "Acme Transit"
