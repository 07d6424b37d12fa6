"""QA of SIP-capture ingestion: the called number of an INVITE whose Request-URI holds no
telephone number.

A trunk that registers (the carrier sends each call to the Contact the SBC registered, RFC 3261
§10.2.1, §16.5) or a switch that routes on a route label puts an account name or a token in the
Request-URI user (``INVITE sip:acct12345@10.20.0.5``, ``sip:s@...``); the number called is the To
user (§8.1.1.2: To names the desired logical recipient). The leg's called number was the
Request-URI user all the same, with no E.164 form, so a lookup of the number found that leg only
through the dialed-number fallback, which runs only when no other leg to the number is within
±24 h: a call to the same number hours later from another carrier was answered instead, under
"time-zone slip" - the wrong upstream.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup
from test_qa_sip_auth import SBC, T0, _frame, _pcap

from tracehop.cli import cli
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.reader import read_capture

ACME, OVERSEAS = "198.51.100.7", "203.0.113.9"
NEVER = SipConfig(tshark="never")


def _invite(src: str, ruri: str, to: str, cid: str) -> bytes:
    return (f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:5060;branch=z9hG4bK{cid}\r\n"
            f"From: <sip:+12025550111@{src}>;tag=f{cid}\r\nTo: <{to}>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def _ok(src: str, to: str, cid: str) -> bytes:
    return (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {src}:5060;branch=z9hG4bK{cid}\r\n"
            f"From: <sip:+12025550111@{src}>;tag=f{cid}\r\nTo: <{to}>;tag=t{cid}\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def _call(t: float, src: str, ruri: str, to: str, cid: str) -> list[tuple[float, bytes]]:
    return [(t, _frame(src, SBC, _invite(src, ruri, to, cid))),
            (t + 2, _frame(SBC, src, _ok(src, to, cid)))]


def test_a_request_uri_without_a_number_takes_the_called_number_from_to(
        tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "reg.pcap", [
        *_call(T0, ACME, f"sip:acct12345@{SBC}:5060", "sip:+13125550501@carrier.example", "r1"),
        *_call(T0 + 10, ACME, f"sip:s@{SBC}", "sip:3125550502@carrier.example", "r2"),
        *_call(T0 + 20, ACME, f"sip:8005551@{SBC}", "tel:+13125550503", "r3"),
        # a Request-URI number is kept, even when To names another (a translated call)
        *_call(T0 + 30, ACME, f"sip:+13125550599@{SBC};user=phone",
               "sip:+18005550504@carrier.example", "r4"),
        # neither holds a number: nothing is made up
        *_call(T0 + 40, ACME, f"sip:acct9@{SBC}", "sip:alice@carrier.example", "r5"),
    ])
    legs = {x["call_id"]: x for x in read_capture(cap, config=NEVER, workers=1).legs.to_pylist()}
    got = {c: (x["called_raw"], x["called_e164"], x["dialed_raw"]) for c, x in legs.items()}
    assert got == {
        "r1": ("+13125550501", "+13125550501", "+13125550501"),
        "r2": ("3125550502", "+13125550502", "3125550502"),
        "r3": ("+13125550503", "+13125550503", "+13125550503"),
        "r4": ("+13125550599", "+13125550599", "+18005550504"),
        "r5": ("acct9", None, "alice"),
    }, got
    assert legs["r1"]["ruri_raw"] == f"sip:acct12345@{SBC}:5060"  # the evidence as sent


def test_the_carrier_that_handed_over_a_call_to_a_registered_contact_is_named(
        tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "sbc.pcap", [
        *_call(T0, ACME, f"sip:acct12345@{SBC}:5060", "sip:+13125550501@carrier.example", "a1"),
        # the same number called three hours later through another carrier
        *_call(T0 + 3 * 3600, OVERSEAS, f"sip:+13125550501@{SBC};user=phone",
               "sip:+13125550501@carrier.example", "o1"),
    ])
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    r = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    a = cli_lookup((str(tmp_path / "st"), str(tmp_path / "peers.toml")), "3125550501",
                   "2026-11-20T14:10:05Z")
    assert (a["status"], a["upstream"]["provider"]) == ("upstream", "Acme Transit"), a
    assert a["match"]["call_id"] == "a1" and a["searched"]["step"] == "±120s"
