"""The third-party captures in ../shared/realworld/sip: all ingest, and agree with tshark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.sip import tshark
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.reader import read_capture

SIP = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "sip"
CAPTURES = sorted(p for p in SIP.rglob("*") if p.is_file() and p.suffix in (
    ".pcap", ".pcapng", ".cap")) if SIP.is_dir() else []

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not SIP.is_dir(), reason=f"real-world captures not present at {SIP}"),
]

# Where tracehop's count differs from tshark's on purpose:
KNOWN_DIFFERENCES = {
    # tshark 4.0 has no HEP dissector: it sees UDP to port 9060, no SIP at all.
    "hep.pcap": "HEP",
    "hep3_compressed.pcap.pcapng": "HEP",
    # A fuzzed trace: tracehop counts 6 messages whose start line survived but whose later
    # bytes were corrupted (tshark's heuristics drop them; the malformed ones become rejects),
    # and misses one whose CRLF was fuzzed into CR + '7' (tshark accepts a bare CR).
    "fuzz-2006-06-26-2594.pcap": "fuzzed",
}
# tshark needs to be told that port 6060 carries SIP over TCP (it decodes it as X11).
DECODE_AS = {"sip_ipv4_tcp_fragmented.pcap": ["tcp.port==6060,sip"]}
# One file per feature, for the default run: TCP reassembly and retransmissions, IPv6
# fragments, SIP quoted in ICMP, WebSocket, SCTP, ERSPAN, IP-in-IP, PPPoE, compact forms, NetMon.
QUICK = ["sip_ipv4_tcp.pcap", "sip_ipv4_tcp_retrans.pcap", "ipv6frag.pcap", "inputs/sip.pcap",
         "sip_tcp_websocket.pcap", "sip_sctp.pcap", "erspan_sip_ipv4_udp.pcapng", "ipip.pcap",
         "DTMFsipinfo.pcap", "sip_compact_form.pcap", "c07-sip-r2.cap",
         "sip_ipv4_tcp_fragmented.pcap", "sip-body-large.pcap", "h263-over-rtp.pcap"]


def _id(p: Path) -> str:
    return str(p.relative_to(SIP))


def test_the_corpus_is_there() -> None:
    assert len(CAPTURES) >= 50


@pytest.mark.parametrize("path", CAPTURES, ids=_id)
def test_every_capture_ingests_without_a_crash(path: Path) -> None:
    res = read_capture(path, source="realworld", config=SipConfig())
    assert res.legs.num_rows <= res.messages
    assert res.legs.column("start_utc").null_count == 0
    assert all(r["source_record"] is not None for r in res.legs.to_pylist())
    assert res.rejects.column("reason").null_count == 0


def _compare(path: Path) -> None:
    if tshark.available() is None:
        pytest.skip("tshark is not installed")
    ours = read_capture(path, config=SipConfig()).messages
    theirs = tshark.count_messages(path, decode_as=DECODE_AS.get(path.name))
    if path.name in KNOWN_DIFFERENCES:
        assert ours != theirs or theirs == 0
        return
    assert ours == theirs, f"{path.name}: tracehop {ours} SIP messages, tshark {theirs}"


def _quick(p: Path) -> bool:
    return any(str(p).endswith("/" + q) for q in QUICK)


@pytest.mark.tshark
@pytest.mark.parametrize("path", [p for p in CAPTURES if _quick(p)], ids=_id)
def test_message_counts_agree_with_tshark(path: Path) -> None:
    _compare(path)


@pytest.mark.tshark
@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in CAPTURES if not _quick(p)], ids=_id)
def test_message_counts_agree_with_tshark_everywhere(path: Path) -> None:
    _compare(path)


@pytest.mark.parametrize("name,legs", [("sipp-branch-scenario.pcapng", 1334),
                                       ("sip_ipv4_tcp_fragmented.pcap", 37),
                                       ("sip-proxy.pcap", 2)])
def test_leg_counts_on_real_traces(name: str, legs: int) -> None:
    path = next(p for p in CAPTURES if p.name == name)
    res = read_capture(path, config=SipConfig(tshark="never"))
    assert res.legs.num_rows == legs
    if name == "sip-proxy.pcap":  # one call through a proxy: two legs, one Call-ID
        assert len(set(res.legs.column("call_id").to_pylist())) == 1
        assert len(set(res.legs.column("ingress_ip").to_pylist())) == 2
