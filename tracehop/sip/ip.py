"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers, with fragment reassembly.

A large INVITE (long Identity header, big SDP) over UDP is often fragmented; a reader that
looked at the first fragment alone would see a message cut in the middle of its headers. So
fragments are held per (source, destination, identification, protocol) (RFC 791 §3.2) or per
(source, destination, identification) (RFC 8200 §4.5) until the datagram is whole.

Addresses stay raw bytes here (4 or 16 bytes); turning them into text is left to the few
messages that become call legs.
"""

from __future__ import annotations

from typing import Final

#: IP protocol numbers that carry SIP through something the fast path does not unwrap:
#: IP-in-IP (4), IPv6-in-IP (41), GRE (47, ERSPAN rides on it), SCTP (132).
FOREIGN_PROTOCOLS: Final = frozenset({4, 41, 47, 132})
UDP: Final = 17
TCP: Final = 6

#: Extension headers walked over to find the upper layer (RFC 8200 §4): hop-by-hop, routing,
#: destination options, mobility.
_V6_EXT: Final = frozenset({0, 43, 60, 135})
_MAX_PENDING: Final = 4096

#: A decoded packet: (protocol, source address, destination address, payload).
Packet = tuple[int, bytes, bytes, bytes]


class _Pending:
    __slots__ = ("first_frame", "parts", "proto", "total")

    def __init__(self, first_frame: int) -> None:
        self.parts: dict[int, bytes] = {}
        self.total = -1
        self.proto = -1
        self.first_frame = first_frame

    def add(self, offset: int, chunk: bytes, last: bool) -> bytes | None:
        self.parts[offset] = chunk
        if last:
            self.total = offset + len(chunk)
        if self.total < 0:
            return None
        out = bytearray()
        for off in sorted(self.parts):
            if off > len(out):
                return None  # a hole: wait for the missing fragment
            part = self.parts[off]
            if off + len(part) > len(out):
                out += part[len(out) - off:]
        return bytes(out) if len(out) >= self.total else None


class IpLayer:
    """Decodes IP headers and reassembles fragments across frames."""

    def __init__(self) -> None:
        self._pending: dict[tuple[bytes, bytes, int, int], _Pending] = {}
        self.reassembled = 0

    def pending_fragments(self) -> list[int]:
        """First frames of incomplete datagrams that carried SIP (for the end-of-file report;
        a lost fragment of RTP or anything else is no record of ours)."""
        return sorted(p.first_frame for p in self._pending.values()
                      if any(b"SIP/2.0" in part for part in p.parts.values()))

    def _reassemble(self, key: tuple[bytes, bytes, int, int], frame: int, offset: int,
                    chunk: bytes, last: bool) -> bytes | None:
        pend = self._pending.get(key)
        if pend is None:
            if len(self._pending) >= _MAX_PENDING:  # never grow without bound on lost fragments
                self._pending.pop(next(iter(self._pending)))
            pend = self._pending[key] = _Pending(frame)
        whole = pend.add(offset, chunk, last)
        if whole is not None:
            del self._pending[key]
            self.reassembled += 1
        return whole

    def decode(self, data: bytes, off: int, version: int, frame: int) -> Packet | str | None:
        """The packet, None while a fragmented datagram is incomplete, or a corruption reason."""
        if version == 4:
            if len(data) < off + 20:
                return "corrupt IPv4 header: frame too short"
            vihl = data[off]
            ihl = (vihl & 0x0F) * 4
            if vihl >> 4 != 4 or ihl < 20:
                return f"corrupt IPv4 header: version/IHL byte 0x{vihl:02x}"
            total = (data[off + 2] << 8) | data[off + 3]
            end = off + total if total else len(data)  # 0: TSO-offloaded capture
            if total and total < ihl:
                return f"corrupt IPv4 header: total length {total} < header length {ihl}"
            if end > len(data):
                end = len(data)  # cut by the snap length; the SIP layer sees what is left
            proto = data[off + 9]
            src = data[off + 12:off + 16]
            dst = data[off + 16:off + 20]
            frag = (data[off + 6] << 8) | data[off + 7]
            payload = data[off + ihl:end]
            if frag & 0x3FFF:  # MF set or a non-zero offset
                ident = (data[off + 4] << 8) | data[off + 5]
                whole = self._reassemble((src, dst, ident, proto), frame, (frag & 0x1FFF) * 8,
                                         payload, not frag & 0x2000)
                if whole is None:
                    return None
                payload = whole
            return (proto, src, dst, payload)
        if len(data) < off + 40:
            return "corrupt IPv6 header: frame too short"
        if data[off] >> 4 != 6:
            return f"corrupt IPv6 header: version nibble {data[off] >> 4}"
        plen = (data[off + 4] << 8) | data[off + 5]
        nh = data[off + 6]
        src = data[off + 8:off + 24]
        dst = data[off + 24:off + 40]
        end = off + 40 + plen if plen else len(data)  # 0: jumbogram or offload
        end = min(end, len(data))
        p = off + 40
        while nh in _V6_EXT or nh == 51:
            if p + 2 > end:
                return "corrupt IPv6 extension header"
            step = (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
            nh = data[p]
            p += step
        if nh == 44:  # Fragment header (RFC 8200 §4.5)
            if p + 8 > end:
                return "corrupt IPv6 fragment header"
            nh = data[p]
            offflags = (data[p + 2] << 8) | data[p + 3]
            ident = int.from_bytes(data[p + 4:p + 8], "big")
            whole = self._reassemble((src, dst, ident, -1), frame, offflags & 0xFFF8,
                                     data[p + 8:end], not offflags & 1)
            if whole is None:
                return None
            return (nh, src, dst, whole)
        return (nh, src, dst, data[p:end])
