"""FreeSWITCH mod_json_cdr / mod_xml_cdr documents as switch_ivr.c writes them, for the cases
a traceback depends on: the called number a carrier sent on a registration gateway, and the
link from every B-leg (bridged or not) to its A-leg.

The documents are written here the way ``switch_ivr_generate_json_cdr`` lays them out (one per
leg, ``channel_data.direction``, URL-encoded variables, ``callflow[]`` with
``caller_profile.originator.originator_caller_profiles[]`` on a B-leg, times in µs, UTC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tracehop.ingest.run import parse_file

T0 = 1772892202  # 2026-03-07T14:03:22Z


def _enc(v: str) -> str:
    return quote(v, safe="-_.!~*'()")  # switch_url_encode (encode-values, on by default)


def _profile(uuid: str, cid: str, dest: str, net: str, chan: str) -> dict[str, Any]:
    return {"username": cid, "dialplan": "XML", "caller_id_name": cid, "ani": cid,
            "aniii": "", "caller_id_number": cid, "network_addr": net, "rdnis": "",
            "destination_number": dest, "uuid": uuid, "source": "mod_sofia",
            "context": "public", "chan_name": chan}


def _times(start: int, answered: int, end: int) -> dict[str, str]:
    return {"created_time": str(start * 10**6), "profile_created_time": str(start * 10**6),
            "progress_time": "0", "progress_media_time": "0",
            "answered_time": str(answered * 10**6) if answered else "0",
            "bridged_time": "0", "last_hold_time": "0", "hold_accum_time": "0",
            "hangup_time": str(end * 10**6), "resurrect_time": "0", "transfer_time": "0"}


def _doc(direction: str, variables: dict[str, str], profile: dict[str, Any],
         times: dict[str, str]) -> dict[str, Any]:
    return {"core-uuid": "c0de0000-0000-4000-8000-000000000001", "switchname": "fs-edge1",
            "channel_data": {"state": "CS_REPORTING", "state_number": "11",
                             "flags": "0=1;1=1", "caps": "1=1;2=1", "direction": direction},
            "variables": {k: _enc(v) for k, v in variables.items()},
            "callflow": [{"dialplan": "XML", "profile_index": "1",
                          "caller_profile": profile, "times": times}]}


A_UUID = "a2000000-0000-4000-8000-000000000002"
A_PROFILE = _profile(A_UUID, "2025550122", "13125550101", "203.0.113.50",
                     "sofia/external/2025550122@203.0.113.50")


def _a_leg_via_registration_gateway() -> dict[str, Any]:
    # A carrier reached through a registered gateway sends its INVITEs to the Contact FreeSWITCH
    # registered (sip:gw+carrierB@...): the R-URI user is "gw+carrierB", and the number the
    # carrier called is the To user. sofia.c sets sip_gateway when the R-URI is a gateway's,
    # and with the gateway's extension "auto_to_user" destination_number is the To user.
    v = {"uuid": A_UUID, "call_uuid": A_UUID, "direction": "inbound",
         "sip_network_ip": "203.0.113.50", "sip_call_id": "77aa@203.0.113.50",
         "sip_from_user": "2025550122", "sip_req_user": "gw+carrierB",
         "sip_req_uri": "gw+carrierB@192.0.2.1:5080", "sip_to_user": "+13125550101",
         "sip_gateway": "carrierB", "sofia_profile_name": "external",
         "hangup_cause": "NORMAL_CLEARING", "duration": "30", "billsec": "27"}
    return _doc("inbound", v, A_PROFILE, _times(T0, T0 + 3, T0 + 30))


def _b_leg(uuid: str, variables: dict[str, str], answered: bool) -> dict[str, Any]:
    prof = _profile(uuid, "2025550122", "13125550101", "192.0.2.77",
                    "sofia/gateway/upX/13125550101")
    prof["originator"] = {"originator_caller_profiles": [dict(A_PROFILE)]}
    v = {"uuid": uuid, "direction": "outbound", "sip_network_ip": "192.0.2.77",
         "sip_gateway_name": "upX", "hangup_cause": "NORMAL_CLEARING" if answered
         else "NORMAL_TEMPORARY_FAILURE", "duration": "2", "billsec": "1" if answered else "0",
         **variables}
    return _doc("outbound", v, prof, _times(T0 + 1, T0 + 2 if answered else 0, T0 + 3))


def _legs(tmp_path: Path, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    f = tmp_path / "legs.ndjson"
    f.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs))
    res = parse_file(f)
    assert res.format == "freeswitch_json_cdr"
    assert res.rejects.num_rows == 0
    return sorted(res.legs.to_pylist(), key=lambda r: int(str(r["source_record"])))


def test_a_registration_gateways_call_has_the_number_the_carrier_called(
        tmp_path: Path) -> None:
    # Before: called_raw was the R-URI user "gw+carrierB", called_e164 null: no inquiry
    # about +13125550101 could find the call.
    leg = _legs(tmp_path, [_a_leg_via_registration_gateway()])[0]
    assert leg["called_e164"] == "+13125550101"
    assert leg["ingress_trunk"] == "carrierB" and leg["ingress_ip"] == "203.0.113.50"
    assert leg["ruri_raw"] == "gw+carrierB@192.0.2.1:5080"  # the raw R-URI is kept


def test_an_ip_peers_call_keeps_the_request_uri_user(tmp_path: Path) -> None:
    # No sip_gateway: the R-URI user is the number as received, before any translation.
    doc = _a_leg_via_registration_gateway()
    doc["variables"].pop("sip_gateway")
    doc["variables"]["sip_req_user"] = _enc("+13125550199")
    doc["variables"]["sip_to_user"] = _enc("13125550101")
    leg = _legs(tmp_path, [doc])[0]
    assert leg["called_e164"] == "+13125550199"


def test_b_legs_that_never_bridged_are_linked_to_their_a_leg(tmp_path: Path) -> None:
    # call_uuid is the channel's own uuid until a bridge sets the peer's to the A-leg's
    # (switch_ivr_bridge.c; reset to its own when the bridge ends): a failover attempt that
    # failed, or a ring-all leg that lost the race, has its own. The link FreeSWITCH always
    # writes is the originator caller profile (and originating_leg_uuid, from originate).
    failed = _b_leg("b3000000-0000-4000-8000-000000000031",
                    {"call_uuid": "b3000000-0000-4000-8000-000000000031"}, answered=False)
    bridged = _b_leg("b3000000-0000-4000-8000-000000000032",
                     {"call_uuid": A_UUID, "originating_leg_uuid": A_UUID,
                      "bridge_uuid": A_UUID, "signal_bond": A_UUID}, answered=True)
    legs = _legs(tmp_path, [_a_leg_via_registration_gateway(), failed, bridged])
    assert [x["direction"] for x in legs] == ["inbound", "outbound", "outbound"]
    assert [x["correlation_id"] for x in legs] == [A_UUID] * 3
    assert legs[1]["egress_trunk"] == "upX" and legs[1]["ingress_ip"] is None


def test_an_xml_b_leg_is_linked_to_its_a_leg_too(tmp_path: Path) -> None:
    # switch_ivr_generate_xml_cdr: <originator><originator_caller_profile> (no "_profiles"
    # level, unlike the JSON); a failed attempt without originating_leg_uuid.
    a = "".join(f"<{k}>{v}</{k}>" for k, v in A_PROFILE.items())
    times = "".join(f"<{k}>{v}</{k}>" for k, v in _times(T0 + 1, 0, T0 + 3).items())
    b = "b3000000-0000-4000-8000-000000000031"
    xml = (f'<?xml version="1.0"?>\n<cdr core-uuid="c0de" switchname="fs-edge1">'
           "<channel_data><state>CS_REPORTING</state><direction>outbound</direction>"
           f"</channel_data><variables><uuid>{b}</uuid><call_uuid>{b}</call_uuid>"
           "<sip_network_ip>192.0.2.77</sip_network_ip><sip_gateway_name>upX"
           "</sip_gateway_name><hangup_cause>NORMAL_TEMPORARY_FAILURE</hangup_cause>"
           '</variables><callflow dialplan="XML" profile_index="1"><caller_profile>'
           f"<caller_id_number>2025550122</caller_id_number><uuid>{b}</uuid>"
           "<destination_number>13125550101</destination_number>"
           f"<originator><originator_caller_profile>{a}</originator_caller_profile>"
           f"</originator></caller_profile><times>{times}</times></callflow></cdr>\n")
    f = tmp_path / f"{b}.cdr.xml"
    f.write_text(xml)
    res = parse_file(f)
    assert res.format == "freeswitch_xml_cdr" and res.rejects.num_rows == 0
    leg = res.legs.to_pylist()[0]
    assert (leg["direction"], leg["correlation_id"], leg["egress_trunk"]) == (
        "outbound", A_UUID, "upX")


def test_a_cdr_mod_json_cdr_could_not_post_is_read_from_its_backup(tmp_path: Path) -> None:
    # mod_json_cdr.c: with a url and encode = true (or base64), a CDR whose POST failed is
    # written to err-log-dir as <uuid>.cdr.json holding json_text_escaped (the URL-encoded,
    # or base64, document); the POST body itself is "cdr=" + that text. Before: "cannot tell
    # the format of this file", and the calls FreeSWITCH could not deliver were lost.
    import base64

    text = json.dumps(_a_leg_via_registration_gateway(), separators=(",", ":"))
    forms = {
        "url.cdr.json": quote(text, safe="-_.!~*'(),") + "\n",  # switch_url_encode
        "b64.cdr.json": base64.b64encode(text.encode()).decode() + "\n",
        "posts.log": "".join("cdr=" + quote(text, safe="-_.!~*'(),") + "\n" for _ in (1, 2)),
    }
    for name, body in forms.items():
        f = tmp_path / name
        f.write_text(body)
        res = parse_file(f)
        assert res.format == "freeswitch_json_cdr", name
        assert res.rejects.num_rows == 0, name
        legs = res.legs.to_pylist()
        assert len(legs) == (2 if name == "posts.log" else 1)
        assert [x["source_record"] for x in legs] == list(range(1, len(legs) + 1))
        assert legs[0]["called_e164"] == "+13125550101"  # values decoded once, not twice
        assert legs[0]["calling_raw"] == "2025550122" and legs[0]["ingress_trunk"] == "carrierB"


def test_the_diversion_header_is_kept(tmp_path: Path) -> None:
    # sofia.c stores an inbound Diversion header as sip_h_Diversion (SOFIA_SIP_HEADER_PREFIX
    # + the header's name; mod_osp reads it as the inbound Diversion). Before: diversion_raw
    # was empty, though the forwarding number is evidence of how the call reached us.
    doc = _a_leg_via_registration_gateway()
    div = "<sip:+13125559999@203.0.113.50>;reason=unconditional"
    doc["variables"]["sip_h_Diversion"] = _enc(div)
    assert _legs(tmp_path, [doc])[0]["diversion_raw"] == div


def test_a_json_object_that_is_no_cdr_is_rejected_as_such(tmp_path: Path) -> None:
    # A collector's log of POST bodies can hold other JSON (a health check, an error reply).
    # Before: "no start time: column 'callflow.times.created_time' is empty or 0", which
    # sends the user looking for a broken CDR.
    f = tmp_path / "posts.ndjson"
    f.write_text(json.dumps(_a_leg_via_registration_gateway()) + "\n"
                 + '{"status": "ok", "uptime": 3600}\n')
    res = parse_file(f)
    assert res.legs.num_rows == 1
    (reject,) = res.rejects.to_pylist()
    assert reject["source_record"] == 2
    assert "not a FreeSWITCH CDR document" in reject["reason"], reject["reason"]


def test_an_xml_cdr_mod_xml_cdr_could_not_post_is_read_from_its_backup(
        tmp_path: Path) -> None:
    # mod_xml_cdr.c: with encode = true (or base64), xml_text is replaced by its escaped form
    # (switch_url_encode_opt, double-encoding the values' own %XX) before the POST, and a
    # failed POST writes that text, with no line end, to err-log-dir/<uuid>.cdr.xml.
    import base64

    doc = ('<cdr core-uuid="c0de" switchname="fs-edge1"><channel_data><direction>inbound'
           "</direction></channel_data><variables><uuid>" + A_UUID + "</uuid>"
           "<sip_network_ip>203.0.113.50</sip_network_ip><sip_req_user>%2B13125550101"
           "</sip_req_user><hangup_cause>NORMAL_CLEARING</hangup_cause></variables>"
           '<callflow dialplan="XML" profile_index="1"><caller_profile><caller_id_number>'
           "2025550122</caller_id_number><destination_number>13125550101"
           "</destination_number></caller_profile><times><created_time>"
           f"{T0 * 10**6}</created_time><answered_time>0</answered_time><hangup_time>"
           f"{(T0 + 9) * 10**6}</hangup_time></times></callflow></cdr>")
    for name, body in {"a_url.cdr.xml": quote(doc, safe="-_.!~*'(),"),
                       "a_b64.cdr.xml": base64.b64encode(doc.encode()).decode(),
                       "posts.log": "cdr=" + quote(doc, safe="-_.!~*'(),") + "\n"}.items():
        f = tmp_path / name
        f.write_text(body)
        res = parse_file(f)
        assert res.format == "freeswitch_xml_cdr", name
        assert res.rejects.num_rows == 0, name
        (leg,) = res.legs.to_pylist()
        assert (leg["called_e164"], leg["ingress_ip"]) == ("+13125550101", "203.0.113.50")


def test_a_directory_of_many_cdr_files_gives_each_file_its_own_legs(tmp_path: Path) -> None:
    # parse_documents merges the per-file frames as it reads them (a frame of one leg costs
    # ~100 kB in polars, whatever its size): every file must still get exactly its legs.
    from tracehop.ingest.profile import resolve_profile
    from tracehop.ingest.run import parse_documents

    paths = []
    for n in range(150):
        doc = _a_leg_via_registration_gateway()
        doc["variables"]["uuid"] = doc["variables"]["call_uuid"] = f"a-{n:04d}"
        doc["callflow"][0]["times"] = _times(T0 + n, T0 + n + 1, T0 + n + 9)
        if n == 70:
            doc = {"status": "ok"}  # one file's only document is no CDR
        paths.append(tmp_path / f"a-{n:04d}.cdr.json")
        paths[-1].write_text(json.dumps(doc) + "\n")
    results = parse_documents(paths, resolve_profile("freeswitch_json_cdr"))
    assert len(results) == 150
    for n, res in enumerate(results):
        assert not isinstance(res, Exception)
        assert res.legs.num_rows == (0 if n == 70 else 1)
        assert res.rejects.num_rows == (1 if n == 70 else 0)
        if n != 70:
            (leg,) = res.legs.to_pylist()
            assert leg["correlation_id"] == f"a-{n:04d}"
            assert leg["source_file"] == str(paths[n])


def test_a_call_answered_for_less_than_a_second_is_answered(tmp_path: Path) -> None:
    # billsec is whole seconds (switch_channel_set_timestamps): a call answered and hung up
    # within the second has billsec 0 and NORMAL_CLEARING, and was "unknown". answered_time
    # (CF_ANSWERED's time) says it was answered, as answer_stamp does in mod_cdr_csv's profile.
    doc = _a_leg_via_registration_gateway()
    doc["variables"]["billsec"] = "0"
    doc["callflow"][0]["times"]["answered_time"] = str(T0 * 10**6 + 200_000)
    doc["callflow"][0]["times"]["hangup_time"] = str(T0 * 10**6 + 900_000)
    assert _legs(tmp_path, [doc])[0]["disposition"] == "answered"


def test_a_cdr_file_cut_short_is_not_blamed_on_the_format(tmp_path: Path) -> None:
    # A <uuid>.cdr.json copied while mod_json_cdr wrote it: detected as freeswitch_json_cdr
    # from its first bytes, its one document does not parse. The error said "a run with the
    # right --format reads the file again", which is no way out.
    from tracehop.ingest.run import ingest_paths

    text = json.dumps(_a_leg_via_registration_gateway())
    f = tmp_path / f"{A_UUID}.cdr.json"
    f.write_text(text[: len(text) // 2])
    s = ingest_paths([f], tmp_path / "store")
    assert (s.read, s.stored, s.rejected) == (1, 0, 1)
    (fs,) = s.per_file
    assert fs.error is not None and "--format" not in fs.error, fs.error
    assert "read again once it is complete or repaired" in fs.error
