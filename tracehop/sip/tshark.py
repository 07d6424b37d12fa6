"""The fallback path: tshark dissects what the fast path does not know.

SCTP, SIP over WebSocket, GRE/ERSPAN, IP-in-IP, PPPoE, and file formats other than pcap/pcapng
(Microsoft NetMon ``.cap``, ...) go through ``tshark -T fields`` as a subprocess: about 15k
SIP messages/s here against pyshark's 500 (research/sip_captures.md §3), and the same output.

Per SIP message tshark gives the start line and the header block (``sip.msg_hdr``, with CR/LF
escaped); the message is rebuilt from them and goes through the same :class:`LegBuilder` as the
fast path. The body is not exported by tshark (``sip.msg_body`` is a text-less node), so legs
from this path keep their headers, not their SDP, in ``raw_record``.

Field rules from research/sip_captures.md §2: filter with ``sip && !icmp && !icmpv6`` (SIP quoted
in ICMP errors is not a message), and take the **last** ``ip.src`` (the innermost header of a
tunnel), never the first (that is the mirror port).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tracehop.errors import CaptureError

_SEP: Final = "\x1f"  # aggregator between several occurrences of one field in a frame
FIELDS: Final = (
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "tcp.srcport",
    "tcp.dstport",
    "sctp.srcport",
    "sctp.dstport",
    "sip.Request-Line",
    "sip.Status-Line",
    "sip.msg_hdr",
    "websocket",
)
SIP_FILTER: Final = "sip && !icmp && !icmpv6"

#: (frame, ts_us, src address bytes, dst address bytes, sport, dport, transport, message)
TsharkMessage = tuple[int, int, bytes, bytes, int, int, str, bytes]


def available() -> str | None:
    """Path of the tshark binary, or None."""
    return shutil.which("tshark")


def _unescape(s: str) -> str:
    """Undo tshark's field escaping (\\r, \\n, \\t, \\\\, \\xHH)."""
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "rnt\\":
                out.append({"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}[n])
                i += 2
                continue
            if n == "x" and i + 3 < len(s):
                try:
                    out.append(chr(int(s[i + 2:i + 4], 16)))
                    i += 4
                    continue
                except ValueError:
                    pass
        out.append(c)
        i += 1
    return "".join(out)


def _addr(text: str) -> bytes:
    import ipaddress

    last = text.split(_SEP)[-1].split(",")[-1].strip()
    if not last:
        return b""
    try:
        return ipaddress.ip_address(last).packed
    except ValueError:
        return b""


def _port(*texts: str) -> int:
    for t in texts:
        last = t.split(_SEP)[-1].split(",")[-1].strip()
        if last.isdigit():
            return int(last)
    return 0


def _ts(text: str) -> int:
    sec, _, frac = text.partition(".")
    return int(sec or 0) * 1_000_000 + int((frac + "000000")[:6])


def iter_messages(path: Path, frames: list[int] | None = None,
                  decode_as: list[str] | None = None,
                  warnings: list[str] | None = None) -> Iterator[TsharkMessage]:
    """SIP messages of ``path`` as tshark dissects them (only ``frames`` if given)."""
    exe = available()
    if exe is None:
        raise CaptureError("tshark is needed for this capture and is not installed", path=path,
                           hint="Install tshark (apt-get install tshark) or convert the capture")
    flt = SIP_FILTER
    if frames is not None:
        flt += " && frame.number in {" + ",".join(str(f) for f in sorted(set(frames))) + "}"
    # Out-of-order TCP segments are not reassembled by default (tshark 4.0): turn it on, as the
    # fast path does it too.
    cmd = [exe, "-r", str(path), "-n", "-o", "tcp.reassemble_out_of_order:TRUE",
           "-Y", flt, "-T", "fields", "-E", "occurrence=a",
           "-E", f"aggregator={_SEP}", "-E", "separator=/t", "-E", "quote=n"]
    for d in decode_as or []:
        cmd += ["-d", d]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", errors="replace")
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        cols = line.rstrip("\n").split("\t")
        if len(cols) < len(FIELDS):
            continue
        (num, ts, ip4s, ip4d, ip6s, ip6d, us, ud, tsp, tdp, ss, sd, reqs, stats, hdrs,
         ws) = cols[:16]
        src = _addr(ip4s) if ip4s else _addr(ip6s)
        dst = _addr(ip4d) if ip4d else _addr(ip6d)
        if ss:
            transport, sport, dport = "sctp", _port(ss), _port(sd)
        elif tsp:
            transport, sport, dport = ("ws" if ws else "tcp"), _port(tsp), _port(tdp)
        else:
            transport, sport, dport = "udp", _port(us), _port(ud)
        starts = [x for x in reqs.split(_SEP) if x] + [x for x in stats.split(_SEP) if x]
        heads = [h for h in hdrs.split(_SEP)] if hdrs else []
        if len(starts) > 1 and warnings is not None:
            warnings.append(f"{path}: frame {num}: {len(starts)} SIP messages in one frame via "
                            "tshark; start lines paired with headers in request-then-response "
                            "order")
        for i, start in enumerate(starts):
            head = _unescape(heads[i]) if i < len(heads) else ""
            if not head.endswith("\r\n\r\n") and not head.endswith("\n\n"):
                head = head.rstrip("\r\n") + "\r\n\r\n"
            msg = (_unescape(start) + "\r\n" + head).encode("utf-8", "surrogateescape")
            yield (int(num), _ts(ts), src, dst, sport, dport, transport, msg)
    proc.stdout.close()
    err = proc.stderr.read()
    rc = proc.wait()
    if rc != 0:
        raise CaptureError(f"tshark could not read the capture: {err.strip()[:300]}", path=path,
                           hint="Check that the file is a capture tshark can open")


def count_messages(path: Path, decode_as: list[str] | None = None) -> int:
    """How many SIP messages tshark finds (the reference count for the tests)."""
    return sum(1 for _ in iter_messages(path, decode_as=decode_as))
