"""The SIP fast path gives what the full parsers give: scan_request against parse_message, the
lean URI helpers against parse_name_addr, the cached PASSporT decoding, and whole captures read
with the fast INVITE path against the same captures read with the full parser only."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.sip import dialogs
from tracehop.sip.dialogs import _LEG_HEADERS, _LEG_NAMES, SipConfig, parse_nets
from tracehop.sip.message import (
    SipParseError,
    addr_uri,
    parse_message,
    parse_name_addr,
    scan_request,
)
from tracehop.sip.passport import decode_identity
from tracehop.sip.reader import read_capture

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
TORTURE = REALWORLD / "sip" / "messages" / "resiprocate__resiprocate" / "resip" / "stack" / "test"

INVITE = (b"INVITE sip:+13125550100@sbc.example.net;user=phone SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\n"
          b"Max-Forwards: 70\r\n"
          b"From: \"Bell, A.\" <sip:+12025550111@198.51.100.7>;tag=f1\r\n"
          b"To: <sip:+13125550100@sbc.example.net>\r\n"
          b"Call-ID: c1@198.51.100.7\r\n"
          b"CSeq: 1 INVITE\r\n"
          b"P-Asserted-Identity: <tel:+12025550111;verstat=TN-Validation-Passed>\r\n"
          b"Content-Length: 0\r\n\r\n")


def _agrees(data: bytes) -> None:
    """scan_request either declines or gives parse_message's view of the leg headers."""
    got = scan_request(data, _LEG_NAMES)
    try:
        msg = parse_message(data)
    except SipParseError:
        assert got is None, "the fast path read a message the full parser rejects"
        return
    if got is None or msg.method is None:
        return  # declined: the full parser reads it
    ruri, hdrs = got
    assert ruri == msg.ruri
    assert hdrs == {k: v for k, v in msg.headers.items() if k in _LEG_HEADERS}


@pytest.mark.parametrize("data", [
    INVITE,
    INVITE.replace(b"Call-ID:", b"i:").replace(b"From:", b"f:").replace(b"To:", b"t:"),
    INVITE.replace(b"Call-ID:", b"CALL-id:").replace(b"CSeq:", b"cseq:"),
    INVITE.replace(b"Via:", b"Via :"),  # LWS before the colon: declined, full parser reads it
    INVITE.replace(b"tag=f1\r\n", b"tag=f1\r\n Folded-On: x\r\n"),  # folding: declined
    INVITE.replace(b"\r\n", b"\n"),  # LF only: declined
    INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n\n"),  # LF LF ends headers
    INVITE.replace(b"Max-Forwards", b"X-Caf\xc3\xa9"),  # not ASCII: declined
    INVITE.replace(b"Max-Forwards: 70", b"no colon here"),  # full parser rejects
    INVITE.replace(b"Via:", b"Via: SIP/2.0/UDP a;branch=z9hG4bK-0\r\nVia:"),  # repeated
    INVITE.replace(b"Max-Forwards: 70", b"Identity: a.b.c;info=<https://x/y.pem>\r\ny: d.e.f"),
    INVITE.replace(b" SIP/2.0\r\n", b" SIP/2.0 extra\r\n", 1),  # bad request line
])
def test_scan_request_agrees_with_the_full_parser(data: bytes) -> None:
    _agrees(data)


def test_scan_request_reads_the_usual_invite() -> None:
    got = scan_request(INVITE, _LEG_NAMES)
    assert got is not None
    ruri, hdrs = got
    assert ruri == "sip:+13125550100@sbc.example.net;user=phone"
    assert hdrs["call-id"] == ["c1@198.51.100.7"]
    assert "max-forwards" not in hdrs and "content-length" not in hdrs


_LINE = st.tuples(
    st.sampled_from(["Call-ID", "i", "CSEQ", "from", "F", "To", "Via", "v", "Identity", "y",
                     "P-Asserted-Identity", "Diversion", "X-Other", "Contact", "bad name",
                     " Via", "\tcont", ""]),
    st.sampled_from([":", " :", ""]),
    st.text(alphabet=" \tabc<>;=@:,\"\r\u00e9", max_size=12),
    st.sampled_from(["\r\n", "\n", "\r"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=8))
def test_scan_request_agrees_on_generated_header_blocks(
        lines: list[tuple[str, str, str, str]]) -> None:
    head = "INVITE sip:a@b SIP/2.0\r\n" + "".join(n + c + v + e for n, c, v, e in lines)
    _agrees(head.encode() + b"\r\n\r\nbody")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\"<>;=:@abc,", max_size=30))
def test_addr_uri_is_parse_name_addr_uri(value: str) -> None:
    assert addr_uri(value) == parse_name_addr(value).uri


def test_cached_passport_parts_do_not_leak_between_calls() -> None:
    import base64
    import json

    def seg(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    hdr = seg({"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://x/a.pem"})
    sig = base64.urlsafe_b64encode(b"\x01" * 64).rstrip(b"=").decode()
    tail = ";info=<https://x/a.pem>;alg=ES256;ppt=shaken"
    one = decode_identity(f"{hdr}.{seg({'attest': 'A', 'origid': 'o1'})}.{sig}{tail}")
    one.header["x5u"] = "changed by a caller"
    two = decode_identity(f"{hdr}.{seg({'attest': 'B', 'origid': 'o2'})}.{sig}{tail}")
    assert (one.attest, two.attest, two.origid) == ("A", "B", "o2")
    assert two.header["x5u"] == "https://x/a.pem" and two.x5u == "https://x/a.pem"
    assert two.info == "https://x/a.pem" and two.ppt == "shaken"


CONFIG = SipConfig(local_nets=parse_nets("192.0.2.0/24, 2001:db8:1::/48"),
                   cert_dir=FIX / "certs", tshark="never")


@pytest.mark.parametrize("name", ["calls_udp.pcap", "calls_v6_tcp.pcapng", "calls_hep.pcap",
                                  "calls.hep"])
def test_fast_invite_path_makes_the_legs_the_full_parser_makes(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = read_capture(FIX / name, source="s", config=CONFIG)
    monkeypatch.setattr(dialogs, "scan_request", lambda data, names: None)
    full = read_capture(FIX / name, source="s", config=CONFIG)
    assert fast.legs.num_rows > 0
    assert fast.legs.to_pylist() == full.legs.to_pylist()
    assert fast.rejects.drop_columns(["rejected_at"]).to_pylist() == \
        full.rejects.drop_columns(["rejected_at"]).to_pylist()
    assert fast.warnings == full.warnings


def test_torture_messages_agree_with_the_full_parser() -> None:
    if not TORTURE.is_dir():
        pytest.skip(f"realworld torture messages absent ({TORTURE})")
    files = sorted(TORTURE.rglob("*.dat"))
    assert files
    for f in files:
        _agrees(f.read_bytes())


def test_reading_restores_the_garbage_collector() -> None:
    assert gc.isenabled()
    read_capture(FIX / "calls_udp.pcap", config=CONFIG)
    assert gc.isenabled()
    gc.disable()
    try:
        read_capture(FIX / "calls_udp.pcap", config=CONFIG)
        assert not gc.isenabled()
    finally:
        gc.enable()
