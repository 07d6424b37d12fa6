"""Conformance across every supported CDR format (the sqlite-utils "sniff" test pattern).

The same three calls (fixtures/cdr/calls.expected.json: an answered call from the carrier, an
unanswered call out from extension 1001, a busy call from the carrier) are written in every
format tracehop reads: the core PBX formats (Asterisk cdr_csv and cdr_custom, FreePBX,
PBXware, Grandstream, FreeSWITCH CSV and JSON, a user profile) and the carrier formats (Cisco
CUCM, Ribbon, Oracle/Acme, BroadWorks, Kamailio and OpenSIPS acc, CGRateS). Each file must be
recognised without ``--format`` and ingest to the same normalised legs: E.164 numbers, the UTC
instant, the direction, and an ingress that a peer directory resolves to the same provider.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tracehop.ingest.detect import detect_format
from tracehop.ingest.profile import builtin_profiles
from tracehop.ingest.run import parse_file
from tracehop.peers import PeerDirectory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
SHARED = json.loads((FIXTURES / "calls.expected.json").read_text())["rows"]
SPECS = sorted([*FIXTURES.glob("*/*.expected.json"), *FIXTURES.glob("*/*.legs.json")])

#: How each switch's records name the carrier (trunk, realm, route, device) and the PBX side.
PEERS = PeerDirectory.from_dict({
    "peer": [
        {"name": "Acme Transit", "role": "upstream",
         "trunks": ["acme_in", "ACME_IN", "ACME", "TG_ACME", "198.51.100.7:5060"],
         "ips": ["198.51.100.0/24"]},
        {"name": "Front Desk PBX", "role": "customer",
         "trunks": ["1001", "CORE_PBX", "core", "TG_LOCAL", "SEP00AABBCC1001", "pbx.example.net"],
         "ips": ["10.0.0.0/8"], "accounts": ["ACCT1001"]},
    ]
})
#: Layouts that record nothing about where a call came from: FreeSWITCH's CSV templates
#: ``example`` and the compiled-in default write no gateway or network address. (Its
#: ``asterisk`` template's channel name carries the far end's address: sofia/external/...@IP.)
#: FusionPBX's CDR page export selects no gateway or network address either (unless the
#: operator adds network_addr as a ``cdr.field``; fusionpbx app/xml_cdr/xml_cdr_inc.php).
NO_INGRESS = {"freeswitch_cdr_csv", "fusionpbx_cdr_csv"}
NOT_CARRIER = "(our side: not the carrier)"
CUSTOMER = "Front Desk PBX"


def _instant(row: dict[str, Any], basis: str) -> Any:
    """The instant a leg's start stands for: setup, or (time basis "answer": Kamailio acc,
    stamped when the INVITE's final reply passed) the answer, else the failure time."""
    if basis == "setup":
        return row["start_utc"]
    return row["answer_utc"] or row["end_utc"]


def _iso(v: Any) -> Any:
    return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v


def _normalised(row: dict[str, Any], basis: str) -> dict[str, Any]:
    peer = PEERS.resolve(row.get("ingress_trunk"), row.get("ingress_ip"), row.get("account"))
    ingress = peer.name if peer else None
    if row["direction"] != "inbound" and ingress != "Acme Transit":
        # The outbound call's source is our own side, which some PBX layouts leave unnamed
        # (Grandstream writes no source trunk for it): only "not the carrier" must hold.
        ingress = NOT_CARRIER
    return {
        "called_e164": row["called_e164"],
        "calling_e164": row["calling_e164"],
        "instant": _iso(_instant(row, basis)),
        "direction": row["direction"],
        "ingress": ingress,
    }


def _shared(fmt: str, basis: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The three calls as this format must show them. A fixture's own rows may set
    ``direction``: a switch that writes one record per call as it received it (FreeSWITCH's
    A-legs, Asterisk's party A channel) shows the call from extension 1001 as inbound too,
    from the customer's side, and its ingress then names the customer (``peer`` in the row:
    who, if anyone, the layout lets the peer directory find)."""
    want = []
    for i, call in enumerate(SHARED):
        carrier = call["direction"] == "inbound"
        row = rows[i] if i < len(rows) else {}
        direction = row.get("direction", call["direction"])
        if fmt in NO_INGRESS:
            ingress = None if direction == "inbound" else NOT_CARRIER
        elif carrier:
            ingress = "Acme Transit"
        else:
            ingress = row.get("peer", CUSTOMER) if direction == "inbound" else NOT_CARRIER
        want.append({
            "called_e164": call["called_e164"],
            "calling_e164": call["calling_e164"],
            "instant": _instant(call, basis),
            "direction": direction,
            "ingress": ingress,
            "call": i + 1,
        })
    return want


def _the_three(spec: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]]]:
    """The legs of the three calls, in call order, and the fixture's rows for them. A fixture
    with more records than the three calls (B-legs, a ring-all leg: FusionPBX's export, newest
    first) names the call each record is in its ``shared`` list (null: a record of its own)."""
    order = spec.get("shared")
    own = spec.get("rows", [])
    if order is None:
        return rows, own
    assert len(rows) == len(order)
    at = [order.index(i) for i in range(len(SHARED))]
    return [rows[i] for i in at], [own[i] for i in at if i < len(own)]


def test_every_builtin_format_has_a_conformance_fixture() -> None:
    covered = {json.loads(p.read_text())["format"] for p in SPECS}
    builtin = {p.name for p in builtin_profiles()}
    # freepbx_cdr_short (6 columns: calldate, src, dst, duration, billsec, disposition) has no
    # channel or context, so it cannot carry the three calls' direction or ingress.
    missing = builtin - covered - {"freepbx_cdr_short"}
    assert not missing, f"formats without a fixture of the three calls: {sorted(missing)}"


@pytest.mark.parametrize("spec_file", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_same_three_calls_in_every_format(spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text())
    data = spec_file.with_name(spec_file.name.rsplit(".", 2)[0])
    profile = str(spec_file.parent / spec["profile"]) if "profile" in spec else None
    if profile is None:
        assert detect_format(data) == spec["format"], "detection must name the format"
    res = parse_file(data, profile, spec["tz"], "conformance")
    rows, own = _the_three(spec, res.legs.to_pylist())
    assert len(rows) == 3, "one leg per call"
    shared = _shared(spec["format"], rows[0]["time_basis"], own)
    for row, want in zip(rows, shared, strict=True):
        call = want.pop("call")
        got = _normalised(row, row["time_basis"])
        assert got == want, f"call {call} of {data.name}"


def test_an_inbound_leg_resolves_to_whoever_handed_the_call_over() -> None:
    """Across all formats, an inbound leg of the carrier's calls never resolves to our
    customer, and an inbound leg of the customer's call never to the carrier: the direction
    rules and the ingress fields agree (an answer is ``upstream`` or ``originating`` for the
    right reason)."""
    for spec_file in SPECS:
        spec = json.loads(spec_file.read_text())
        data = spec_file.with_name(spec_file.name.rsplit(".", 2)[0])
        profile = str(spec_file.parent / spec["profile"]) if "profile" in spec else None
        legs, _ = _the_three(spec, parse_file(data, profile, spec["tz"]).legs.to_pylist())
        for row, call in zip(legs, SHARED, strict=True):
            if row["direction"] != "inbound":
                continue
            peer = PEERS.resolve(row["ingress_trunk"], row["ingress_ip"], row["account"])
            want = "upstream" if call["direction"] == "inbound" else "customer"
            assert peer is None or peer.role == want, (data.name, row["source_record"])
