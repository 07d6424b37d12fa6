"""SIP captures: what a provider's capture host (tcpdump on the SBC's interface) records.

A classic libpcap file (pcap-savefile(5): magic ``a1b2c3d4``, version 2.4, microsecond
timestamps, LINKTYPE_ETHERNET), each frame Ethernet II / IPv4 (RFC 791, header checksum set) /
UDP (RFC 768, checksum 0 = not computed, as allowed over IPv4) carrying one SIP message
(RFC 3261). Timestamps are the capture host's clock, i.e. the provider's skewed clock, in UTC.

Per call the SBC (a B2BUA) sees two dialogs:

* **inbound**, from the upstream peer's signalling address to ours: INVITE (with SDP), 100
  Trying, 180 Ringing, then either 200 OK, ACK, and at hang-up BYE and its 200 OK, or (never
  answered) CANCEL, 200 OK, 487 Request Terminated and the ACK of the 487 (RFC 3261 §9, §17.1.1.3);
* **outbound**, the same exchange from our address to the next hop, with a new Call-ID: the
  capture reader classes it outbound when our address is given as a local net.

A call that an originating provider or a gateway signed carries an ``Identity`` header (RFC 8224)
with a SHAKEN PASSporT (:mod:`tracehop.sim.stir`); the provider that signs adds it on its egress
and downstream hops pass it on unchanged. The certificates the capture's signatures need are
written beside the records, in ``<provider>/certs/`` (what the verifier fetched from the x5u
URLs), for ``tracehop.sip.configure(cert_dir=...)`` / ``TRACEHOP_CERT_DIR``.

The frame writer is deliberately ``struct`` only (as fixtures/sip/make_fixtures.py is), so a bug
in tracehop's capture reader cannot hide behind a shared helper.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from tracehop.sim.network import Provider
from tracehop.sim.stir import authority
from tracehop.sim.traffic import Leg
from tracehop.sim.writers.base import epoch_us, register, styled

SIP_PORT: Final = 5060
_SDP: Final = ("v=0\r\no=- {sess} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
               "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
_MAC: Final = b"\x00\x1b\x21\x3a\x4c\x5e\x00\x1b\x21\x3a\x4c\x5f"


def cert_dir(records_dir: Path) -> Path:
    """Where the capture writer puts the STI certificates a provider's captures need."""
    return records_dir.parent / "certs"


# --- frames -----------------------------------------------------------------------------------


def _checksum(header: bytes) -> int:
    # RFC 1071 ones' complement sum of 16-bit words
    s = sum(int(w) for w in struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    """Ethernet II + IPv4 + UDP around ``payload`` (no fragmentation: SIP over UDP stays under
    the path MTU here, RFC 3261 §18.1.1)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0,
                     ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return _MAC + b"\x08\x00" + ip + udp


def write_pcap(path: Path, frames: Sequence[tuple[int, bytes]]) -> Path:
    """A classic pcap file of ``(timestamp µs, frame)`` in the order given."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, data in frames:
        out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
        out.append(data)
    path.write_bytes(b"".join(out))
    return path


# --- SIP messages -----------------------------------------------------------------------------


def _request(method: str, ruri: str, *, src: str, branch: str, from_: str, to: str,
             call_id: str, cseq: int, extra: Sequence[str] = (), body: str = "") -> bytes:
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/UDP {src}:{SIP_PORT};branch={branch}",
             "Max-Forwards: 70", f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}", *extra]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _response(code: int, reason: str, *, via: str, from_: str, to: str, call_id: str,
              cseq: str, extra: Sequence[str] = (), body: str = "") -> bytes:
    lines = [f"SIP/2.0 {code} {reason}", f"Via: {via}", f"From: {from_}", f"To: {to}",
             f"Call-ID: {call_id}", f"CSeq: {cseq}", *extra]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def dialog(provider: Provider, leg: Leg, *, src: str, dst: str, call_id: str, tag: str,
           identity: str | None) -> list[tuple[datetime, str, str, bytes]]:
    """(true time, source, destination, message) for one INVITE dialog from ``src`` to ``dst``."""
    style = provider.number_style
    called, calling = styled(leg.called, style), styled(leg.calling, style)
    ruri = f"sip:{called}@{dst};user=phone"
    from_ = f"<sip:{calling}@{src};user=phone>;tag=f{tag}"
    to = f"<sip:{called}@{dst};user=phone>"
    to_tagged = f"{to};tag=t{tag}"
    via = f"SIP/2.0/UDP {src}:{SIP_PORT};branch=z9hG4bK{tag}1"
    extra = [f"Contact: <sip:{calling}@{src}:{SIP_PORT}>",
             f"P-Asserted-Identity: <sip:{calling}@{src};user=phone>",
             "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS"]
    if identity:
        extra.append(f"Identity: {identity}")
    sess = int(leg.setup_utc.timestamp())
    invite = _request("INVITE", ruri, src=src, branch=f"z9hG4bK{tag}1", from_=from_, to=to,
                      call_id=call_id, cseq=1, extra=extra,
                      body=_SDP.format(sess=sess, ip=src, port=20000 + sess % 10000 * 2))
    t0 = leg.setup_utc
    ms = timedelta(milliseconds=1)
    r = {"via": via, "from_": from_, "call_id": call_id}
    msgs = [(t0, src, dst, invite),
            (t0 + 20 * ms, dst, src, _response(100, "Trying", to=to, cseq="1 INVITE", **r)),
            (t0 + 600 * ms, dst, src, _response(180, "Ringing", to=to_tagged, cseq="1 INVITE",
                                                **r))]
    if leg.answer_utc is not None:
        ok = _response(200, "OK", to=to_tagged, cseq="1 INVITE",
                       extra=[f"Contact: <sip:{called}@{dst}:{SIP_PORT}>"],
                       body=_SDP.format(sess=sess + 1, ip=dst, port=30000 + sess % 10000 * 2),
                       **r)
        ack = _request("ACK", f"sip:{called}@{dst}:{SIP_PORT}", src=src,
                       branch=f"z9hG4bK{tag}2", from_=from_, to=to_tagged, call_id=call_id,
                       cseq=1)
        bye = _request("BYE", f"sip:{called}@{dst}:{SIP_PORT}", src=src,
                       branch=f"z9hG4bK{tag}3", from_=from_, to=to_tagged, call_id=call_id,
                       cseq=2)
        bye_via = f"SIP/2.0/UDP {src}:{SIP_PORT};branch=z9hG4bK{tag}3"
        msgs += [(leg.answer_utc, dst, src, ok), (leg.answer_utc + 30 * ms, src, dst, ack),
                 (leg.end_utc, src, dst, bye),
                 (leg.end_utc + 20 * ms, dst, src,
                  _response(200, "OK", via=bye_via, from_=from_, to=to_tagged, call_id=call_id,
                            cseq="2 BYE"))]
    else:
        # the caller gave up: CANCEL (same branch as the INVITE, RFC 3261 §9.1), its 200, the
        # INVITE's 487, and the ACK of the 487 (hop by hop, same branch, §17.1.1.3)
        cancel = _request("CANCEL", ruri, src=src, branch=f"z9hG4bK{tag}1", from_=from_, to=to,
                          call_id=call_id, cseq=1)
        ack = _request("ACK", ruri, src=src, branch=f"z9hG4bK{tag}1", from_=from_,
                       to=to_tagged, call_id=call_id, cseq=1)
        msgs += [(leg.end_utc, src, dst, cancel),
                 (leg.end_utc + 10 * ms, dst, src,
                  _response(200, "OK", to=to_tagged, cseq="1 CANCEL", **r)),
                 (leg.end_utc + 20 * ms, dst, src,
                  _response(487, "Request Terminated", to=to_tagged, cseq="1 INVITE", **r)),
                 (leg.end_utc + 30 * ms, src, dst, ack)]
    return msgs


@register("pcap")
def write(provider: Provider, legs: Sequence[Leg], out_dir: Path) -> list[Path]:
    ca = authority()
    messages: list[tuple[datetime, str, str, bytes]] = []
    for leg in legs:
        identity_in = identity_out = None
        pp = leg.passport
        if pp is not None:
            header = ca.signer(pp.signer, pp.spc).identity(
                attest=pp.attest, orig=leg.calling.lstrip("+"), dest=leg.called.lstrip("+"),
                iat=pp.iat, origid=pp.origid)
            identity_out = header
            # the signer adds it on its own egress: its inbound INVITE (from the customer or
            # the foreign carrier) is unsigned
            identity_in = header if pp.signer != provider.key else None
        upstream = leg.ingress.ip if leg.ingress is not None and leg.ingress.ip else "10.20.0.15"
        tag = leg.uuid.replace("-", "")[:12]
        messages += dialog(provider, leg, src=upstream, dst=provider.ip, call_id=leg.call_id,
                           tag=tag, identity=identity_in)
        if leg.egress_ip:
            messages += dialog(provider, leg, src=provider.ip, dst=leg.egress_ip,
                               call_id=f"{leg.bleg_uuid}@{provider.ip}",
                               tag=leg.bleg_uuid.replace("-", "")[:12], identity=identity_out)
    messages.sort(key=lambda m: m[0])
    frames = [(epoch_us(provider, t), udp_frame(src, dst, SIP_PORT, SIP_PORT, msg, i))
              for i, (t, src, dst, msg) in enumerate(messages)]
    ca.publish(cert_dir(out_dir))
    first = epoch_us(provider, messages[0][0]) // 1_000_000 if messages else 0
    stamp = datetime.fromtimestamp(first, UTC).strftime("%Y%m%d%H%M%S") if messages else "empty"
    return [write_pcap(out_dir / f"{provider.key}-sbc1_{stamp}.pcap", frames)]
