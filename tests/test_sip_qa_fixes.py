"""Fixes from adversarial QA of the SIP capture reader; each test builds its capture here.

1. a TCP stream captured from its middle (a long-lived trunk connection) is picked up at the
   first start line even when the tail of the cut message before it has a Via
   (``SIP/2.0/TCP``), and a start line split across the first segments is not lost;
2. a quoted display name holding '<' (``"<unknown>"``, as Asterisk writes an unknown caller
   name) does not hide the From/To/PAI URI after it;
3. a TCP segment the capture dropped no longer holds back (up to 64 segments, or for good at
   the end of the file) every message after it on that connection: the stream is read on
   after the hole once the peer ACKs the missing bytes, or at the end of the file, and the
   hole is a reject naming the frame after it;
4. a HEP3 packet in a pcap whose timestamp chunks hold 0 (not set by the agent) is dated by
   its frame, not placed in 1970;
5. rotated captures read as one (``ingest DIR``): an INVITE whose TCP segments the rotation
   cut into two files is read, and answered by the 200 OK in the second file; the same in
   one ``capture-dir`` run over the rotated files; two captures of one connection (two capture
   points) read one after the other still each give their messages;
6. hostile or fuzzed INVITEs are rejects or problems, never a crash of the whole ingest: a
   CSeq of non-ASCII "digits" ('¹', which str.isdigit() accepts and int() refuses), a
   PASSporT iat of them, a PASSporT nested ~1000 deep (RecursionError in json);
7. a pcapng packet whose 64-bit timestamp is corrupt (past the year 9999) is a reject naming
   its frame, not an OverflowError that stops the whole reading;
8. a loopback capture (every element on 127.0.0.1) no longer advises
   ``--sip-local-net 127.0.0.1/32``, which would read every INVITE as outbound;
9. a Linux cooked v2 capture (tcpdump -i any) of an 802.1Q-tagged frame is read, as v1 was;
10. SIP mirrored inside VXLAN or GENEVE (AWS VPC Traffic Mirroring, Gateway Load Balancer) is
    read with its inner addresses; it gave nothing at all, not even a warning;
11. a capture with SIP but not one INVITE (OPTIONS pings only) says so when ingested, instead
    of an empty reading without a word;
12. a capture of SIP over TLS (port 5061) says that the calls are encrypted, not just "no SIP";
13. INVITEs with a To tag on a Call-ID never seen (calls begun before the capture, or a dialer
    that tags its initial INVITEs) are named in a warning, not dropped without a word.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from pathlib import Path

from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.directory import ingest_directory
from tracehop.sip.passport import decode_identity
from tracehop.sip.reader import read_capture
from tracehop.sip.sequence import read_captures
from tracehop.sip.tcp import TcpReassembler

T0 = 1_795_000_000  # 2026-11-19T06:13:20Z
A, B = "198.51.100.7", "192.0.2.10"
NEVER = SipConfig(tshark="never")


def _invite(cid: str, branch: str, transport: str = "TCP",
            from_: str = f"<sip:+12025550111@{A}>;tag=f1", extra: str = "") -> bytes:
    return (f"INVITE sip:+13125550100@{B} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {A}:5060;branch={branch}\r\n"
            f"From: {from_}\r\nTo: <sip:+13125550100@{B}>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def _eth_ipv4(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + l4
    return b"\x00" * 12 + b"\x08\x00" + ip


def _tcp(seq: int, data: bytes, sport: int = 40000, dport: int = 5060,
         flags: int = 0x18, ack: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + data


def _udp(data: bytes, src: str = A, dst: str = B) -> bytes:
    return _eth_ipv4(src, dst, 17, struct.pack("!HHHH", 5060, 5060, 8 + len(data), 0) + data)


def _pcap(path: Path, frames: list[bytes], t0: int = T0) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", t0 + i, 0, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))
    return path


# --- 1. a TCP stream captured from its middle ----------------------------------------------

def test_mid_stream_capture_finds_the_invite_after_a_cut_message_with_a_via(
        tmp_path: Path) -> None:
    # The capture starts in the middle of a message whose remaining headers include its Via
    # ("SIP/2.0/TCP", RFC 3261 §20.42); an INVITE follows in the same segment.
    tail = (b"Via: SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bKold\r\n"
            b"Content-Length: 0\r\n\r\n")
    cap = _pcap(tmp_path / "mid.pcap",
                [_eth_ipv4(A, B, 6, _tcp(9000, tail + _invite("mid-1", "z9hG4bKm1")))])
    res = read_capture(cap, config=NEVER, workers=1)
    assert [r["call_id"] for r in res.legs.to_pylist()] == ["mid-1"]
    assert res.invites == 1


def test_mid_stream_start_line_split_across_segments_is_read() -> None:
    # The first segment ends inside the INVITE's start line: its start is kept for the next.
    inv = _invite("mid-2", "z9hG4bKm2")
    t = TcpReassembler()
    key = (b"a", 1, b"b", 2)
    first = b"a=sendrecv\r\n\r\nINV"
    assert t.feed(key, _tcp(500, first), 1, 0) == []
    got = t.feed(key, _tcp(500 + len(first), inv[3:]), 2, 0)
    assert [m for m, _, _ in got] == [inv]


# --- 2. a display name holding '<' -----------------------------------------------------------

def test_a_display_name_with_angle_brackets_keeps_the_calling_number(tmp_path: Path) -> None:
    # RFC 3261 §25.1: a display-name quoted-string may hold '<' and '>'; the URI is the
    # <...> after it, not the text inside the quotes.
    cap = _pcap(tmp_path / "disp.pcap", [
        _udp(_invite("disp-1", "z9hG4bKd1", "UDP", from_='"<unknown>" <sip:+12025550111@x>;tag=a',
                     extra='P-Asserted-Identity: "Doe \\"<J>\\"" <sip:+12025550122@x>\r\n')),
    ])
    res = read_capture(cap, config=NEVER, workers=1)
    (leg,) = res.legs.to_pylist()
    assert (leg["calling_raw"], leg["pai_raw"]) == ("+12025550111", "+12025550122")
    assert leg["called_raw"] == "+13125550100"


# --- 3. a TCP segment the capture never got ------------------------------------------------

def _ok(cid: str, branch: str) -> bytes:
    return (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP {A}:5060;branch={branch}\r\n"
            f"From: <sip:+12025550111@{A}>;tag=f1\r\nTo: <sip:+13125550100@{B}>;tag=t1\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def test_a_segment_lost_by_the_capture_does_not_lose_the_stream_after_it(
        tmp_path: Path) -> None:
    i1, i2, i3 = (_invite(f"gap-{n}", f"z9hG4bKg{n}") for n in (1, 2, 3))
    s2 = 1001 + len(i1)  # gap-2's segment is not in the capture
    s3 = s2 + len(i2)
    cap = _pcap(tmp_path / "gap.pcap", [
        _eth_ipv4(A, B, 6, _tcp(1000, b"", flags=0x02)),
        _eth_ipv4(A, B, 6, _tcp(1001, i1)),
        _eth_ipv4(A, B, 6, _tcp(s3, i3)),  # frame 3, T0 + 2
    ])
    res = read_capture(cap, config=NEVER, workers=1)
    legs = {r["call_id"]: r for r in res.legs.to_pylist()}
    assert sorted(legs) == ["gap-1", "gap-3"]
    assert legs["gap-3"]["source_record"] == 3
    assert legs["gap-3"]["start_utc"].timestamp() == T0 + 2  # its own segment's time
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 3 and "never captured" in rej["reason"]


def test_when_the_peer_acks_the_lost_bytes_the_stream_is_read_on_at_once(
        tmp_path: Path) -> None:
    # RFC 9293 §3.4: an ACK beyond the hole means TCP delivered the bytes the capture missed;
    # the INVITE after the hole is then read before its 200 OK, which answers it.
    i1, i2 = _invite("ack-1", "z9hG4bKa1"), _invite("ack-2", "z9hG4bKa2")
    s2 = 1001 + len(i1)  # ack-1's segment is not in the capture
    end = s2 + len(i2)
    cap = _pcap(tmp_path / "gap_ack.pcap", [
        _eth_ipv4(A, B, 6, _tcp(1000, b"", flags=0x02)),
        _eth_ipv4(B, A, 6, _tcp(5000, b"", 5060, 40000, flags=0x12, ack=1001)),
        _eth_ipv4(A, B, 6, _tcp(s2, i2)),
        _eth_ipv4(B, A, 6, _tcp(5001, b"", 5060, 40000, flags=0x10, ack=end)),
        _eth_ipv4(B, A, 6, _tcp(5001, _ok("ack-2", "z9hG4bKa2"), 5060, 40000, ack=end)),
    ])
    res = read_capture(cap, config=NEVER, workers=1)
    (leg,) = res.legs.to_pylist()
    assert (leg["call_id"], leg["disposition"], leg["source_record"]) == ("ack-2", "answered", 3)
    assert leg["start_utc"].timestamp() == T0 + 2
    assert leg["answer_utc"].timestamp() == T0 + 4
    assert res.rejects.num_rows == 1


# --- 4. HEP3 with its timestamp unset ---------------------------------------------------------

def _hep3(ts_s: int, sip: bytes) -> bytes:
    def chunk(t: int, v: bytes) -> bytes:
        return struct.pack("!HHH", 0, t, 6 + len(v)) + v
    body = (chunk(1, b"\x02") + chunk(2, b"\x11") + chunk(3, socket.inet_aton(A))
            + chunk(4, socket.inet_aton(B)) + chunk(7, struct.pack("!H", 5060))
            + chunk(8, struct.pack("!H", 5060)) + chunk(9, struct.pack("!I", ts_s))
            + chunk(10, struct.pack("!I", 0)) + chunk(11, b"\x01") + chunk(15, sip))
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def test_a_hep_packet_without_its_time_is_dated_by_its_frame(tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "hep0.pcap", [
        _udp(_hep3(0, _invite("hep-0", "z9hG4bKh0", "UDP")), "10.9.9.9", "10.9.9.1")])
    (leg,) = read_capture(cap, config=NEVER, workers=1).legs.to_pylist()
    assert leg["start_utc"].timestamp() == T0
    assert leg["ingress_ip"] == A  # the inner address, not the agent's


# --- 5. a TCP message cut by a capture rotation ----------------------------------------------

def _rotated(tmp_path: Path) -> tuple[Path, Path]:
    sdp = b"v=0\r\n" + b"a=sendrecv\r\n" * 150  # a 2 kB INVITE: two segments
    inv = _invite("rot-1", "z9hG4bKr1").replace(
        b"Content-Length: 0", f"Content-Length: {len(sdp)}".encode()) + sdp
    first = _pcap(tmp_path / "cap_00001.pcap", [
        _eth_ipv4(A, B, 6, _tcp(1000, b"", flags=0x02)),
        _eth_ipv4(A, B, 6, _tcp(1001, inv[:1400]))])
    second = _pcap(tmp_path / "cap_00002.pcap", [
        _eth_ipv4(A, B, 6, _tcp(2401, inv[1400:])),
        _eth_ipv4(B, A, 6, _tcp(7000, _ok("rot-1", "z9hG4bKr1"), 5060, 40000))], T0 + 10)
    return first, second


def test_an_invite_split_by_a_rotation_is_read_from_both_files(tmp_path: Path) -> None:
    one, two = read_captures(list(_rotated(tmp_path)), config=NEVER)
    assert one.legs.num_rows == 0
    (leg,) = two.legs.to_pylist()
    assert (leg["call_id"], leg["disposition"], leg["source_record"]) == ("rot-1", "answered", 1)
    assert leg["start_utc"].timestamp() == T0 + 10  # dated by the frame that completes it
    assert one.rejects.num_rows == two.rejects.num_rows == 0


def test_capture_dir_reads_an_invite_split_by_a_rotation(tmp_path: Path) -> None:
    caps = tmp_path / "caps"
    caps.mkdir()
    _rotated(caps)
    r = ingest_directory(caps, tmp_path / "store", config=NEVER)
    assert (r.files_read, r.legs_new, r.dialogs_held) == (2, 1, 1)  # answered, no BYE yet


# --- 6. hostile INVITEs --------------------------------------------------------------------

def _b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_hostile_invites_are_rejects_not_a_crash(tmp_path: Path) -> None:
    bad_cseq = _invite("uni-1", "z9hG4bKu1", "UDP").replace(
        b"CSeq: 1 INVITE", "CSeq: \u00b9 INVITE".encode())
    deep = _b64u(b'{"attest":"A","x":' + b"[" * 2000 + b"]" * 2000 + b"}")
    nested = _invite("deep-1", "z9hG4bKd1", "UDP",
                     extra=f"Identity: {_b64u(b'{}')}.{deep}.AAAA;info=<https://x/c.pem>\r\n")
    cap = _pcap(tmp_path / "hostile.pcap", [_udp(bad_cseq), _udp(nested)])
    res = read_capture(cap, config=NEVER, workers=1)
    (leg,) = res.legs.to_pylist()
    assert leg["call_id"] == "deep-1" and leg["identity_raw"]
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 1 and "CSeq" in rej["reason"]


def test_a_passport_iat_of_non_ascii_digits_is_no_time() -> None:
    claims = '{"iat": "\u00b2"}'.encode()  # a superscript two, in the JSON text as is
    jws = _b64u(b"{}") + "." + _b64u(claims) + ".AAAA"
    info = decode_identity(jws)
    assert info.iat is None


# --- 7. a corrupt pcapng timestamp -----------------------------------------------------------

def _pcapng(path: Path, packets: list[tuple[int, bytes]]) -> Path:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 1, 0, 0))]  # Ethernet, microseconds
    for ts, data in packets:
        out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data),
                                        len(data)) + data))
    path.write_bytes(b"".join(out))
    return path


def test_a_corrupt_pcapng_timestamp_is_a_reject(tmp_path: Path) -> None:
    cap = _pcapng(tmp_path / "ts.pcapng", [
        ((1 << 64) - 1, _udp(_invite("ts-bad", "z9hG4bKt1", "UDP"))),
        (T0 * 1_000_000, _udp(_invite("ts-ok", "z9hG4bKt2", "UDP")))])
    res = read_capture(cap, config=NEVER, workers=1)
    assert [r["call_id"] for r in res.legs.to_pylist()] == ["ts-ok"]
    (rej,) = res.rejects.to_pylist()
    assert rej["source_record"] == 1 and "timestamp" in rej["reason"]


# --- 8. a loopback capture --------------------------------------------------------------------

def test_a_loopback_capture_does_not_name_the_loopback_as_our_side(tmp_path: Path) -> None:
    lo = "127.0.0.1"
    inv = _invite("lo-1", "z9hG4bKl1", "UDP")
    cap = _pcap(tmp_path / "lo.pcap", [_udp(inv, lo, lo), _udp(inv.replace(
        b"z9hG4bKl1", b"z9hG4bKl2").replace(b"lo-1", b"lo-2"), lo, lo)])
    res = read_capture(cap, config=NEVER, workers=1)
    assert {r["direction"] for r in res.legs.to_pylist()} == {"inbound"}
    assert not any("--sip-local-net" in w for w in res.warnings), res.warnings


# --- 9. Linux cooked v2 with a VLAN tag -------------------------------------------------------

def test_linux_cooked_v2_with_a_vlan_tag_is_read(tmp_path: Path) -> None:
    frame = _udp(_invite("sll2-vlan", "z9hG4bKv1", "UDP"))
    ip = frame[14:]  # (the IPv4 packet of an Ethernet frame)
    sll2 = (struct.pack("!HHIHBB", 0x8100, 0, 2, 1, 0, 6) + b"\x00\x11\x22\x33\x44\x55\0\0"
            + struct.pack("!HH", 100, 0x0800) + ip)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 276),
           struct.pack("<IIII", T0, 0, len(sll2), len(sll2)) + sll2]
    cap = tmp_path / "sll2.pcap"
    cap.write_bytes(b"".join(out))
    res = read_capture(cap, config=NEVER, workers=1)
    assert [r["call_id"] for r in res.legs.to_pylist()] == ["sll2-vlan"]


def test_two_captures_of_one_tcp_connection_are_not_read_as_retransmissions(
        tmp_path: Path) -> None:
    # The second file is another tap's capture of the same connection, from earlier on: its
    # segments are older than the first file's, and must not be dropped as retransmissions.
    i1, i2 = _invite("tap-1", "z9hG4bKp1"), _invite("tap-2", "z9hG4bKp2")
    later = _pcap(tmp_path / "a_tap.pcap", [_eth_ipv4(A, B, 6, _tcp(1001 + len(i1), i2))],
                  T0 + 60)
    earlier = _pcap(tmp_path / "b_tap.pcap", [_eth_ipv4(A, B, 6, _tcp(1001, i1))])
    one, two = read_captures([later, earlier], config=NEVER)
    assert [r["call_id"] for r in one.legs.to_pylist()] == ["tap-2"]
    assert [r["call_id"] for r in two.legs.to_pylist()] == ["tap-1"]


# --- 10. cloud traffic mirroring: VXLAN, GENEVE ---------------------------------------------

def test_sip_mirrored_in_vxlan_or_geneve_is_read_with_its_inner_addresses(
        tmp_path: Path) -> None:
    inv = _udp(_invite("vx-1", "z9hG4bKx1", "UDP"))
    ok = _udp(_ok("vx-1", "z9hG4bKx1").replace(b"/TCP", b"/UDP"), B, A)
    vxlan = struct.pack("!BBHI", 0x08, 0, 0, 100 << 8)  # RFC 7348 §5: I flag, VNI 100
    geneve = struct.pack("!BBHI", 0x01, 0, 0x6558, 7 << 8) + b"\x01\x02\x03\x04"  # 1 option

    def mirrored(frame: bytes, port: int, head: bytes) -> bytes:
        body = head + frame
        return _eth_ipv4("10.0.0.5", "10.0.0.9", 17,
                         struct.pack("!HHHH", 51000, port, 8 + len(body), 0) + body)
    for port, head in ((4789, vxlan), (6081, geneve)):
        cap = _pcap(tmp_path / f"mirror{port}.pcap",
                    [mirrored(inv, port, head), mirrored(ok, port, head)])
        res = read_capture(cap, config=NEVER, workers=1)
        (leg,) = res.legs.to_pylist()
        assert (leg["call_id"], leg["ingress_ip"], leg["disposition"]) == (
            "vx-1", A, "answered"), port


# --- 11. SIP without an INVITE ---------------------------------------------------------------

def test_a_capture_of_options_pings_only_says_there_is_no_call(tmp_path: Path) -> None:
    ping = _invite("opt-1", "z9hG4bKo1", "UDP").replace(b"INVITE", b"OPTIONS")
    cap = _pcap(tmp_path / "options.pcap", [_udp(ping)])
    out = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "st"),
                                   "--json"])
    summary = json.loads(out.output)
    assert summary["read"] == 0
    assert any("not one INVITE" in w for w in summary["warnings"]), summary


# --- 12. SIP over TLS -------------------------------------------------------------------------

def test_sip_over_tls_is_named_as_encrypted(tmp_path: Path) -> None:
    hello = b"\x16\x03\x01\x00\x40" + b"\x01" * 64  # a TLS handshake record
    cap = _pcap(tmp_path / "tls.pcap", [
        _eth_ipv4(A, B, 6, _tcp(1000, b"", 40000, 5061, flags=0x02)),
        _eth_ipv4(A, B, 6, _tcp(1001, hello, 40000, 5061)),
        _eth_ipv4(B, A, 6, _tcp(5000, hello, 5061, 40000))])
    res = read_capture(cap, config=NEVER, workers=1)
    assert res.legs.num_rows == 0
    assert any("1 TCP connection on port 5061 carries SIP over TLS" in w
               for w in res.warnings), res.warnings


# --- 13. re-INVITEs of calls never seen ------------------------------------------------------

def test_reinvites_of_calls_never_seen_are_named(tmp_path: Path) -> None:
    tagged = _invite("orph-1", "z9hG4bKo1", "UDP").replace(
        f"To: <sip:+13125550100@{B}>".encode(), f"To: <sip:+13125550100@{B}>;tag=x".encode())
    reinvite = _invite("call-1", "z9hG4bKc2", "UDP").replace(
        f"To: <sip:+13125550100@{B}>".encode(), f"To: <sip:+13125550100@{B}>;tag=y".encode())
    cap = _pcap(tmp_path / "orph.pcap", [_udp(_invite("call-1", "z9hG4bKc1", "UDP")),
                                         _udp(tagged), _udp(reinvite)])
    res = read_capture(cap, config=NEVER, workers=1)
    assert [r["call_id"] for r in res.legs.to_pylist()] == ["call-1"]
    (w,) = [w for w in res.warnings if "To tag" in w]
    assert "1 INVITE with a To tag" in w and "frame 2" in w
