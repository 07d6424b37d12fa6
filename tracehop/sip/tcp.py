"""TCP stream reassembly and SIP message framing on streams (RFC 3261 §18.3, RFC 9293).

Per direction of each connection, segments are put back in sequence order; bytes seen before
(retransmissions, overlapping re-segmentation) are dropped, so a retransmitted INVITE is one
message, not two. On a stream, SIP messages are delimited by the blank line after the headers
plus Content-Length bytes of body (RFC 3261 §18.3: Content-Length MUST be present on streams; a
missing one is read as 0). One segment may carry several messages and one message may span many
segments; a message is dated, and numbered, by the frame that completes it, as Wireshark does.

A stream that does not start with a SIP start line (the capture began mid-connection, or it is
not SIP at all) is watched until a segment begins with one; a WebSocket upgrade is reported so
that the reader can hand the file to tshark (RFC 7118 SIP over WebSocket).

A stream that starts with ``HEP3`` is a capture agent sending HEP over TCP (heplify ``-nt
tcp``, captagent): it is framed by HEP3's own length (the 16-bit total length after the
``HEP3`` id, header included) and each whole packet is returned for the reader to unwrap, as a
HEP datagram over UDP is.
"""

from __future__ import annotations

from typing import Final

from tracehop.sip.message import content_length, is_sip_start

#: After this many buffered out-of-order segments a missing one is taken as lost (not captured)
#: and the stream skips the hole rather than hold everything behind it.
_MAX_OOO: Final = 64
#: A SIP header block longer than this without its blank line is not SIP: resynchronise.
_MAX_HEADER: Final = 256 * 1024
#: A body larger than this is a corrupt Content-Length, not a SIP message: waiting for it would
#: hold the whole rest of the stream in memory.
_MAX_BODY: Final = 4 * 1024 * 1024

FlowKey = tuple[bytes, int, bytes, int]
#: (message bytes, frame that completed it, timestamp in microseconds)
StreamMessage = tuple[bytes, int, int]


class _Flow:
    __slots__ = ("buf", "hep", "next_seq", "ooo", "sip")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.buf = bytearray()
        #: segments after a hole, by sequence number: (payload, frame, timestamp)
        self.ooo: dict[int, tuple[bytes, int, int]] = {}
        self.sip = False
        self.hep = False  # HEP3 packets, not SIP messages (HEP over TCP)


#: TLS record types that open a TLS record stream (RFC 8446 §5.1): handshake, application data
#: (a capture that began after the handshake), alert, change_cipher_spec.
_TLS_RECORDS: Final = frozenset({b"\x16", b"\x17", b"\x15", b"\x14"})

#: HEP3 packet header: the id and the total length (HEP3 spec §2: "HEP3" + uint16, bytes of
#: the whole packet, this header included).
_HEP3_HEADER: Final = 6


class TcpReassembler:
    """Feeds segments in capture order; returns complete SIP messages as they close."""

    def __init__(self) -> None:
        self._flows: dict[FlowKey, _Flow] = {}
        self.retransmissions = 0
        self.gaps = 0
        self.websocket_frames: list[int] = []
        self._ws_flows: set[FlowKey] = set()
        #: (frame, reason) for streams that broke SIP framing (bytes were skipped)
        self.problems: list[tuple[int, str]] = []
        #: (frame, note) for messages read with a caveat
        self.notes: list[tuple[int, str]] = []
        #: flows holding segments behind a hole
        self._holed: set[FlowKey] = set()
        #: TLS connections on port 5061 (SIPS), either direction's key: their first frame
        self.tls_flows: dict[FlowKey, int] = {}
        #: the flows of the file before this one (:meth:`new_file`), taken up by their
        #: first segment in this file
        self._carried: dict[FlowKey, _Flow] = {}
        #: messages of *another* flow that a segment completed (the hole before them was
        #: ACKed by the peer: never captured), as (flow, message, frame, timestamp); the
        #: caller takes them out after each :meth:`feed`, before that call's own messages
        self.late: list[tuple[FlowKey, bytes, int, int]] = []

    def feed(self, key: FlowKey, seg: bytes, frame: int, ts: int) -> list[StreamMessage]:
        """One TCP segment (header included); returns the SIP messages it completed."""
        if len(seg) < 20:
            self.problems.append((frame, "corrupt TCP header: segment shorter than 20 bytes"))
            return []
        doff = (seg[12] >> 4) * 4
        flags = seg[13]
        seq = int.from_bytes(seg[4:8], "big")
        payload = seg[doff:]
        if self._holed and flags & 0x10:
            # The peer ACKs bytes of the other direction that the capture never saw (dropped
            # by the capture, not by the network: TCP delivered them, RFC 9293 §3.4): they
            # will never come, so that direction is read on after the hole now, its messages
            # dated by their own segments, not held until more segments or the end of the file.
            rkey = (key[2], key[3], key[0], key[1])
            rev = self._flows.get(rkey) if rkey in self._holed else None
            if rev is not None and rev.next_seq is not None:
                ack = int.from_bytes(seg[8:12], "big")
                if 0 < (ack - rev.next_seq) & 0xFFFFFFFF < 0x80000000:
                    self.late.extend((rkey, *m) for m in self._skip_gap(rkey, rev))
        flow = self._flows.get(key)
        if flow is None:
            flow = self._carried.pop(key, None) if self._carried else None
            if flow is not None and flow.next_seq is not None and (
                    seq - flow.next_seq) & 0xFFFFFFFF >= 0x80000000:
                flow = None  # older bytes than the last file's: another capture of the flow
            if flow is None:
                flow = _Flow()
            self._flows[key] = flow
        if flags & 0x02:  # SYN: the stream starts at ISN + 1
            flow.next_seq = (seq + 1) & 0xFFFFFFFF
            flow.buf.clear()
            flow.ooo.clear()
            self._holed.discard(key)
            return []
        if not payload:
            return []
        if key in self._ws_flows:  # SIP over WebSocket (RFC 7118): every frame to tshark
            self.websocket_frames.append(frame)
            return []
        if not flow.sip and not flow.hep and not flow.buf:
            if payload[:4] == b"HEP3":
                flow.hep = True  # HEP over TCP (heplify -nt tcp, captagent)
            elif (5061 in (key[1], key[3]) and payload[:1] in _TLS_RECORDS
                  and payload[1:2] == b"\x03"):
                # SIP over TLS (RFC 3261 §26.2, port 5061): encrypted, nothing to read, and
                # a capture of it alone would read as "no SIP"; counted, to say why
                self.tls_flows.setdefault(min(key, (key[2], key[3], key[0], key[1])), frame)
        if flow.next_seq is None:
            flow.next_seq = seq
        diff = (seq - flow.next_seq) & 0xFFFFFFFF
        if diff >= 0x80000000:  # before the expected byte: retransmission or overlap
            behind = 0x100000000 - diff
            if behind >= len(payload):
                self.retransmissions += 1
                return []
            payload = payload[behind:]
        elif diff:  # a hole before this segment: hold it
            flow.ooo[seq] = (bytes(payload), frame, ts)
            self._holed.add(key)
            if len(flow.ooo) <= _MAX_OOO:
                return []
            return self._skip_gap(key, flow)  # the missing bytes were never captured
        if self._append(flow, payload, frame):
            self._ws_flows.add(key)
            self._ws_flows.add((key[2], key[3], key[0], key[1]))
            return []
        if flow.ooo:
            while flow.ooo:
                nxt = flow.ooo.pop(flow.next_seq, None)
                if nxt is None:
                    break
                self._append(flow, nxt[0], frame)  # an upgrade is only ever the first segment
            if not flow.ooo:
                self._holed.discard(key)
        if flow.hep:
            return self._frame_hep(flow, frame, ts)
        return self._frame(flow, frame, ts) if flow.sip else []

    def _skip_gap(self, key: FlowKey, flow: _Flow) -> list[StreamMessage]:
        """Read a flow on after the hole before its nearest held segment: bytes that were
        never captured. The message they were part of is lost (a problem naming the frame
        after the hole), the stream resynchronises at the next start line (or HEP3 packet)
        and the held segments that now follow in order are read, each message dated by the
        segment that completes it."""
        assert flow.next_seq is not None
        self.gaps += 1
        here = flow.next_seq
        nearest = min(flow.ooo, key=lambda s: (s - here) & 0xFFFFFFFF)
        payload, frame, ts = flow.ooo.pop(nearest)
        ours = flow.sip or flow.hep
        first = frame
        flow.next_seq = nearest
        flow.buf.clear()
        flow.sip = False
        out: list[StreamMessage] = []
        while True:
            self._append(flow, payload, frame)
            if flow.hep:  # (bytes before the next HEP3 packet are skipped with a problem)
                out += self._frame_hep(flow, frame, ts)
            elif flow.sip:
                out += self._frame(flow, frame, ts)
            nxt = flow.ooo.pop(flow.next_seq, None)
            if nxt is None:
                break
            payload, frame, ts = nxt
        if not flow.ooo:
            self._holed.discard(key)
        if ours or flow.sip or flow.hep:  # SIP before or after it (not someone's FTP or HTTPS)
            self.problems.append((first, f"TCP stream: {(nearest - here) & 0xFFFFFFFF} bytes "
                                         "before this segment were never captured; what they "
                                         "held is not read, the stream is read on after them"))
        return out

    def new_file(self) -> None:
        """The next file of a rotated capture follows: its streams go on from this file's
        (a message cut between two files is read), unless a flow's first segment in it is
        older than what was read of that flow (the files are not one capture's rotation but
        two captures of one connection): that flow then starts afresh in the new file."""
        # (Only the flows the last file saw: a message is never cut across an idle file.)
        self._carried = self._flows
        self._flows = {}

    def drain(self) -> list[tuple[FlowKey, bytes, int, int]]:
        """At the end of the capture: the messages still held behind holes (segments the
        capture never got), each flow read on after its holes; (flow, message, frame, time)."""
        out: list[tuple[FlowKey, bytes, int, int]] = []
        for key in list(self._holed):
            flow = self._flows.get(key)
            while flow is not None and flow.ooo:
                out.extend((key, *m) for m in self._skip_gap(key, flow))
        self._holed.clear()
        out.sort(key=lambda m: m[2])
        return out

    def _append(self, flow: _Flow, payload: bytes, frame: int) -> bool:
        """Add in-order bytes; True when they are a WebSocket upgrade (the flow is not ours)."""
        assert flow.next_seq is not None
        flow.next_seq = (flow.next_seq + len(payload)) & 0xFFFFFFFF
        if flow.hep:
            flow.buf += payload
            return False
        if not flow.sip:
            if not flow.buf and payload[:4] == b"GET " and b"websocket" in payload[:2048].lower():
                self.websocket_frames.append(frame)
                return True
            flow.buf += payload
            buf = flow.buf
            eol = buf.find(b"\n")
            if eol < 0:  # the start line is not complete yet (split in its first segment)
                if len(buf) > 8192:
                    buf.clear()
                return False
            if is_sip_start(buf):
                flow.sip = True
                return False
            # Mid-stream start (a capture of a long-lived trunk connection): resynchronise at
            # the first start line (RFC 3261 §7.1 Request-Line, §7.2 Status-Line) among the
            # lines holding "SIP/2.0". Not only the first of them: the tail of the message
            # cut by the capture's start usually has one too, in its Via (§20.42,
            # "SIP/2.0/TCP"), and a message after it in the same segment must not be lost.
            at = buf.find(b"SIP/2.0")
            while at >= 0:
                line = buf.rfind(b"\n", 0, at) + 1
                if is_sip_start(buf[line:]):
                    del buf[:line]
                    flow.sip = True
                    return False
                nxt = buf.find(b"\n", at)
                at = buf.find(b"SIP/2.0", nxt) if nxt >= 0 else -1
            # No start line yet: keep the last, unfinished line (the next segment may hold
            # the rest of a start line cut here), drop the rest.
            del buf[:buf.rfind(b"\n") + 1]
            return False
        flow.buf += payload
        return False

    def _frame(self, flow: _Flow, frame: int, ts: int) -> list[StreamMessage]:
        out: list[StreamMessage] = []
        buf = flow.buf
        pos = 0
        n = len(buf)
        while pos < n:
            while pos < n and buf[pos] in (13, 10):  # CRLF keep-alives (RFC 5626 §3.5.1)
                pos += 1
            if pos >= n:
                break
            he = buf.find(b"\r\n\r\n", pos)
            sep = 4
            if he < 0:
                he = buf.find(b"\n\n", pos)
                sep = 2
            if he < 0:
                if n - pos > _MAX_HEADER:
                    self.problems.append((frame, "TCP stream: no end of SIP headers within "
                                                 f"{_MAX_HEADER} bytes; stream skipped"))
                    flow.sip = False
                    pos = n
                break
            head = bytes(buf[pos:he])
            clen = content_length(head)
            if clen is None or clen < 0:
                self.notes.append((frame, "TCP stream: SIP message without a readable "
                                          "Content-Length; read as 0 (RFC 3261 §18.3)"))
                clen = 0
            elif clen > _MAX_BODY:
                self.problems.append((frame, f"TCP stream: Content-Length {clen} is not "
                                             "believable; the rest of the stream is skipped"))
                flow.sip = False
                pos = n
                break
            end = he + sep + clen
            if end > n:
                break
            out.append((bytes(buf[pos:end]), frame, ts))
            pos = end
        if pos:
            del buf[:pos]
        return out


    def _frame_hep(self, flow: _Flow, frame: int, ts: int) -> list[StreamMessage]:
        """The whole HEP3 packets at the head of a HEP stream, each as one message."""
        out: list[StreamMessage] = []
        buf = flow.buf
        pos, n = 0, len(buf)
        while n - pos >= _HEP3_HEADER:
            if buf[pos:pos + 4] != b"HEP3":
                at = buf.find(b"HEP3", pos + 1)
                self.problems.append((frame, "HEP over TCP: bytes that are not a HEP3 packet; "
                                             "skipped to the next packet"))
                pos = at if at >= 0 else n
                continue
            total = int.from_bytes(buf[pos + 4:pos + 6], "big")
            if total < _HEP3_HEADER:
                self.problems.append((frame, f"HEP over TCP: packet length {total} is shorter "
                                             "than its header; skipped to the next packet"))
                pos += 4
                continue
            if n - pos < total:
                break  # the rest of the packet is in the next segments
            out.append((bytes(buf[pos:pos + total]), frame, ts))
            pos += total
        if pos:
            del buf[:pos]
        return out


def split_messages(data: bytes) -> list[bytes]:
    """The SIP messages of one stream chunk that starts with a start line (what a HEP agent
    forwards of a TCP segment), delimited as on a stream: the blank line after the headers plus
    Content-Length bytes of body (RFC 3261 §18.3; a missing one read as 0).

    Bytes after a message that do not start another one (after CRLF keep-alives), or a message
    whose body runs past the end, stay with the message before them, as they were given."""
    out: list[bytes] = []
    pos = 0
    n = len(data)
    while True:
        he, sep = data.find(b"\r\n\r\n", pos), 4
        lf = data.find(b"\n\n", pos, he if he >= 0 else n)
        if lf >= 0:
            he, sep = lf, 2
        if he < 0:
            break
        clen = content_length(data[pos:he])
        end = he + sep + (clen if clen is not None and clen > 0 else 0)
        nxt = end
        while nxt < n and data[nxt] in (13, 10):  # CRLF keep-alives (RFC 5626 §3.5.1)
            nxt += 1
        if end >= n or nxt >= n or not is_sip_start(data[nxt:nxt + 8192]):
            break
        out.append(data[pos:end])
        pos = nxt
    out.append(data[pos:] if pos else data)
    return out
