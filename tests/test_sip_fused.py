"""The fused classic-pcap loop (tracehop.sip.frames.decode_file) does what the general one does.

decode_file reads the common record (Ethernet, IPv4 without options or fragments, UDP) straight
from the memory map and hands every other record to decode_frames; the general way,
``decode_frames(iter_frames(...))``, is the oracle here: the same messages to the sink (frame,
time, addresses, ports, bytes), the same problems, notes, foreign frames, frame count and end
offset, on captures written here with the cases that take the fused loop off its common path.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from tracehop.sip.frames import decode_file, decode_frames
from tracehop.sip.ip import IpLayer
from tracehop.sip.pcap import MAX_RECORD, CaptureInfo, iter_frames
from tracehop.sip.tcp import TcpReassembler

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
sys.path.insert(0, str(FIX))
import make_fixtures as mf  # noqa: E402  (the fixture writer: struct only, not tracehop)

INVITE = (b"INVITE sip:+13125550100@sbc.example.net SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\n"
          b"From: <sip:+12025550111@198.51.100.7>;tag=f1\r\n"
          b"To: <sip:+13125550100@sbc.example.net>\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")
OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\r\n"
      b"Call-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def _udp4(payload: bytes, src: str = "198.51.100.7", dst: str = "192.0.2.10") -> bytes:
    frame: bytes = mf.eth(mf.ipv4(src, dst, 17, mf.udp(5060, 5060, payload), 1)[0], False)
    return frame


def _frames() -> list[bytes]:
    """One frame of each kind the fused loop must tell apart."""
    seg = mf.udp(5060, 5060, OK)
    # IHL 6 (one word of options, NOPs): not the common frame
    ip_opts = struct.pack("!BBHHHBBH4s4s", 0x46, 0, 24 + len(seg), 2, 0, 64, 17, 0,
                          mf.ip_bytes("198.51.100.7"), mf.ip_bytes("192.0.2.10"))
    ip_opts = mf.eth(ip_opts + b"\x01" * 4 + seg, False)
    tso = bytearray(_udp4(INVITE))
    tso[16:18] = b"\x00\x00"  # IPv4 total length 0: a TSO-offloaded capture
    long_total = bytearray(_udp4(OK))
    long_total[16:18] = struct.pack("!H", 1400)  # says more than the frame holds
    short_total = bytearray(_udp4(OK))
    short_total[16:18] = struct.pack("!H", 12)  # shorter than an IPv4 header: corrupt
    frags = mf.ipv4("198.51.100.7", "192.0.2.10", 17, mf.udp(5060, 5060, INVITE), 3, mtu=200)
    hep = mf.hep3("203.0.113.5", "192.0.2.10", 5060, 5060, 1_700_000_000_000_000, OK)
    return [
        _udp4(INVITE), _udp4(OK), _udp4(OK) + b"\x00" * 6,  # Ethernet padding after IP
        _udp4(b"\r\n\r\n"), _udp4(b""), _udp4(b"not sip at all"),
        _udp4(hep), _udp4(b"HEP3\x00\x10garbage-garbage"), bytes(ip_opts), bytes(tso),
        bytes(long_total), bytes(short_total), *(mf.eth(f, False) for f in frags),
        mf.eth(mf.ipv4("198.51.100.7", "192.0.2.10", 17, mf.udp(5060, 5060, OK), 4)[0], False,
               vlan=100),
        mf.eth(mf.ipv6("2001:db8::7", "2001:db8::10", 17, mf.udp(5060, 5060, INVITE), 5)[0],
               True),
        mf.eth(mf.ipv4("198.51.100.7", "192.0.2.10", 6,
                       mf.tcp(5060, 5060, 1, 0, 0x18, OK), 6)[0], False),
        mf.eth(mf.ipv4("198.51.100.7", "192.0.2.10", 47, b"\x00" * 8, 7)[0], False),  # GRE
        b"\x00" * 30,  # a runt
    ]


def _pcap(frames: list[bytes], *, order: str = "<", nano: bool = False, linktype: int = 1,
          snap: int | None = None, tail: bytes = b"") -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
    for i, f in enumerate(frames):
        sec, frac = 1_700_000_000 + i, (i * 1_000 + 7) * (1000 if nano else 1)
        data = f if snap is None else f[:snap]
        out += struct.pack(order + "IIII", sec, frac, len(data), len(f)) + data
    return bytes(out + tail)


def _read(path: Path, fused: bool, start: int = 0) -> dict[str, Any]:
    got: list[tuple[Any, ...]] = []
    info = CaptureInfo()
    foreign: list[int] = []
    problems: list[tuple[int | None, str]] = []
    notes: list[tuple[int, str]] = []
    ipl, tcp = IpLayer(), TcpReassembler()
    if fused:
        decode_file(path, info, start, lambda *m: got.append(m), foreign, problems, notes,
                    ipl, tcp)
    else:
        decode_frames(iter_frames(path, info, start), lambda *m: got.append(m), foreign,
                      problems, notes, ipl, tcp)
    return {"messages": got, "foreign": foreign, "problems": problems, "notes": notes,
            "info": (info.kind, info.frames, info.end_offset, info.problems, info.linktypes),
            "pending": ipl.pending_fragments()}


CASES: dict[str, dict[str, Any]] = {
    "little-endian": {},
    "big-endian": {"order": ">"},
    "nanoseconds": {"nano": True},
    "snap-length cut": {"snap": 90},
    "stray bytes at the end": {"tail": b"\x01\x02\x03"},
    "truncated last record": {"tail": struct.pack("<IIII", 1, 2, 500, 500) + b"x" * 40},
    "corrupt record length": {"tail": struct.pack("<IIII", 1, 2, MAX_RECORD + 1, 9) + b"x"},
    "not Ethernet (raw IP)": {"linktype": 101},
}


@pytest.mark.parametrize("case", list(CASES))
def test_fused_loop_gives_what_the_general_loop_gives(tmp_path: Path, case: str) -> None:
    kw = CASES[case]
    frames = _frames()
    if kw.get("linktype") == 101:
        frames = [f[14:] for f in frames]  # the same packets without their Ethernet header
    path = tmp_path / "c.pcap"
    path.write_bytes(_pcap(frames, **kw))
    fused, general = _read(path, True), _read(path, False)
    assert fused == general
    assert fused["messages"], "the capture holds SIP messages"
    if case == "little-endian":  # the cases above really are in it
        assert fused["problems"] and fused["foreign"]
        assert any(m[6] == "tcp" for m in fused["messages"])
        assert any(m[2] == bytes([203, 0, 113, 5]) for m in fused["messages"])  # from HEP
    if case == "snap-length cut":
        assert fused["notes"]
    if case in ("stray bytes at the end", "truncated last record", "corrupt record length"):
        assert fused["info"][3], "the damage is reported"


def test_fused_loop_resumes_at_an_offset_like_the_general_loop(tmp_path: Path) -> None:
    path = tmp_path / "grown.pcap"
    frames = _frames()
    path.write_bytes(_pcap(frames[:5]))
    first = _read(path, True)
    path.write_bytes(_pcap(frames))  # the file grew
    start = first["info"][2]
    fused, general = _read(path, True, start), _read(path, False, start)
    assert fused == general
    assert fused["messages"][0][0] == 7  # the HEP frame, numbered in the whole file
    assert len(first["messages"]) == 3 and first["info"][1] == 5


def test_pcapng_takes_the_general_loop(tmp_path: Path) -> None:
    cap = mf.Capture()
    for i, f in enumerate(_frames()):
        cap.add(1_700_000_000_000_000 + i, f)
    path = tmp_path / "c.pcapng"
    cap.write_pcapng(path)
    fused, general = _read(path, True), _read(path, False)
    assert fused == general and fused["info"][0] == "pcapng" and fused["messages"]
