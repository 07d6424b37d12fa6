"""HEP (Homer Encapsulation Protocol) v2 and v3: SIP as a capture agent forwarded it.

HEPv3 (sipcapture "HEP3 Network Protocol Specification"): ``"HEP3"``, a 16-bit total length,
then chunks of (vendor u16, type u16, length u16 including these 6 bytes, value). Generic
chunks (vendor 0) used here: 1 IP family, 2 IP protocol, 3/4 IPv4 source/destination, 5/6 IPv6
source/destination, 7/8 source/destination port, 9/10 timestamp seconds/microseconds, 11
protocol type (1 = SIP), 12 capture agent id, 15 (0x0f) payload, 16 (0x10) zlib-compressed
payload, 17 correlation id. All integers are network byte order.

HEPv1/v2 (captagent 4): version byte, header length byte, family, protocol, source and
destination port (network order), source and destination address, and for v2 a timestamp
(seconds, microseconds) and capture id which captagent writes in the host's byte order: here
read as little-endian (x86), with a plausibility fallback to big-endian.

The addresses that matter for attribution are the **inner** ones carried in the chunks, never
the address of the HEP packet itself (that is the capture agent talking to its collector).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tracehop.errors import CaptureError, UnreadableFileError
from tracehop.sip.pcap import CaptureInfo

#: 2000-01-01 .. 2100-01-01: a HEPv2 timestamp outside this range was read in the wrong order.
_TS_MIN, _TS_MAX = 946684800, 4102444800


@dataclass(frozen=True)
class HepPacket:
    version: int
    src: bytes  # 4 or 16 raw address bytes
    dst: bytes
    sport: int
    dport: int
    proto: int  # IP protocol of the original packet: 17 UDP, 6 TCP, 132 SCTP
    ts_us: int | None
    payload_type: int  # 1 SIP; 5 RTCP (JSON); 100 log; ...
    payload: bytes
    capture_id: int | None


class HepError(ValueError):
    """A HEP packet that cannot be decoded (``reason``)."""


def looks_like_hep(p: bytes) -> bool:
    """HEP3 magic, or a plausible HEPv1/v2 header (version, length, family agree)."""
    if p[:4] == b"HEP3":
        return True
    if len(p) >= 16 and p[0] in (1, 2) and p[2] in (2, 10):
        want = {(1, 2): 16, (1, 10): 40, (2, 2): 28, (2, 10): 52}.get((p[0], p[2]))
        return p[1] == want
    return False


def decode(p: bytes) -> HepPacket:
    """One HEP packet (v3, or v1/v2) from its bytes."""
    if p[:4] == b"HEP3":
        return _decode_v3(p)
    if looks_like_hep(p):
        return _decode_v2(p)
    raise HepError("not a HEP packet")


def _decode_v3(p: bytes) -> HepPacket:
    if len(p) < 6:
        raise HepError("HEP3 packet shorter than its 6-byte header")
    total = (p[4] << 8) | p[5]
    if total > len(p) or total < 6:
        raise HepError(f"HEP3 length {total} does not fit the {len(p)} bytes present")
    src = dst = b""
    sport = dport = 0
    proto = 0
    sec: int | None = None
    usec = 0
    ptype = 1
    payload = b""
    cap: int | None = None
    pos = 6
    while pos + 6 <= total:
        _vendor, ctype, clen = struct.unpack_from("!HHH", p, pos)
        if clen < 6 or pos + clen > total:
            raise HepError(f"HEP3 chunk type {ctype} at byte {pos} has bad length {clen}")
        v = p[pos + 6:pos + clen]
        if ctype in (3, 5):
            src = v
        elif ctype in (4, 6):
            dst = v
        elif ctype == 7 and len(v) == 2:
            sport = (v[0] << 8) | v[1]
        elif ctype == 8 and len(v) == 2:
            dport = (v[0] << 8) | v[1]
        elif ctype == 2 and v:
            proto = v[0]
        elif ctype == 9 and len(v) == 4:
            sec = int.from_bytes(v, "big")
        elif ctype == 10 and len(v) == 4:
            usec = int.from_bytes(v, "big")
        elif ctype == 11 and v:
            ptype = v[0]
        elif ctype == 12 and len(v) == 4:
            cap = int.from_bytes(v, "big")
        elif ctype == 15:
            payload = v
        elif ctype == 16:
            try:
                payload = zlib.decompress(v)
            except zlib.error as e:
                raise HepError(f"HEP3 compressed payload (chunk 0x10) is not zlib: {e}") from e
        pos += clen
    ts = sec * 1_000_000 + usec if sec is not None else None
    return HepPacket(3, src, dst, sport, dport, proto, ts, ptype, payload, cap)


def _decode_v2(p: bytes) -> HepPacket:
    ver, hlen, fam, proto = p[0], p[1], p[2], p[3]
    sport, dport = struct.unpack_from("!HH", p, 4)
    alen = 4 if fam == 2 else 16
    src = p[8:8 + alen]
    dst = p[8 + alen:8 + 2 * alen]
    ts: int | None = None
    cap: int | None = None
    if ver == 2:
        at = 8 + 2 * alen
        sec, usec, cid = struct.unpack_from("<IIH", p, at)
        if not _TS_MIN <= sec <= _TS_MAX:
            sec, usec, cid = struct.unpack_from(">IIH", p, at)
        ts = sec * 1_000_000 + usec
        cap = cid
    return HepPacket(ver, src, dst, sport, dport, proto, ts, 1, p[hlen:], cap)


def iter_hep_file(path: Path, problems: list[tuple[int | None, str]],
                  start_offset: int = 0, info: CaptureInfo | None = None) -> Iterator[
        tuple[int, HepPacket]]:
    """Packets of a raw HEP file (what a collector wrote: HEP3 packets back to back).

    The "frame" number of a packet is its 1-based position in the file. A damaged packet is
    reported in ``problems`` and the reader skips to the next ``HEP3`` magic.

    ``start_offset`` resumes a file that grew since it was last read (a packet boundary
    ``info.end_offset`` reported then): the packets before it are walked over by their HEP3
    lengths, not decoded nor reported again, so packet numbers stay those of the whole file.
    ``info`` gets the number of packets and ``end_offset``: the byte after the last complete
    packet (a HEP3 packet cut at the end of the file, still being written, is left for the
    next reading; a HEPv2 packet, which has no length, runs to the end of the file).
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFileError(f"cannot read the HEP file: {e.strerror or e}", path=path,
                                  hint="Check the path and its permissions") from e
    if not data:
        raise UnreadableFileError("the HEP file is empty", path=path)
    if not looks_like_hep(data[:64]):
        raise CaptureError("not a HEP file (no HEP3 or HEPv2 header at the start)", path=path,
                           hint="Give a pcap/pcapng capture or a raw HEP file")
    pos = 0
    n = 0
    end = len(data)
    complete = end  # after the last complete packet
    while pos < end:
        n += 1
        quiet = pos < start_offset  # read before: walked over, not decoded nor reported again
        if data[pos:pos + 4] == b"HEP3" or (end - pos < 6 and b"HEP3".startswith(data[pos:])):
            total = (data[pos + 4] << 8) | data[pos + 5] if pos + 6 <= end else 6
            if total < 6:  # a length that no packet has: skip to the next one
                nxt = data.find(b"HEP3", pos + 4)
                if not quiet:
                    problems.append((n, f"corrupt HEP3 packet: length {total}; skipped to the "
                                        "next HEP3"))
                if nxt < 0:
                    break
                pos = nxt
                continue
            if pos + 6 > end or pos + total > end:
                nxt = data.find(b"HEP3", pos + 4)
                if not quiet:
                    problems.append((n, "truncated HEP3 packet at the end of the file"
                                     if pos + 6 > end else
                                     f"truncated HEP3 packet: needs {total} bytes, "
                                     f"{end - pos} left"))
                if nxt < 0:
                    complete = pos  # the rest may still be being written
                    break
                pos = nxt
                continue
            chunk = data[pos:pos + total]
        elif looks_like_hep(data[pos:pos + 64]):
            # HEPv2 has no total length: the payload runs to the next header we can see.
            nxt = data.find(b"HEP3", pos + 1)
            chunk = data[pos:nxt if nxt > 0 else end]
            total = len(chunk)
        else:
            if not quiet:
                problems.append((n, "bytes that are not a HEP packet; skipped to the next HEP3"))
            nxt = data.find(b"HEP3", pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        if not quiet:
            try:
                yield n, decode(chunk)
            except HepError as e:
                problems.append((n, str(e)))
        pos += total
    if info is not None:
        info.kind = "hep"
        info.frames = n
        info.end_offset = complete
