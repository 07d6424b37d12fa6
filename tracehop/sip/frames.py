"""Captured frames -> SIP messages: the fast path's per-frame decoding.

pcap/pcapng frames (:mod:`tracehop.sip.pcap`) -> link layer (:mod:`linktypes`) -> IPv4/IPv6
with fragment reassembly (:mod:`ip`) -> UDP, or TCP with stream reassembly (:mod:`tcp`) -> SIP,
recognised by its start line on any port (RFC 3261 §7.1, §7.2), with HEP v2/v3 unwrapped
wherever it appears in UDP (:mod:`hep`), and the Ethernet frames inside VXLAN and GENEVE
(cloud traffic mirroring) decoded as frames. :func:`tracehop.sip.reader.fast_pass` and
:func:`tracehop.sip.parallel.parallel_pass` run it over a whole file, in frame order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from tracehop.sip import hep
from tracehop.sip.ip import FOREIGN_PROTOCOLS, IpLayer
from tracehop.sip.linktypes import FOREIGN, network_offset
from tracehop.sip.message import is_sip_start
from tracehop.sip.pcap import (
    MAX_RECORD,
    CaptureInfo,
    Frame,
    bad_record,
    iter_frames,
    open_capture,
    pcap_done,
    pcap_layout,
)
from tracehop.sip.tcp import TcpReassembler, split_messages

#: Ethernet II (IEEE 802.3 §3.2.6) + IPv4 (RFC 791 §3.1) + UDP (RFC 768) headers of the common
#: frame: ethertype, version/IHL, total length, flags/fragment offset, protocol, source,
#: destination, source port, destination port.
_COMMON: Final = struct.Struct("!12xHBxHxxHxB2x4s4sHH")

#: Where messages go: (frame, timestamp us, source, destination, source port, destination
#: port, transport, message bytes); ``LegBuilder.add``.
Sink = Callable[[int, int, bytes, bytes, int, int, str, bytes], None]


def _hep_to_sink(pkt: hep.HepPacket, frame: int, ts: int, sink: Sink) -> bool:
    """The SIP of one HEP packet into ``sink``, dated by the packet's own timestamp, else
    ``ts``. A UDP datagram is one message (RFC 3261 §18.1.1); what an agent captured from a
    stream (TCP, SCTP) may hold several, split as the TCP path splits a stream
    (:func:`tracehop.sip.tcp.split_messages`)."""
    if pkt.payload_type != 1 or not is_sip_start(pkt.payload):
        return False
    transport = {6: "tcp", 17: "udp", 132: "sctp"}.get(pkt.proto, "udp")
    # HEP3 chunks 9/10 at seconds 0 are an agent that did not set them, as in a raw HEP file
    # (hep_file_pass): the frame's own time, never a leg in 1970.
    when = pkt.ts_us if pkt.ts_us is not None and pkt.ts_us >= 1_000_000 else ts
    if pkt.proto == 17:
        sink(frame, when, pkt.src, pkt.dst, pkt.sport, pkt.dport, transport, pkt.payload)
        return True
    for msg in split_messages(pkt.payload):
        sink(frame, when, pkt.src, pkt.dst, pkt.sport, pkt.dport, transport, msg)
    return True


def hep_file_pass(path: Path, sink: Sink, info: CaptureInfo,
                  problems: list[tuple[int | None, str]], start_offset: int = 0) -> None:
    """Every SIP message of a raw HEP file (:func:`tracehop.sip.hep.iter_hep_file`) into
    ``sink``; ``info`` gets the packet count and the offset after the last complete packet.

    A packet has no other clock than its own timestamp (HEP3 chunks 9/10; HEPv1 has none): a
    SIP packet without one cannot be dated and is a problem, never a leg at the epoch."""
    for n, pkt in hep.iter_hep_file(path, problems, start_offset, info):
        if pkt.ts_us is not None and pkt.ts_us >= 1_000_000:  # (seconds 0: not set)
            _hep_to_sink(pkt, n, pkt.ts_us, sink)
        elif pkt.payload_type == 1 and is_sip_start(pkt.payload):
            problems.append((n, f"HEP packet {n} has no timestamp (HEP3 chunks 9/10 "
                                f"{'absent' if pkt.ts_us is None else 'zero'}): the SIP "
                                "message in it cannot be dated"))


def _stream_to_sink(msg: bytes, frame: int, ts: int, src: bytes, dst: bytes, sport: int,
                    dport: int, sink: Sink, problems: list[tuple[int | None, str]]) -> None:
    """One message of a TCP stream into ``sink``: SIP, or a HEP3 packet (HEP over TCP: the
    packet's own SIP and addresses)."""
    if msg[:4] == b"HEP3":
        try:
            _hep_to_sink(hep.decode(msg), frame, ts, sink)
        except hep.HepError as e:
            problems.append((frame, f"corrupt HEP packet: {e}"))
        return
    if hep.looks_like_hep(msg[:64]):
        return
    sink(frame, ts, src, dst, sport, dport, "tcp", msg)


def _late_to_sink(tcp: TcpReassembler, sink: Sink,
                  problems: list[tuple[int | None, str]]) -> None:
    """The messages :class:`TcpReassembler` completed for a flow other than the segment's."""
    for (src, sport, dst, dport), msg, frame, ts in tcp.late:
        _stream_to_sink(msg, frame, ts, src, dst, sport, dport, sink, problems)
    tcp.late.clear()


def end_of_file(info: CaptureInfo, ipl: IpLayer, tcp: TcpReassembler, foreign: list[int],
                problems: list[tuple[int | None, str]], notes: list[tuple[int, str]]) -> None:
    """What is known only once every frame was read: the reader's own problems, broken TCP
    streams, datagrams whose fragments never all came."""
    foreign.extend(tcp.websocket_frames)
    problems.extend(info.problems)
    problems.extend(tcp.problems)
    notes.extend(tcp.notes)
    if tcp.tls_flows:
        first = min(tcp.tls_flows.values())
        n = len(tcp.tls_flows)
        notes.append((first, f"{n} TCP connection{'s' if n > 1 else ''} on port 5061 "
                             f"carr{'y' if n > 1 else 'ies'} SIP over TLS: encrypted, so "
                             "the calls cannot be read (capture before the SBC's TLS, or "
                             "decrypt the capture first)"))
    # taken: the reassembler may read on into the next file of a rotated capture
    tcp.websocket_frames, tcp.problems, tcp.notes = [], [], []
    tcp.tls_flows = {}
    for f in ipl.pending_fragments():
        problems.append((f, "IP fragments of a datagram never completed (missing fragment)"))


def decode_frames(frames: Iterable[Frame], sink: Sink, foreign: list[int],
                  problems: list[tuple[int | None, str]], notes: list[tuple[int, str]],
                  ipl: IpLayer, tcp: TcpReassembler) -> None:
    """Frames -> SIP messages into ``sink``, in capture order; ``problems`` gets (frame,
    reason) for what could not be read, ``notes`` what was read with a caveat, ``foreign``
    the frames only tshark can open."""
    decode = ipl.decode
    feed = tcp.feed
    looks_hep = hep.looks_like_hep
    common = _COMMON.unpack_from
    for frame, ts, lt, data, orig in frames:
        n = len(data)
        # -- Ethernet / IPv4 (IHL 5) / UDP, unfragmented: the common frame, its headers read
        # in one struct call (what IpLayer.decode does for it, without the call and the payload
        # copies); anything else, including a corrupt total length, takes the general path
        body = None
        if n >= 42 and lt == 1:
            etype, vihl, total, frag, proto, src, dst, sport, dport = common(data)
            if etype == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF:
                end = 14 + total if total else n  # 0: TSO-offloaded capture
                if end > n:
                    end = n  # cut by the snap length; the SIP layer sees what is left
                if end >= 42 and (total == 0 or total >= 20):
                    body = data[42:end]
        if body is None:
            # -- link layer --------------------------------------------------------------------
            if lt == 1 and n > 14 and data[12] == 8 and data[13] == 0:
                kind, off = 4, 14
            else:
                kind, off = network_offset(lt, data)
                if kind == FOREIGN:
                    foreign.append(frame)
                    continue
                if kind not in (4, 6):
                    continue
            pkt = decode(data, off, kind, frame)
            if pkt is None:
                continue
            if isinstance(pkt, str):
                problems.append((frame, pkt))
                continue
            proto, src, dst, payload = pkt
            if proto == 6:
                if len(payload) < 20:
                    problems.append((frame, "corrupt TCP header: fewer than 20 bytes"))
                    continue
                sport = (payload[0] << 8) | payload[1]
                dport = (payload[2] << 8) | payload[3]
                msgs = feed((src, sport, dst, dport), payload, frame, ts)
                if tcp.late:  # the other direction's, read on after a hole its peer ACKed
                    _late_to_sink(tcp, sink, problems)
                for msg, mframe, mts in msgs:
                    _stream_to_sink(msg, mframe, mts, src, dst, sport, dport, sink, problems)
                continue
            if proto != 17:
                if proto in FOREIGN_PROTOCOLS:
                    foreign.append(frame)
                continue
            if len(payload) < 8:
                problems.append((frame, "corrupt UDP header: fewer than 8 bytes"))
                continue
            sport = (payload[0] << 8) | payload[1]
            dport = (payload[2] << 8) | payload[3]
            body = payload[8:]
        # -- a UDP payload (RFC 768): SIP, HEP, or a keep-alive --------------------------------
        if not body or (body[0] in (13, 10) and not body.strip()):
            continue  # keep-alive
        if is_sip_start(body):
            if orig > n:
                notes.append((frame, f"SIP message cut by the capture's snap length "
                                     f"({n} of {orig} bytes captured); read as far as it "
                                     "goes"))
            sink(frame, ts, src, dst, sport, dport, "udp", body)
        elif looks_hep(body[:64]):
            try:
                _hep_to_sink(hep.decode(body), frame, ts, sink)
            except hep.HepError as e:
                problems.append((frame, f"corrupt HEP packet: {e}"))
        elif dport in OVERLAY_PORTS:
            _overlay(body, dport, frame, ts, orig - n, sink, foreign, problems, notes, ipl, tcp)


#: UDP destination ports of overlays that carry whole Ethernet frames, as cloud traffic
#: mirroring delivers a capture (AWS VPC Traffic Mirroring: VXLAN; AWS Gateway Load Balancer:
#: GENEVE): VXLAN (RFC 7348 §5, IANA 4789; 8472 is the Linux kernel's old default) and
#: GENEVE (RFC 8926 §3.1, 6081).
OVERLAY_PORTS: Final = frozenset({4789, 8472, 6081})


def _overlay(body: bytes, dport: int, frame: int, ts: int, cut: int, sink: Sink,
             foreign: list[int], problems: list[tuple[int | None, str]],
             notes: list[tuple[int, str]], ipl: IpLayer, tcp: TcpReassembler) -> None:
    """The Ethernet frame inside a VXLAN or GENEVE packet, decoded as a frame of its own
    (its inner addresses are the call's; the outer ones are the mirror's)."""
    if dport == 6081:
        # GENEVE: 8-byte header, options of 4 * (first byte & 0x3F) bytes, protocol type
        # 0x6558 (Transparent Ethernet Bridging) for an Ethernet payload
        at = 8 + (body[0] & 0x3F) * 4 if body else 0
        if len(body) < at + 14 or body[2:4] != b"\x65\x58":
            return
    else:
        # VXLAN: 8-byte header whose I flag (0x08 in the first byte) says the VNI is valid
        if len(body) < 22 or not body[0] & 0x08:
            return
        at = 8
    inner = body[at:]
    decode_frames(((frame, ts, 1, inner, len(inner) + max(cut, 0)),), sink, foreign,
                  problems, notes, ipl, tcp)




def decode_file(path: Path, info: CaptureInfo, start_offset: int, sink: Sink,
                foreign: list[int], problems: list[tuple[int | None, str]],
                notes: list[tuple[int, str]], ipl: IpLayer, tcp: TcpReassembler) -> None:
    """``decode_frames(iter_frames(path, info, start_offset), ...)``, the same effect, with the
    record loop of a classic pcap fused into the frame loop.

    The common record (Ethernet, IPv4 without options or fragments, UDP, as in
    :func:`decode_frames`) is read straight from the memory map: its record header
    (draft-ietf-opsawg-pcap §5) and its frame headers are two struct calls on the map, and only
    the UDP payload is copied out, with no frame tuple, no generator step and no copy of the
    whole frame; every other record goes through :func:`decode_frames` as it would have.
    pcapng files take the general way."""
    buf, kind = opened = open_capture(path, info)
    if kind != "pcap":
        decode_frames(iter_frames(path, info, start_offset, opened), sink, foreign, problems,
                      notes, ipl, tcp)
        drain_streams(tcp, sink, problems)
        return
    layout = pcap_layout(buf, info, start_offset)
    if layout is None:
        return
    rec, div, rec_len, lt, pos, n = layout
    unpack = rec.unpack_from
    common = _COMMON.unpack_from
    end = len(buf)
    stopped = False
    ether = lt == 1
    while pos + 16 <= end:
        sec, frac, incl, orig = unpack(buf, pos)
        n += 1
        data_at = pos + rec_len
        if incl > MAX_RECORD or data_at + incl > end:
            info.problems.append((n, bad_record(n, incl, data_at, end) or ""))
            stopped = True
            break
        pos = data_at + incl
        ts = sec * 1_000_000 + (frac // div if div else frac)
        if ether and incl >= 42:
            etype, vihl, total, frag, proto, src, dst, sport, dport = common(buf, data_at)
            if etype == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF and (
                    total == 0 or total >= 20):
                stop = data_at + 14 + total if total else pos  # 0: TSO-offloaded capture
                if stop > pos:
                    stop = pos  # cut by the snap length; the SIP layer sees what is left
                if stop >= data_at + 42:
                    body = buf[data_at + 42:stop]
                    # -- a UDP payload (RFC 768): SIP, or the rarer cases below
                    if body[:8] == b"SIP/2.0 " or (is_sip_start(body) if body else False):
                        if orig > incl:
                            notes.append((n, f"SIP message cut by the capture's snap length "
                                             f"({incl} of {orig} bytes captured); read as far "
                                             "as it goes"))
                        sink(n, ts, src, dst, sport, dport, "udp", body)
                        continue
                    if dport in OVERLAY_PORTS:  # cloud traffic mirroring: VXLAN, GENEVE
                        _overlay(body, dport, n, ts, orig - incl, sink, foreign, problems,
                                 notes, ipl, tcp)
                        continue
                    _other_udp(body, n, ts, src, dst, sport, dport, sink, problems)
                    continue
        decode_frames(((n, ts, lt, buf[data_at:pos], orig),), sink, foreign, problems, notes,
                      ipl, tcp)
    pcap_done(info, pos, end, n, stopped)
    drain_streams(tcp, sink, problems)


def drain_streams(tcp: TcpReassembler, sink: Sink,
                  problems: list[tuple[int | None, str]]) -> None:
    """At the end of the file, the TCP messages still held behind a hole (a segment the
    capture never got, and no ACK seen for it) into ``sink``: late, but never lost."""
    tcp.late.extend(tcp.drain())
    _late_to_sink(tcp, sink, problems)


def _other_udp(body: bytes, frame: int, ts: int, src: bytes, dst: bytes, sport: int,
               dport: int, sink: Sink, problems: list[tuple[int | None, str]]) -> None:
    """A UDP payload that does not start a SIP message: a keep-alive, HEP, or not ours."""
    if not body or (body[0] in (13, 10) and not body.strip()):
        return  # keep-alive
    if hep.looks_like_hep(body[:64]):
        try:
            _hep_to_sink(hep.decode(body), frame, ts, sink)
        except hep.HepError as e:
            problems.append((frame, f"corrupt HEP packet: {e}"))
