"""Read one capture into call legs, choosing the path per file (and per frame).

The fast path (:func:`fast_pass`) is pure Python with struct and ``bytes.find``: pcap/pcapng
frames -> link layer (:mod:`linktypes`) -> IPv4/IPv6 with reassembly (:mod:`ip`) -> UDP, or TCP
with stream reassembly (:mod:`tcp`) -> SIP, with HEP v2/v3 unwrapped wherever it appears in UDP
(any port); the per-frame decoding is :mod:`tracehop.sip.frames`. SIP is recognised by its
start line, on any port. For a big pcap/pcapng file (>= 50 MB, a core idle) a worker process
prepares the INVITEs, with the same result (:mod:`tracehop.sip.parallel`, ``path_used``
"fast-parallel").

Frames the fast path cannot open (PPPoE, MPLS, GRE/ERSPAN, IP-in-IP, SCTP, a WebSocket
upgrade, an unknown link type) are listed; if there are any, the file is read a second time with
those frames' SIP coming from tshark (:mod:`tshark`), merged in frame order, so one call whose
INVITE came one way and its responses the other still makes one leg (a file of a link type
that gives nothing either way is an error naming it: :func:`check_linktypes`). A file that is
not pcap, pcapng or HEP (e.g. NetMon ``.cap``) goes to tshark whole. ``SipConfig.tshark``: ``auto``
(default), ``never``, or ``always`` (tshark for everything but HEP, which tshark 4.0 cannot
dissect).

Speed (benchmarks/bench_sip.py, RESULTS.md): the common frame (Ethernet, IPv4 without options
or fragments, UDP) of a classic pcap is decoded straight from the file's memory map in
:func:`tracehop.sip.frames.decode_file` (other frames in
:func:`~tracehop.sip.frames.decode_frames`); an INVITE's headers are read by
:func:`tracehop.sip.message.scan_request` (only those a leg needs; anything unusual goes to the
full parser); STIR/SHAKEN is decoded once per leg in ``LegBuilder.finish``; the garbage
collector is paused for the reading (:func:`tracehop.gcpause.paused_gc`: a reading allocates
a few objects per message and keeps those of every leg until finish(); none form cycles, yet
each collection walked them all: a fifth of the time of a 1M-message capture, measured).

Problems never stop a file: a truncated capture, a corrupt header, a malformed SIP message each
become a reject row with the frame number and the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tracehop.errors import CaptureError
from tracehop.gcpause import paused_gc as gc_paused
from tracehop.sip import hep, tshark
from tracehop.sip.dialogs import LegBuilder, SipConfig
from tracehop.sip.frames import (
    Sink,
    _hep_to_sink,
    decode_file,
    end_of_file,
    hep_file_pass,
)
from tracehop.sip.ip import IpLayer
from tracehop.sip.linktypes import KNOWN_LINKTYPES, linktype_name
from tracehop.sip.parallel import parallel_pass, use_parallel
from tracehop.sip.pcap import CaptureInfo, sniff_kind
from tracehop.sip.tcp import TcpReassembler

__all__ = ["CaptureResult", "Sink", "_hep_to_sink", "detect_kind", "fast_pass", "gc_paused",
           "hep_file_pass", "read_capture"]


@dataclass
class CaptureResult:
    """Legs, rejects and the reading report of one capture file."""

    legs: pa.Table
    rejects: pa.Table
    warnings: list[str] = field(default_factory=list)
    kind: str = ""  # pcap | pcapng | hep | other
    path_used: str = "fast"  # fast | fast-parallel | fast+tshark | tshark | hep
    frames: int = 0
    messages: int = 0
    invites: int = 0
    duplicates: int = 0  # the same INVITE seen again (retransmission, HEP copy, 2nd tap)
    tshark_frames: int = 0
    elapsed_s: float = 0.0
    end_offset: int = 0  # after the last complete record: where a grown file resumes


#: Other capture file formats tshark reads (the fast path does not): Microsoft NetMon 1.x/2.x,
#: Sun snoop. They are read whole through tshark.
OTHER_CAPTURE_MAGICS: dict[bytes, str] = {b"RTSS": "NetMon 1.x", b"GMBU": "NetMon 2.x",
                                          b"snoop\x00\x00\x00": "snoop"}


def detect_kind(head: bytes) -> str | None:
    """``pcap``, ``pcapng``, ``hep`` (a raw HEP file), ``other`` (a capture format only tshark
    reads) or None (not a capture)."""
    k = sniff_kind(head)
    if k:
        return k
    if head[:4] == b"HEP3" or hep.looks_like_hep(head[:64]):
        return "hep"
    if any(head.startswith(m) for m in OTHER_CAPTURE_MAGICS):
        return "other"
    return None


def fast_pass(path: Path, sink: Sink, info: CaptureInfo, foreign: list[int],
              problems: list[tuple[int | None, str]], start_offset: int = 0,
              notes: list[str] | None = None, tcp: TcpReassembler | None = None) -> None:
    """Every SIP message the fast path can see, in capture order, into ``sink``.

    ``problems`` gets (frame, reason) for what could not be read (these become rejects);
    ``notes`` gets what was read with a caveat (these become warnings). ``tcp``: the TCP
    streams of the file before this one of a rotated capture (:mod:`tracehop.sip.sequence`),
    so that a message whose segments the rotation cut apart is still read."""
    ipl = IpLayer()
    if tcp is None:
        tcp = TcpReassembler()
    else:
        tcp.new_file()
    noted: list[tuple[int, str]] = []
    decode_file(path, info, start_offset, sink, foreign, problems, noted, ipl, tcp)
    end_of_file(info, ipl, tcp, foreign, problems, noted)
    if notes is not None:
        notes.extend(f"frame {f}: {n}" for f, n in noted)


def read_capture(path: Path | str, source: str | None = None, config: SipConfig | None = None,
                 *, fmt: str | None = None, start_offset: int = 0,
                 workers: int | None = None) -> CaptureResult:
    """Read one capture (pcap, pcapng, raw HEP, or anything tshark opens) into legs.

    ``start_offset`` resumes a pcap, pcapng or raw HEP file that grew (see
    :mod:`tracehop.sip.directory`).
    ``workers``: processes for a big pcap/pcapng file (:mod:`tracehop.sip.parallel`; None: env
    ``TRACEHOP_SIP_WORKERS`` or the CPU count; 0 or 1: one process).
    """
    with gc_paused():
        return _read_capture(path, source, config, fmt, start_offset, workers)


def capture_kind(path: Path) -> str:
    """``pcap``, ``pcapng``, ``hep`` or ``other`` (for tshark), from the first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as e:
        raise CaptureError(f"cannot read the capture: {e.strerror or e}", path=path,
                           hint="Check the path and its permissions") from e
    return detect_kind(head) or "other"


def check_linktypes(path: Path, info: CaptureInfo, messages: int, problems: int,
                    tshark_messages: int | None, warnings: list[str]) -> None:
    """Say so when frames of a link type the fast path does not read (:mod:`linktypes`) gave
    nothing: a CaptureError naming the file and the link type when nothing at all came out
    of the file (no SIP message, no reject: DESIGN §7, never a silent empty reading); else a
    warning when tshark read no SIP from those frames (``tshark_messages`` 0) or was not used
    (None)."""
    odd = sorted(info.linktypes - KNOWN_LINKTYPES)
    if not odd or (tshark_messages and messages):
        return
    what = ", ".join(linktype_name(lt) for lt in odd)
    plural = "s" if len(odd) > 1 else ""
    how = ("tshark found no SIP in those frames either" if tshark_messages is not None
           else "tshark is not installed or disabled to read them")
    if not messages and not problems:
        raise CaptureError(
            f"nothing could be ingested: the capture's link type{plural} {what} "
            f"{'are' if plural else 'is'} not one tracehop reads (Ethernet, Linux cooked, raw "
            f"IP, loopback), and {how}",
            path=path,
            hint="Capture on an interface with one of those link types (tcpdump -i any writes "
            "Linux cooked), or rewrite the frames with a known link type first (e.g. editcap "
            "-T ether for Ethernet frames saved under a user link type)")
    warnings.append(f"{path}: frames of link type{plural} {what} were not read ({how})")


def require_tshark(kind: str, path: Path) -> None:
    """Refuse, naming the file, a capture only tshark reads when tshark is missing."""
    if tshark.available() is None:
        raise CaptureError(
            "not a pcap, pcapng or HEP file, and tshark is not installed to read it"
            if kind == "other" else "tshark was asked for and is not installed",
            path=path, hint="Install tshark, or convert the file with editcap -F pcap")


def _read_capture(path: Path | str, source: str | None, config: SipConfig | None,
                  fmt: str | None, start_offset: int, workers: int | None) -> CaptureResult:
    t0 = time.perf_counter()
    path = Path(path)
    cfg = config or SipConfig.from_env()
    kind = capture_kind(path)
    name = fmt or (kind if kind != "other" else "pcap")
    builder = LegBuilder(str(path), source, name, cfg)
    problems: list[tuple[int | None, str]] = []
    res = CaptureResult(legs=pa.table({}), rejects=pa.table({}), kind=kind)
    info = CaptureInfo()
    tshark_used: int | None = None  # SIP messages tshark read from the foreign frames
    if kind == "hep":
        res.path_used = "hep"
        hinfo = CaptureInfo()
        hep_file_pass(path, builder.add, hinfo, problems, start_offset)
        res.frames, res.end_offset = hinfo.frames, hinfo.end_offset
    elif kind == "other" or cfg.tshark == "always":
        require_tshark(kind, path)
        res.path_used = "tshark"
        for m in tshark.iter_messages(path, warnings=res.warnings):
            builder.add(*m)
            res.tshark_frames += 1
    else:
        foreign: list[int] = []
        notes: list[str] = []
        if use_parallel(path, kind, workers):
            res.path_used = "fast-parallel"
            parallel_pass(path, builder, info, foreign, problems, notes, start_offset, workers)
        else:
            fast_pass(path, builder.add, info, foreign, problems, start_offset, notes)
        res.warnings.extend(f"{path}: {n}" for n in notes)
        res.frames, res.end_offset = info.frames, info.end_offset
        if foreign and cfg.tshark != "never" and tshark.available():
            # Second reading, merged in frame order with tshark's view of the foreign frames.
            res.path_used = "fast+tshark"
            merged: list[tuple[int, int, bytes, bytes, int, int, str, bytes]] = []
            fast_pass(path, lambda *a: merged.append(a), CaptureInfo(), [], [], start_offset)
            tm = list(tshark.iter_messages(path, frames=foreign, warnings=res.warnings))
            res.tshark_frames = tshark_used = len(tm)
            merged.extend(tm)
            merged.sort(key=lambda ev: ev[0])
            builder = LegBuilder(str(path), source, name, cfg, builder.certs)
            for ev in merged:
                builder.add(*ev)
        elif foreign:
            shown = ", ".join(str(f) for f in foreign[:10])
            res.warnings.append(
                f"{path}: {len(foreign)} frames use an encapsulation the fast path does not "
                f"read (SCTP, WebSocket, GRE/ERSPAN, IP-in-IP, PPPoE; frames {shown}"
                f"{'...' if len(foreign) > 10 else ''}) and tshark is "
                f"{'disabled' if cfg.tshark == 'never' else 'not installed'}: skipped")
    if kind in ("pcap", "pcapng") and cfg.tshark != "always":
        check_linktypes(path, info, builder.messages, len(problems),
                        tshark_used, res.warnings)
    for frame, reason in sorted(problems, key=lambda p: p[0] or 0):
        builder.reject(frame, reason)
    res.legs, res.rejects = builder.finish()
    res.warnings.extend(builder.warnings)
    res.messages = builder.messages
    res.invites = builder.invites
    res.duplicates = builder.duplicates
    res.elapsed_s = time.perf_counter() - t0
    return res
