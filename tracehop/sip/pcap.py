"""Classic pcap and pcapng readers: frames out of a capture file, streaming, with struct only.

Classic pcap follows the libpcap file format (draft-ietf-opsawg-pcap): a 24-byte global header
whose magic gives the byte order and the timestamp unit (0xa1b2c3d4 microseconds, 0xa1b23c4d
nanoseconds; 0xa1b2cd34 is Kuznetzov's "modified" pcap with 8 more bytes per record), then
16-byte record headers. pcapng follows draft-ietf-opsawg-pcapng: Section Header Blocks (which set
the byte order), Interface Description Blocks (link type, ``if_tsresol`` option 9, ``if_tsoffset``
option 14: seconds added to every timestamp of that interface), and packets in
Enhanced (6), Simple (3) and obsolete Packet (2) blocks.

The file is memory-mapped, so a 1 GB capture costs no reading up front. A damaged file never
raises in the middle: the reader reports the problem with the frame number through ``problems``
and stops (a record header that points past the end of the file leaves nothing trustworthy after
it). Frames are numbered from 1, as Wireshark numbers them, so a reject's frame can be opened there.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tracehop.errors import CaptureError, UnreadableFileError

#: One frame: (frame number from 1, timestamp in integer microseconds since the epoch, link
#: type, captured bytes, original length on the wire). A plain tuple: this is the hot loop.
Frame = tuple[int, int, int, bytes, int]

PCAP_MAGICS: dict[bytes, tuple[str, int, int]] = {
    # magic bytes as they lie in the file -> (struct byte order, ticks per second, record header)
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1_000_000, 24),  # Kuznetzov modified pcap
    b"\xa1\xb2\xcd\x34": (">", 1_000_000, 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

#: No sane capture has a record this large (tcpdump's maximum snaplen is 256 KiB); a bigger
#: length means the record header itself is corrupt.
MAX_RECORD = 1 << 20
#: The last microsecond a timestamp column holds (9999-12-31T23:59:59.999999Z): a pcapng
#: timestamp is 64 bits (draft-ietf-opsawg-pcapng §4.3), and a corrupt one past this stopped
#: the whole reading where the legs became columns.
MAX_TS_US = 253_402_300_799_999_999


@dataclass
class CaptureInfo:
    """What the reader learnt about the file, and what went wrong, frame by frame."""

    kind: str = ""  # "pcap" | "pcapng"
    linktypes: set[int] = field(default_factory=set)
    frames: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    end_offset: int = 0  # byte offset just after the last complete record read


def sniff_kind(head: bytes) -> str | None:
    """``"pcap"``, ``"pcapng"`` or None, from the first four bytes."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_SHB:
        return "pcapng"
    return None


def _open_map(path: Path) -> mmap.mmap | bytes:
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            if size == 0:
                raise UnreadableFileError("the capture file is empty", path=path,
                                          hint="Check that the capture was written completely")
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise UnreadableFileError(f"cannot read the capture: {e.strerror or e}", path=path,
                                  hint="Check the path and its permissions") from e


def open_capture(path: Path, info: CaptureInfo) -> tuple[mmap.mmap | bytes, str]:
    """The file memory-mapped, and its kind (``pcap`` or ``pcapng``, also set on ``info``);
    CaptureError for anything else."""
    buf = _open_map(path)
    kind = sniff_kind(bytes(buf[:4]))
    if kind is None:
        raise CaptureError(
            "not a pcap or pcapng capture (unknown magic number "
            f"{bytes(buf[:4]).hex()})",
            path=path,
            hint="Give a pcap/pcapng file, or a HEP file, or let tshark read it (--format name)",
        )
    info.kind = kind
    return buf, kind


def iter_frames(path: Path, info: CaptureInfo, start_offset: int = 0,
                opened: tuple[mmap.mmap | bytes, str] | None = None) -> Iterator[Frame]:
    """Yield every frame of a pcap or pcapng file; problems go to ``info.problems``.

    ``start_offset`` resumes a file that grew since it was last read: frames stored before
    that byte offset (a record boundary :attr:`CaptureInfo.end_offset` reported earlier) are
    walked over, not yielded, so frame numbers stay those of the whole file and pcapng
    interface descriptions before the offset are still known. ``opened``: what
    :func:`open_capture` returned, when the caller opened the file already.
    """
    buf, kind = opened or open_capture(path, info)
    if kind == "pcap":
        yield from _iter_pcap(buf, info, start_offset)
    else:
        yield from _iter_pcapng(buf, info, start_offset)


#: Where a classic pcap's records start, and how they are read: (record header struct, the
#: divisor that turns its sub-second field into µs (0: already µs), record header length, link
#: type, byte offset of the first record to read, frames before it).
PcapLayout = tuple[struct.Struct, int, int, int, int, int]


def pcap_layout(buf: mmap.mmap | bytes, info: CaptureInfo,
                start_offset: int) -> PcapLayout | None:
    """The global header of a classic pcap (draft-ietf-opsawg-pcap §4) and the record to start
    at (``start_offset`` walked over, frames counted); None (a problem recorded) when the file
    is too short to hold one."""
    if len(buf) < 24:
        info.problems.append((None, "truncated pcap global header (file shorter than 24 bytes)"))
        return None
    order, ticks, rec_len = PCAP_MAGICS[bytes(buf[:4])]
    linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0x0FFFFFFF  # high bits: FCS info
    info.linktypes.add(linktype)
    rec = struct.Struct(order + "IIII")
    unpack = rec.unpack_from
    div = ticks // 1_000_000 if ticks > 1_000_000 else 0
    pos = 24
    end = len(buf)
    n = 0
    while pos < start_offset and pos + 16 <= end:  # resuming: count the frames already read
        incl = unpack(buf, pos)[2]
        if pos + rec_len + incl > start_offset:
            break
        pos += rec_len + incl
        n += 1
    return rec, div, rec_len, linktype, pos, n


def bad_record(n: int, incl: int, data_at: int, end: int) -> str | None:
    """Why record ``n`` (captured length ``incl``, data at byte ``data_at`` of ``end``) cannot
    be read; nothing after it can be trusted either. None: it can."""
    if incl > MAX_RECORD:
        return (f"corrupt pcap record header: captured length {incl} is impossible; the rest "
                "of the file is skipped")
    if data_at + incl > end:
        return (f"truncated capture: frame {n} needs {incl} bytes, only "
                f"{max(end - data_at, 0)} are in the file")
    return None


def pcap_done(info: CaptureInfo, pos: int, end: int, n: int, stopped: bool) -> None:
    """Book the end of a classic pcap reading: ``pos`` after the last complete record, ``n``
    frames; stray bytes after the last record (not ``stopped`` by a bad one) are a problem."""
    if not stopped and pos < end:
        n += 1
        info.problems.append((n, f"truncated capture: {end - pos} stray bytes after the "
                                 "last complete frame"))
    info.frames = n
    info.end_offset = pos


def _iter_pcap(buf: mmap.mmap | bytes, info: CaptureInfo, start_offset: int) -> Iterator[Frame]:
    layout = pcap_layout(buf, info, start_offset)
    if layout is None:
        return
    rec, div, rec_len, linktype, pos, n = layout
    unpack = rec.unpack_from
    end = len(buf)
    stopped = False
    while pos + 16 <= end:
        sec, frac, incl, orig = unpack(buf, pos)
        n += 1
        data_at = pos + rec_len
        if incl > MAX_RECORD or data_at + incl > end:
            info.problems.append((n, bad_record(n, incl, data_at, end) or ""))
            stopped = True
            break
        ts = sec * 1_000_000 + (frac // div if div else frac)
        yield (n, ts, linktype, buf[data_at:data_at + incl], orig)
        pos = data_at + incl
    pcap_done(info, pos, end, n, stopped)


def first_frame_time(path: Path) -> int | None:
    """The capture time (µs) of the first frame of a pcap or pcapng file; None for a file
    that has none or cannot be read (its reading reports why)."""
    info = CaptureInfo()
    try:
        for frame in iter_frames(path, info):
            return frame[1]
    except (CaptureError, UnreadableFileError, OSError, ValueError, struct.error):
        return None
    return None


def written_order(paths: list[Path]) -> list[int]:
    """The indices of ``paths`` (one rotated capture, in name order) in the order the files
    were written: by the time of their first frame, name order for equal times.

    A ring buffer (``tcpdump -C 100 -W 20 -w cap.pcap``, dumpcap ``-b files:20``) that has
    wrapped writes its newest packets into the first name again (``cap.pcap00`` after
    ``cap.pcap19``): read in name order, a call whose INVITE is in the last name and whose
    200 OK and BYE are in the first has its answer read before its INVITE (unanswered, no
    duration; a TCP message cut at the wrap is lost). When a file has no first frame time
    (a HEP file, one tshark reads, an unreadable one), name order is kept for all."""
    times = [first_frame_time(p) if sniff_kind(_head(p)) else None for p in paths]
    if any(t is None for t in times):
        return list(range(len(paths)))
    return sorted(range(len(paths)), key=lambda i: (times[i], i))


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(4)
    except OSError:
        return b""


def _tsresol(value: int) -> int:
    """pcapng ``if_tsresol``: ticks per second (high bit: power of two, else of ten)."""
    if value & 0x80:
        return 1 << (value & 0x7F)
    return int(10 ** (value & 0x7F))


def _iter_pcapng(buf: mmap.mmap | bytes, info: CaptureInfo,
                 start_offset: int) -> Iterator[Frame]:
    end = len(buf)
    pos = 0
    order = "<"
    # interface id -> (link type, ticks per second, if_tsoffset in microseconds)
    ifaces: list[tuple[int, int, int]] = []
    n = 0
    while pos + 12 <= end:
        btype = bytes(buf[pos:pos + 4])
        if btype == PCAPNG_SHB:
            bom = bytes(buf[pos + 8:pos + 12])
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        (btype_i, blen) = struct.unpack_from(order + "II", buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
            info.problems.append((n + 1, f"corrupt pcapng block at byte {pos}: length {blen}; "
                                         "the rest of the file is skipped"))
            break
        if pos + blen > end:
            info.problems.append((n + 1, f"truncated capture: pcapng block at byte {pos} needs "
                                         f"{blen} bytes, only {end - pos} are in the file"))
            break
        body = pos + 8
        if btype_i == 1:  # Interface Description Block
            linktype, _res, _snap = struct.unpack_from(order + "HHI", buf, body)
            ticks = 1_000_000
            offset = 0
            opt = body + 8
            while opt + 4 <= pos + blen - 4:
                code, olen = struct.unpack_from(order + "HH", buf, opt)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    ticks = _tsresol(buf[opt + 4])
                elif code == 14 and olen == 8 and opt + 12 <= pos + blen - 4:
                    # if_tsoffset: seconds added to every timestamp of the interface
                    offset = struct.unpack_from(order + "q", buf, opt + 4)[0] * 1_000_000
                opt += 4 + ((olen + 3) & ~3)
            ifaces.append((linktype, ticks, offset))
            info.linktypes.add(linktype)
        elif btype_i in (6, 2):  # Enhanced Packet Block, obsolete Packet Block
            if btype_i == 6:
                iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", buf, body)
            else:
                iface, _drops, hi, lo, incl, orig = struct.unpack_from(order + "HHIIII", buf, body)
            n += 1
            data_at = body + 20
            if iface >= len(ifaces):
                info.problems.append((n, f"corrupt pcapng packet: interface {iface} was never "
                                         "described"))
            elif data_at + incl > pos + blen:
                info.problems.append((n, f"corrupt pcapng packet: captured length {incl} "
                                         "overruns its block"))
            elif pos >= start_offset:
                lt, ticks, offset = ifaces[iface]
                raw = (hi << 32) | lo
                ts = (raw * 1_000_000 // ticks if ticks != 1_000_000 else raw) + offset
                if ts > MAX_TS_US:  # a 64-bit timestamp field can say year 586,000
                    info.problems.append((n, f"corrupt pcapng packet: timestamp {raw} (at "
                                             f"{ticks} per second) is past the year 9999"))
                else:
                    yield (n, ts, lt, buf[data_at:data_at + incl], orig)
        elif btype_i == 3:  # Simple Packet Block: no timestamp, interface 0
            # pcapng §4.4: an SPB carries no timestamp. A call needs the time it was set up,
            # and epoch 0 would store it in 1970: the frame is reported, not read.
            n += 1
            if pos >= start_offset:
                info.problems.append((n, "pcapng Simple Packet Block: no timestamp, so no "
                                         "call time can be taken from it (write the capture "
                                         "with Enhanced Packet Blocks)"))
        pos += blen
        info.end_offset = pos
    else:
        if pos < end:
            info.problems.append((n + 1, f"truncated capture: {end - pos} stray bytes after "
                                         "the last complete block"))
    info.frames = n
