"""QA of SIP-capture ingestion: a call handed on over the host's loopback.

An SBC or proxy in front of a PBX on the same host (a Kamailio on the public address passing
each call to a FreeSWITCH on 127.0.0.1:5080), captured with ``tcpdump -i any``: every call is
seen twice, as the carrier's INVITE to the public address and as the host's own INVITE from
127.0.0.1 to 127.0.0.1. Read as inbound, the loopback hop was a second candidate naming
127.0.0.1 beside the carrier, and every such call answered ``ambiguous``. No peer hands a call
over on the loopback: that hop is the host's onward leg (outbound). A capture where every
element shares the loopback (nothing arrives from outside) keeps its reading.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from matchkit import PEERS_TOML, cli_lookup
from test_qa_sip_auth import T0, _frame, _pcap

from tracehop.cli import cli
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.reader import read_capture

ACME, PUBLIC, LOOP = "198.51.100.7", "10.20.0.5", "127.0.0.1"
NEVER = SipConfig(tshark="never")


def _invite(src: str, dst: str, called: str, cid: str) -> bytes:
    # each hop's own top Via branch (a proxy adds one: RFC 3261 §16.6 step 8)
    return (f"INVITE sip:{called}@{dst} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {src}:5060;branch=z9hG4bK{cid}{src}\r\n"
            f"From: <sip:+12025550111@{src}>;tag=f{cid}\r\nTo: <sip:{called}@{dst}>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def _ok(src: str, dst: str, called: str, cid: str) -> bytes:
    return (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {src}:5060;branch=z9hG4bK{cid}{src}\r\n"
            f"From: <sip:+12025550111@{src}>;tag=f{cid}\r\nTo: <sip:{called}@{dst}>;tag=t\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def _hop(t: float, src: str, dst: str, called: str, cid: str) -> list[tuple[float, bytes]]:
    return [(t, _frame(src, dst, _invite(src, dst, called, cid))),
            (t + 2, _frame(dst, src, _ok(src, dst, called, cid)))]


def _capture(tmp_path: Path, same_call_id: bool) -> Path:
    frames: list[tuple[float, bytes]] = []
    for i in range(3):
        called = f"+131255506{i:02d}"
        frames += _hop(T0 + 10 * i, ACME, PUBLIC, called, f"in{i}")
        # a proxy keeps the Call-ID (RFC 3261 §16.6); a B2BUA starts a new dialog
        frames += _hop(T0 + 10 * i + 0.01, LOOP, LOOP, called,
                       f"in{i}" if same_call_id else f"lo{i}")
    return _pcap(tmp_path / "any.pcap", sorted(frames, key=lambda f: f[0]))


def test_the_loopback_hop_of_a_call_from_outside_is_outbound(tmp_path: Path) -> None:
    for same in (True, False):
        legs = read_capture(_capture(tmp_path, same), config=NEVER, workers=1).legs.to_pylist()
        by = sorted((x["start_utc"], x["direction"], x["ingress_ip"], x["egress_ip"])
                    for x in legs)
        assert [b[1:] for b in by] == [("inbound", ACME, None), ("outbound", None, LOOP)] * 3


def test_a_call_through_the_loopback_answers_its_carrier(tmp_path: Path) -> None:
    cap = _capture(tmp_path, same_call_id=False)
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    r = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 0, r.output
    a = cli_lookup((str(tmp_path / "s"), str(tmp_path / "peers.toml")), "+13125550601",
                   "2026-11-20T14:10:10Z")
    # Before: ambiguous between Acme Transit and 127.0.0.1.
    assert a["status"] == "upstream" and a["upstream"]["provider"] == "Acme Transit", a
    assert a["alternatives"] == []


def test_a_capture_all_on_the_loopback_keeps_its_inbound_legs(tmp_path: Path) -> None:
    frames = _hop(T0, LOOP, LOOP, "+13125550700", "l1") + _hop(T0 + 5, LOOP, LOOP,
                                                              "+13125550701", "l2")
    legs = read_capture(_pcap(tmp_path / "lo.pcap", frames), config=NEVER,
                        workers=1).legs.to_pylist()
    assert [x["direction"] for x in legs] == ["inbound", "inbound"]
