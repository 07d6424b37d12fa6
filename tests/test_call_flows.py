"""Real call flows, written as the switches write them, ingested and looked up end to end
(`tracehop ingest`, then `tracehop lookup --json`): each must answer from the inbound leg the
upstream carrier handed over, never from an egress or internal leg of the same call.

Flows already covered elsewhere are not repeated here (Asterisk follow-me with linkedid:
test_asterisk_direction.py; FreeSWITCH legs=ab: test_freeswitch_legs.py; CUCM forwarding:
test_called_number_choice.py; dialed and diverted-from numbers: test_match_dialed.py).
"""

from __future__ import annotations

import json
import socket
import struct
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup

from tracehop.cli import cli
from tracehop.ingest.run import parse_file

CALLER, DID, MOBILE = "2025550111", "3125550100", "17735550199"
#: 2026-11-20 09:10:00 in New York (UTC-05:00) is 14:10:00Z; a uniqueid is the UTC epoch of
#: its channel's creation, from which the reader infers the file's offset.
LOCAL0, EPOCH0 = datetime(2026, 11, 20, 9, 10, 0), 1795183800


def _ingest(tmp_path: Path, name: str, text: str) -> tuple[str, str]:
    (tmp_path / name).write_text(text)
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / name), "--store",
                                 str(tmp_path / "store"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["rejected"] == 0, out
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


# --- Asterisk cdr_csv without linkedid ------------------------------------------------------

def _q(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _cdr_csv_18(dst: str, context: str, channel: str, dstchannel: str, app: str, data: str,
                disposition: str, uniqueid: str, answered: bool = True) -> str:
    """One Master.csv line with loguniqueid=yes and loguserfield=yes but newcdrcolumns=no
    (cdr_csv.c build_csv_record; the layout of most real files: 18 fields, no linkedid). The
    call starts at LOCAL0, is answered 5 s later and lasts 60 s."""
    t = lambda s: _q((LOCAL0 + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S"))  # noqa: E731
    return ",".join([_q(""), _q(CALLER), _q(dst), _q(context), _q(f'"" <{CALLER}>'),
                     _q(channel), _q(dstchannel), _q(app), _q(data), t(0),
                     t(5) if answered else "", t(60), "60", "55" if answered else "0",
                     _q(disposition), _q("DOCUMENTATION"), _q(uniqueid), _q("")])


def test_asterisk_follow_me_to_a_mobile_without_linkedid_is_traced_to_the_carrier(
        tmp_path: Path) -> None:
    # A carrier's call to a DID whose follow-me dials the mobile through a Local channel: the
    # trunk row dials Local/...;1, the row of Local/...;2 dials the other trunk. Only the Local
    # channel's name links the two rows (no linkedid; each row has its channel's uniqueid).
    # The mobile's carrier asks about the number it received: the call came from Acme.
    local = f"Local/{MOBILE}@from-internal-000000a1"
    lines = [
        _cdr_csv_18(DID, "from-trunk", "PJSIP/ACME_IN_1-00000041", f"{local};1", "Dial",
                    f"{local.split('-0')[0]},300", "ANSWERED", f"{EPOCH0}.40"),
        _cdr_csv_18(MOBILE, "from-internal", f"{local};2", "PJSIP/bravo_out-00000042", "Dial",
                    f"PJSIP/{MOBILE}@bravo_out,300", "ANSWERED", f"{EPOCH0}.42"),
    ]
    store = _ingest(tmp_path, "Master.csv", "\n".join(lines) + "\n")
    a = cli_lookup(store, MOBILE[1:], "2026-11-20T14:10:02Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == 1  # the trunk row, not the outbound row
    assert a["match"]["call_id"] is None  # cdr_csv has no SIP Call-ID to name
    # The DID itself: the trunk row, as before.
    b = cli_lookup(store, DID, "2026-11-20T14:10:02Z")
    assert (b["status"], b["match"]["evidence"]["record"]) == ("upstream", 1)


#: A nested follow-me (FreePBX): the carrier's row dials the follow-me's Local channel X, whose
#: ;2 half dials the mobile's Local channel Y, whose ;2 half dials the mobile's trunk. Without
#: linkedid each row's own key is X, X and Y: only the chain of pairs links the mobile's row
#: to the carrier's.
_X, _Y = "Local/FMGL-201@from-internal-000000b1", f"Local/{MOBILE}@from-internal-000000b2"
_NESTED = {
    "A": _cdr_csv_18(DID, "from-trunk", "PJSIP/ACME_IN_1-00000051", f"{_X};1", "Dial",
                     "Local/FMGL-201@from-internal,300", "ANSWERED", f"{EPOCH0}.50"),
    "B": _cdr_csv_18("FMGL-201", "from-internal", f"{_X};2", f"{_Y};1", "Dial",
                     f"Local/{MOBILE}@from-internal,300", "ANSWERED", f"{EPOCH0}.52"),
    "C": _cdr_csv_18(MOBILE, "from-internal", f"{_Y};2", "PJSIP/bravo_out-00000054", "Dial",
                     f"PJSIP/{MOBILE}@bravo_out,300", "ANSWERED", f"{EPOCH0}.54"),
}


@pytest.mark.parametrize("order", ["ABC", "CBA", "BCA"])
def test_asterisk_nested_follow_me_to_a_mobile_without_linkedid_is_traced_to_the_carrier(
        tmp_path: Path, order: str) -> None:
    # Asterisk writes a chain's rows as their party A channels end, in either order. The
    # mobile's carrier asks about the number it received: the call came from Acme, by the
    # carrier's row (not the middle row, which is outbound: its channel is a Local half).
    store = _ingest(tmp_path, "Master.csv", "\n".join(_NESTED[k] for k in order) + "\n")
    a = cli_lookup(store, MOBILE[1:], "2026-11-20T14:10:02Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == order.index("A") + 1
    # All three rows are one call: keyed by the outermost pair.
    legs = parse_file(Path(tmp_path / "Master.csv"), "asterisk_cdr_csv").legs
    assert set(legs.column("correlation_id").to_pylist()) == {_X}
    # The DID itself: the carrier's row, as before.
    b = cli_lookup(store, DID, "2026-11-20T14:10:02Z")
    assert (b["status"], b["match"]["evidence"]["record"]) == ("upstream", order.index("A") + 1)


def test_freepbx_ring_group_to_a_mobile_in_a_cdr_dump_is_traced_to_the_carrier(
        tmp_path: Path) -> None:
    # The FreePBX cdr table dump (no linkedid column): a ring group that rings extension 201
    # and a mobile, each through a Local channel; 201 answers. Amaflags 3 = DOCUMENTATION.
    def row(dst: str, ctx: str, chan: str, dchan: str, disp: str, uid: str, did: str) -> str:
        return ",".join([_q("2026-11-20 09:10:00"), _q(f'"" <{CALLER}>'), _q(CALLER), _q(dst),
                         _q(ctx), _q(chan), _q(dchan), _q("Dial"), _q("x"), "60", "55",
                         _q(disp), _q("3"), "", _q(uid), "", "", _q(did) if did else "",
                         _q(CALLER), "", "", "", "", _q("0"), ""])
    l1, l2 = "Local/201@from-internal-00000011", f"Local/{MOBILE}@from-internal-00000012"
    lines = [
        row(DID, "ext-group", "PJSIP/ACME_IN_1-00000010", f"{l1};1", "ANSWERED",
            f"{EPOCH0}.10", DID),
        row(DID, "ext-group", "PJSIP/ACME_IN_1-00000010", f"{l2};1", "NO ANSWER",
            f"{EPOCH0}.10", DID),
        row("201", "from-internal", f"{l1};2", "PJSIP/201-00000013", "ANSWERED",
            f"{EPOCH0}.12", ""),
        row(MOBILE, "from-internal", f"{l2};2", "PJSIP/bravo_out-00000014", "NO ANSWER",
            f"{EPOCH0}.14", ""),
    ]
    store = _ingest(tmp_path, "cdr.csv", "\n".join(lines) + "\n")
    a = cli_lookup(store, MOBILE[1:], "2026-11-20T14:10:00Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == 2  # the trunk row that rang the mobile


# --- Kamailio / OpenSIPS acc: a number the proxy translated ---------------------------------

_ACC = ("Nov 20 14:10:05 proxy1 /usr/sbin/{proc}[2417]: NOTICE: acc [acc.c:281]: ACC: "
        "transaction answered: timestamp=1795183805;method=INVITE;from_tag=fA1;to_tag=tA1;"
        "call_id=ka1@198.51.100.7;code=200;reason=OK;src_user=+12025550111;"
        "src_domain=carrier-a.example;src_ip=198.51.100.7;dst_ouser=+18005550100;"
        "dst_user=13125558888;dst_domain=sip.example.net\n")


@pytest.mark.parametrize("proc", ["kamailio", "opensips"])
def test_acc_call_to_a_toll_free_number_the_proxy_translated_is_found_by_it(
        tmp_path: Path, proc: str) -> None:
    # The script rewrote the R-URI (dst_user = $rU) from the toll-free number the carrier sent
    # to its routing number; the To user (dst_ouser = $tU) is still the number dialled, which
    # the inquiry names.
    store = _ingest(tmp_path, "acc.log", _ACC.format(proc=proc))
    a = cli_lookup(store, "8005550100", "2026-11-20T14:10:00Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["called_raw"] == "13125558888"
    assert a["searched"]["step"].startswith("dialed or diverted-from number")


# --- SIP capture: a challenged INVITE, re-INVITEs and our proxy's forks ----------------------

_CAR, _SBC, _PH1, _PH2 = "198.51.100.7", "192.0.2.10", "192.0.2.21", "192.0.2.22"


def _msg(start: str, cid: str, cseq: str, src: str, branch: str, to_tag: str | None,
         extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    to = f"<sip:+{DID_E164}@b.example>" + (f";tag={to_tag}" if to_tag else "")
    head = [("Via", f"SIP/2.0/UDP {src}:5060;branch={branch}"),
            ("From", f"<sip:+1{CALLER}@a.example>;tag=f1"), ("To", to), ("Call-ID", cid),
            ("CSeq", cseq), *extra]
    text = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head) + "Content-Length: 0\r\n\r\n"
    return text.encode()


def _frame(src: str, dst: str, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + udp
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def _pcap(frames: list[tuple[float, bytes]]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for ts, data in frames:
        sec = int(ts)
        out += struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(data), len(data)) + data
    return out


DID_E164 = "1" + DID


def test_sip_call_challenged_reinvited_and_forked_answers_from_its_one_inbound_leg(
        tmp_path: Path) -> None:
    # The carrier's INVITE is challenged (407) and sent again with credentials: a new client
    # transaction (new branch, CSeq 2) of the same call (RFC 3261 §22.3, §8.1.3.5); our proxy
    # forks it to two phones (same Call-ID, two branches: outbound legs), one answers, the
    # other is cancelled; a session-refresh re-INVITE (To tag: in the dialog, RFC 3261 §14)
    # follows. One call, one upstream: Acme, from the INVITE that was answered.
    t0, cid, ruri = float(EPOCH0), "auth-fork@a", f"sip:+{DID_E164}@b.example"
    inv = f"INVITE {ruri} SIP/2.0"
    challenge = (("Proxy-Authenticate", 'Digest realm="b", nonce="n"'),)
    credentials = (("Proxy-Authorization", 'Digest username="acme", realm="b", nonce="n"'),)
    frames = [
        (t0, _frame(_CAR, _SBC, _msg(inv, cid, "1 INVITE", _CAR, "z9hG4bKa1", None))),
        (t0 + 0.01, _frame(_SBC, _CAR, _msg("SIP/2.0 407 Proxy Authentication Required", cid,
                                            "1 INVITE", _CAR, "z9hG4bKa1", "s407", challenge))),
        (t0 + 0.02, _frame(_CAR, _SBC, _msg(f"ACK {ruri} SIP/2.0", cid, "1 ACK", _CAR,
                                            "z9hG4bKa1", "s407"))),
        (t0 + 0.05, _frame(_CAR, _SBC, _msg(inv, cid, "2 INVITE", _CAR, "z9hG4bKa2", None,
                                            credentials))),
        (t0 + 0.06, _frame(_SBC, _PH1, _msg(inv, cid, "2 INVITE", _SBC, "z9hG4bKf1", None))),
        (t0 + 0.06, _frame(_SBC, _PH2, _msg(inv, cid, "2 INVITE", _SBC, "z9hG4bKf2", None))),
        (t0 + 3.0, _frame(_PH1, _SBC, _msg("SIP/2.0 200 OK", cid, "2 INVITE", _SBC,
                                           "z9hG4bKf1", "p1"))),
        (t0 + 3.01, _frame(_PH2, _SBC, _msg("SIP/2.0 487 Request Terminated", cid,
                                            "2 INVITE", _SBC, "z9hG4bKf2", "p2"))),
        (t0 + 3.02, _frame(_SBC, _CAR, _msg("SIP/2.0 200 OK", cid, "2 INVITE", _CAR,
                                            "z9hG4bKa2", "p1"))),
        (t0 + 20.0, _frame(_CAR, _SBC, _msg(inv, cid, "3 INVITE", _CAR, "z9hG4bKa4", "p1"))),
        (t0 + 20.1, _frame(_SBC, _CAR, _msg("SIP/2.0 200 OK", cid, "3 INVITE", _CAR,
                                            "z9hG4bKa4", "p1"))),
    ]
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    (tmp_path / "sbc.pcap").write_bytes(_pcap(frames))
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "sbc.pcap"), "--store",
                                 str(tmp_path / "store"), "--sip-local-net", "192.0.2.0/24",
                                 "--json"])
    assert r.exit_code == 0, r.output
    a = cli_lookup((str(tmp_path / "store"), str(tmp_path / "peers.toml")), DID,
                   "2026-11-20T14:10:00Z")
    assert a["status"] == "upstream", a
    assert a["upstream"]["provider"] == "Acme Transit"
    assert a["match"]["evidence"]["record"] == 4  # the INVITE sent again, answered
    assert a["match"]["direction"] == "inbound" and a["match"]["disposition"] == "answered"
    assert a["alternatives"] == []


def test_acc_db_export_keeps_the_to_user_as_the_dialed_number(tmp_path: Path) -> None:
    f = tmp_path / "acc.csv"
    f.write_text(
        "id,method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,"
        "src_ip,dst_ouser,dst_user,dst_domain\n"
        "1,INVITE,fa1,tA1,ka1@198.51.100.7,200,OK,2026-11-20 14:10:05,+12025550111,"
        "carrier-a.example,198.51.100.7,+18005550100,13125558888,sip.example.net\n")
    (leg,) = parse_file(f, "kamailio_acc_db", tz="UTC").legs.to_pylist()
    assert (leg["called_raw"], leg["dialed_raw"]) == ("13125558888", "+18005550100")
