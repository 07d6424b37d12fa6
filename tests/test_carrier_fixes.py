"""Reviewer's defects in two carrier readers (Ribbon .ACT, FreeSWITCH mod_json_cdr):

1. Ribbon Node Time Zone: the offset written in the value wins over region words
   (``GMT+02:00-Eastern-Europe`` is UTC+02:00, not New York).
2. Ribbon: one call, one leg: a non-final ATTEMPT (Final Attempt Indicator 0) folds into the
   STOP or final ATTEMPT of its Accounting ID, so a lookup answers with the answered STOP.
3. FreeSWITCH JSON: a call transferred before it was answered takes its answer and end times
   from the callflow profile that has them (or the channel variables), not from the first one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.profile import resolve_profile
from tracehop.ingest.ribbon import POSITIONS, node_zone
from tracehop.ingest.run import parse_file

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "cdr"
CGRATES_FS = REALWORLD / "freeswitch_json_cdr" / "cgrates_engine_fscdr_test_body.json"
WIDTH = {"START": 178, "STOP": 235, "ATTEMPT": 167}  # release 9.2 record widths
PEERS = """
[[peer]]
name = "Carrier A"
role = "upstream"
trunks = ["TG_CARRA"]
ips = ["198.51.100.0/24"]
"""


# --- Ribbon helpers ------------------------------------------------------------------------


def _record(rtype: str, **values: str) -> str:
    fields = [""] * WIDTH[rtype]
    fields[0] = rtype
    for k, v in values.items():
        fields[POSITIONS[rtype][k] - 1] = v
    return ",".join(f'"{f}"' if "," in f else f for f in fields)


def _common(acct: str, called: str, clock: str, zone: str = "GMT-05:00-Eastern") -> dict[str, str]:
    return {
        "gateway": "SBC1", "accounting_id": acct, "node_tz": zone, "start_date": "11/20/2026",
        "start_clock": clock, "calling_number": "2025550111", "called_number": called,
        "ingress_tg": "TG_CARRA", "dialed_number": called,
        "incoming_calling_number": "+12025550111", "ingress_remote_ip": "198.51.100.7",
        "ingress_pvsd": f"SIP,{acct}@198.51.100.7,<sip:+1{called}@sbc>",
    }


def _start(acct: str, called: str, clock: str, **kw: str) -> str:
    return _record("START", **_common(acct, called, clock), setup_to_service_ticks="500", **kw)


def _stop(acct: str, called: str, clock: str, end: str,
          zone: str = "GMT-05:00-Eastern") -> str:
    return _record("STOP", **_common(acct, called, clock, zone), setup_to_service_ticks="500",
                   disconnect_date="11/20/2026", disconnect_clock=end, service_ticks="6000",
                   disconnect_reason="16", egress_tg="EGRESS_TG", route_selected="GW2:EGRESS_TG",
                   egress_remote_ip="203.0.113.50")


def _attempt(acct: str, called: str, clock: str, end: str, reason: str, final: str) -> str:
    return _record("ATTEMPT", **_common(acct, called, clock), disconnect_date="11/20/2026",
                   disconnect_clock=end, disconnect_reason=reason, final_attempt=final)


def _act(tmp_path: Path, *records: str, name: str = "sbc1.ACT") -> Path:
    f = tmp_path / name
    f.write_text("\n".join(["SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED", *records,
                            "File administratively closed"]) + "\n")
    return f


def _legs(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    res = parse_file(path, resolve_profile(fmt) if fmt else None)
    assert res.rejects.num_rows == 0
    rows: list[dict[str, Any]] = res.legs.to_pylist()
    return rows


def _utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


# --- 1. Ribbon Node Time Zone --------------------------------------------------------------


@pytest.mark.parametrize(("value", "zone"), [
    # the reviewer's value: "Eastern" here is eastern Europe, the offset says UTC+02:00
    ("GMT+02:00-Eastern-Europe", "Etc/GMT-2"),
    ("gmtPlus01-Central-Europe", "Etc/GMT-1"),
    ("GMT-06:00-Central-America", "Etc/GMT+6"),
    ("GMT+12:00-Pacific-Auckland", "Etc/GMT-12"),
    # an offset that contradicts the US region: the offset wins
    ("GMT+05:00-Eastern", "Etc/GMT-5"),
    ("GMT-04:00-Eastern", "Etc/GMT+4"),
    # a US region beside its own standard offset keeps its DST rules
    ("GMT-05:00-Eastern", "America/New_York"),
    ("gmtMinus06-Central-US", "America/Chicago"),
    ("GMT-08:00-Pacific", "America/Los_Angeles"),
    ("GMT-07:00-Arizona", "America/Phoenix"),
    # no offset: whole region words only
    ("Eastern", "America/New_York"),
    ("US-Pacific", "America/Los_Angeles"),
    ("Eastern-Europe", None),
    ("Northeastern", None),
    ("GMT+05:30-Kolkata", None),
])
def test_ribbon_node_zone_offset_wins(value: str, zone: str | None) -> None:
    assert node_zone(value) == zone


def test_ribbon_record_in_eastern_europe_is_read_at_its_offset(tmp_path: Path) -> None:
    f = _act(tmp_path, _stop("0x00016E4C00000002", "3125550102", "16:03:22.1", "16:04:27.1",
                             zone="GMT+02:00-Eastern-Europe"))
    [leg] = _legs(f)
    assert leg["start_utc"] == _utc(2026, 11, 20, 14, 3, 22, 100000)
    assert leg["answer_utc"] == _utc(2026, 11, 20, 14, 3, 27, 100000)
    assert leg["end_utc"] == _utc(2026, 11, 20, 14, 4, 27, 100000)
    assert leg["source_tz"] == "Etc/GMT-2"


def test_ribbon_us_region_still_reads_daylight_time(tmp_path: Path) -> None:
    f = _act(tmp_path, _stop("0x00016E4C00000003", "3125550102", "09:03:22.1", "09:04:27.1")
             .replace("11/20/2026", "07/04/2026"))
    [leg] = _legs(f)
    assert leg["start_utc"] == _utc(2026, 7, 4, 13, 3, 22, 100000)  # EDT, UTC-4
    assert leg["source_tz"] == "America/New_York"


# --- 2. Ribbon: one call, one leg ----------------------------------------------------------

A1 = "0x00016E4C00000001"


def test_non_final_attempt_folds_into_the_stop(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _start(A1, "3125550100", "09:03:22.1"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _stop(A1, "3125550100", "09:03:22.1", "09:04:27.1"))
    [leg] = _legs(f)
    assert leg["source_record"] == 4  # the STOP
    assert leg["disposition"] == "answered"
    assert leg["answer_utc"] == _utc(2026, 11, 20, 14, 3, 27, 100000)
    assert leg["correlation_id"] == A1


def test_non_final_attempt_written_after_the_stop_still_folds(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _stop(A1, "3125550100", "09:03:22.1", "09:04:27.1"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"))
    assert [r["source_record"] for r in _legs(f)] == [2]


def test_every_attempt_failed_is_one_leg_its_final_attempt(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:24.0", "38", "0"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:30.0", "17", "1"),
             _attempt("0x00016E4C00000009", "3125550100", "09:05:00.0", "09:05:04.0", "19",
                      "1"))
    legs = _legs(f)
    assert [r["source_record"] for r in legs] == [4, 5]
    assert legs[0]["disposition"] == "busy" and legs[0]["cause_raw"] == "17"
    assert legs[0]["end_utc"] == _utc(2026, 11, 20, 14, 3, 30)
    assert legs[1]["disposition"] == "no_answer"


def test_call_still_routing_when_the_file_closed_keeps_its_latest_attempt(
        tmp_path: Path) -> None:
    f = _act(tmp_path,
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:24.0", "38", "0"))
    [leg] = _legs(f)
    assert leg["source_record"] == 3 and leg["cause_raw"] == "38"


def test_non_final_attempt_folds_into_a_start_of_a_call_still_up(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _start(A1, "3125550100", "09:03:22.1"))
    [leg] = _legs(f)
    assert leg["source_record"] == 3
    assert leg["disposition"] == "answered" and leg["end_utc"] is None


def test_attempts_without_accounting_id_are_not_folded(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _attempt("", "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _attempt("", "3125550101", "09:04:22.1", "09:04:23.0", "34", "0"),
             _stop("", "3125550102", "09:05:22.1", "09:06:27.1"))
    # (no Accounting ID: detection cannot tell the format, so it is named)
    assert [r["source_record"] for r in _legs(f, "ribbon_sbc_act")] == [2, 3, 4]


def test_lookup_answers_with_the_answered_stop_not_the_failed_attempt(tmp_path: Path) -> None:
    f = _act(tmp_path,
             _start(A1, "3125550100", "09:03:22.1"),
             _attempt(A1, "3125550100", "09:03:22.1", "09:03:23.0", "34", "0"),
             _stop(A1, "3125550100", "09:03:22.1", "09:04:27.1"))
    store = tmp_path / "st"
    peers = tmp_path / "peers.toml"
    peers.write_text(PEERS)
    runner = CliRunner()
    r = runner.invoke(cli, ["ingest", str(f), "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert (summary["read"], summary["stored"], summary["rejected"]) == (1, 1, 0)
    r = runner.invoke(cli, ["lookup", "--store", str(store), "--called", "3125550100",
                            "--at", "2026-11-20T14:03:22Z", "--peers", str(peers), "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.output)
    assert a["status"] == "upstream" and a["upstream"]["provider"] == "Carrier A"
    assert a["match"]["evidence"]["record"] == 4
    assert a["match"]["disposition"] == "answered"
    assert a["match"]["duration_s"] == pytest.approx(65.0)
    assert a["alternatives"] == []


# --- 3. FreeSWITCH JSON: transferred call --------------------------------------------------

CREATED = 1515666344534355
ANSWERED = 1515666347954373
HUNGUP = 1515666415494269


def _times(created: int, answered: int = 0, hangup: int = 0, transfer: int = 0
           ) -> dict[str, str]:
    return {"created_time": str(created), "profile_created_time": str(created),
            "answered_time": str(answered), "hangup_time": str(hangup),
            "transfer_time": str(transfer)}


def _fs_doc(flows: list[dict[str, Any]], **variables: str) -> dict[str, Any]:
    return {
        "core-uuid": "c0ffee00-0000-4000-8000-000000000001",
        "switchname": "fs1",
        "channel_data": {"state": "CS_REPORTING", "direction": "inbound"},
        "variables": {"uuid": "3da8bf84-c133-4959-9e24-e72875cb33a1",
                      "sip_call_id": "x1@198.51.100.7", "sip_network_ip": "198.51.100.7",
                      "sip_req_user": "3125550100", "sip_from_user": "2025550111",
                      "hangup_cause": "NORMAL_CLEARING", "duration": "71", "billsec": "68",
                      **variables},
        "callflow": flows,
    }


def _flow(index: str, times: dict[str, str]) -> dict[str, Any]:
    return {"profile_index": index, "times": times,
            "caller_profile": {"caller_id_number": "2025550111",
                               "destination_number": "3125550100",
                               "network_addr": "198.51.100.7"}}


def _fs_leg(tmp_path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    f = tmp_path / "call.cdr.json"
    f.write_text(json.dumps(doc, indent=1))
    [leg] = _legs(f)
    return leg


def _us(t: int) -> datetime:
    return datetime.fromtimestamp(t / 1_000_000, tz=UTC)


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_fs_transferred_call_takes_answer_and_end_from_the_later_profile(
        tmp_path: Path, order: str) -> None:
    parked = _flow("1", _times(CREATED, transfer=CREATED + 10))
    bridged = _flow("2", _times(CREATED, ANSWERED, HUNGUP))
    flows = [bridged, parked] if order == "newest_first" else [parked, bridged]
    leg = _fs_leg(tmp_path, _fs_doc(flows))
    assert leg["start_utc"] == _us(CREATED)
    assert leg["answer_utc"] == _us(ANSWERED)
    assert leg["end_utc"] == _us(HUNGUP)
    assert leg["disposition"] == "answered"


def test_fs_start_is_the_first_profiles_creation(tmp_path: Path) -> None:
    first = _flow("1", _times(CREATED))
    later = _flow("2", _times(CREATED + 5_000_000, ANSWERED, HUNGUP))
    leg = _fs_leg(tmp_path, _fs_doc([later, first]))
    assert leg["start_utc"] == _us(CREATED)
    assert leg["answer_utc"] == _us(ANSWERED)


def test_fs_times_fall_back_to_the_channel_variables(tmp_path: Path) -> None:
    doc = _fs_doc([_flow("1", _times(CREATED))], answer_uepoch=str(ANSWERED),
                  end_uepoch=str(HUNGUP))
    leg = _fs_leg(tmp_path, doc)
    assert leg["answer_utc"] == _us(ANSWERED)
    assert leg["end_utc"] == _us(HUNGUP)
    doc = _fs_doc([_flow("1", _times(CREATED))], answer_epoch="1515666347",
                  end_epoch="1515666415")
    leg = _fs_leg(tmp_path, doc)
    assert leg["answer_utc"] == _utc(2018, 1, 11, 10, 25, 47)
    assert leg["end_utc"] == _utc(2018, 1, 11, 10, 26, 55)


def test_fs_unanswered_call_has_no_answer(tmp_path: Path) -> None:
    doc = _fs_doc([_flow("1", _times(CREATED, 0, CREATED + 20_000_000))],
                  hangup_cause="NO_ANSWER", billsec="0", answer_uepoch="0", answer_epoch="0")
    leg = _fs_leg(tmp_path, doc)
    assert leg["answer_utc"] is None
    assert leg["end_utc"] == _us(CREATED + 20_000_000)
    assert leg["disposition"] == "no_answer"


@pytest.mark.realworld
@pytest.mark.skipif(not CGRATES_FS.is_file(), reason=f"real-world sample absent: {CGRATES_FS}")
def test_fs_cgrates_sample_transferred_call_is_answered(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["ingest", str(CGRATES_FS), "--store", str(tmp_path / "st"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stored"] == 1
    [leg] = _legs(CGRATES_FS)
    assert leg["start_utc"] == _us(CREATED)
    assert leg["answer_utc"] == _us(ANSWERED)
    assert leg["end_utc"] == _us(HUNGUP)
    assert leg["billsec_s"] == 68.0
    assert (leg["end_utc"] - leg["answer_utc"]).total_seconds() == pytest.approx(68, abs=1)
