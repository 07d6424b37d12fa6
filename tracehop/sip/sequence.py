"""Several capture files read as one capture: `tracehop ingest DIR` over rotated captures.

tcpdump ``-G``/``-C``, dumpcap ring buffers and Homer exports cut one continuous capture into
files; a call whose INVITE is in one file and whose 200 OK or BYE is in the next must still be
one leg with its answer and end times. :func:`read_captures` therefore feeds every file, in the
order they were written (name order, unless a ring buffer wrapped: ``pcap.written_order``),
through one :class:`~tracehop.sip.dialogs.LegBuilder`, and then hands each file back its own
legs (a leg belongs to the file holding its INVITE, ``source_file``) and its own rejects, so
that the per-file bookkeeping of ``ingest_paths`` (file ids, counts, re-ingest detection)
is unchanged.

Each file is read as :func:`tracehop.sip.reader.read_capture` reads one: the fast path, with
tshark's view of the frames it cannot decode merged in frame order; raw HEP files directly;
other formats (NetMon, snoop) through tshark. The INVITE worker process of
:mod:`tracehop.sip.parallel` is not used here (its results are tied to one file's builder); a
single capture keeps it, through ``read_capture``.

A directory read incrementally from cron, where a call can span two *runs*, is
:mod:`tracehop.sip.directory`'s job (it keeps open dialogs in the store between runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tracehop.sip import tshark
from tracehop.sip.dialogs import LegBuilder, SipConfig
from tracehop.sip.pcap import CaptureInfo, written_order
from tracehop.sip.reader import (
    CaptureResult,
    capture_kind,
    check_linktypes,
    fast_pass,
    gc_paused,
    hep_file_pass,
    require_tshark,
)
from tracehop.sip.tcp import TcpReassembler

#: One message event as the fast path and tshark hand it to ``LegBuilder.add``.
Event = tuple[int, int, bytes, bytes, int, int, str, bytes]


def read_captures(paths: Sequence[Path | str], source: str | None = None,
                  config: SipConfig | None = None) -> list[CaptureResult]:
    """Read ``paths`` as one capture; one :class:`CaptureResult` per path, in order.

    A file that cannot be read at all raises :class:`CaptureError` naming it (as
    ``read_capture`` would), so the caller can fall back to reading the files one by one.
    """
    with gc_paused():
        return _read_captures([Path(p) for p in paths], source, config or SipConfig.from_env())


def _read_captures(paths: list[Path], source: str | None,
                   cfg: SipConfig) -> list[CaptureResult]:
    builder: LegBuilder | None = None
    # One set of TCP streams for all the files: a rotation (tcpdump -C/-G) cuts between two
    # frames, often between the segments of one message (an INVITE with an Identity header
    # and SDP is larger than one segment, RFC 3261 §18.3 frames it on the stream).
    tcp = TcpReassembler()
    results: list[CaptureResult | None] = [None] * len(paths)
    for i in written_order(paths):  # a wrapped ring buffer: not name order (pcap.py)
        path = paths[i]
        kind = capture_kind(path)
        name = kind if kind != "other" else "pcap"
        if builder is None:
            builder = LegBuilder(str(path), source, name, cfg)
        builder.source_file, builder.format = str(path), name
        res = CaptureResult(legs=pa.table({}), rejects=pa.table({}), kind=kind)
        before = builder.messages
        problems: list[tuple[int | None, str]] = []
        for event in _events(path, kind, cfg, res, problems, tcp):
            builder.add(*event)
        # Rejects carry the builder's current file: record them before moving to the next.
        for frame, reason in sorted(problems, key=lambda p: p[0] or 0):
            builder.reject(frame, reason)
        res.messages = builder.messages - before
        results[i] = res
    done = [r for r in results if r is not None]
    if builder is None:
        return done
    legs, rejects = builder.finish()
    for path, res in zip(paths, done, strict=True):
        res.legs = legs.filter(pc.equal(legs.column("source_file"), str(path)))
        res.rejects = rejects.filter(pc.equal(rejects.column("source_file"), str(path)))
    # Counts of the whole reading (duplicates, invites) and the builder's warnings go with the
    # first file: they are not per file, and the ingest summary adds them up once.
    first = done[0]
    first.warnings.extend(builder.warnings)
    first.invites = builder.invites
    first.duplicates = builder.duplicates
    return done


def _events(path: Path, kind: str, cfg: SipConfig, res: CaptureResult,
            problems: list[tuple[int | None, str]], tcp: TcpReassembler) -> list[Event]:
    """The SIP message events of one file in frame order, read the way ``read_capture`` reads
    a single file (fast path, plus tshark for the frames it cannot decode)."""
    events: list[Event] = []
    if kind == "hep":
        res.path_used = "hep"
        hinfo = CaptureInfo()
        hep_file_pass(path, lambda *a: events.append(a), hinfo, problems)
        res.frames, res.end_offset = hinfo.frames, hinfo.end_offset
        return events
    if kind == "other" or cfg.tshark == "always":
        require_tshark(kind, path)
        res.path_used = "tshark"
        events.extend(tshark.iter_messages(path, warnings=res.warnings))
        res.tshark_frames = len(events)
        return events
    info = CaptureInfo()
    foreign: list[int] = []
    notes: list[str] = []
    fast_pass(path, lambda *a: events.append(a), info, foreign, problems, 0, notes, tcp)
    res.warnings.extend(f"{path}: {n}" for n in notes)
    res.frames, res.end_offset = info.frames, info.end_offset
    tshark_used: int | None = None
    if foreign and cfg.tshark != "never" and tshark.available():
        res.path_used = "fast+tshark"
        more = list(tshark.iter_messages(path, frames=foreign, warnings=res.warnings))
        res.tshark_frames = tshark_used = len(more)
        events.extend(more)
        events.sort(key=lambda ev: ev[0])
    elif foreign:
        res.warnings.append(
            f"{path}: {len(foreign)} frames use an encapsulation the fast path does not read "
            f"and tshark is {'disabled' if cfg.tshark == 'never' else 'not installed'}: skipped")
    check_linktypes(path, info, len(events), len(problems), tshark_used, res.warnings)
    return events
