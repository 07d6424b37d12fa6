"""A directory of rotating capture files (tcpdump -G/-C, Homer archives), read incrementally.

Each run reads what is new since the last one, and remembers nothing of its own: the store's
file records are the memory (:meth:`Store.ingested_files`):

- a file whose sha256 is already recorded is skipped;
- a file whose first ``size`` bytes hash to a recorded ``file_id`` **grew** (the capture was
  still being written): it is read on from that byte offset, frame numbers continuing;
- anything else is new and read whole.

A file's record covers the bytes up to its last *complete* record, so a capture caught in the
middle of a write (the last frame cut) is not reported as truncated: its tail is read next time.

All new files of one run go through one :class:`LegBuilder`, in name order (the order tcpdump's
rotation names them in), so a call whose INVITE is in one file and its BYE in the next is one
leg. Across runs a leg is not reopened: a BYE read in a later run than its INVITE does not set
``end_utc`` on the stored leg (the store keeps committed legs immutable). Run it after rotation
(on closed files) to avoid that.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from tracehop.errors import CaptureError
from tracehop.sip import hep, tshark
from tracehop.sip.dialogs import LegBuilder, SipConfig
from tracehop.sip.pcap import CaptureInfo
from tracehop.sip.reader import _hep_to_sink, detect_kind, fast_pass, gc_paused
from tracehop.store import FileRecord, Store


@dataclass
class DirectoryResult:
    files_seen: int = 0
    files_read: int = 0  # new files read whole
    files_resumed: int = 0  # grown files read from where the last run stopped
    files_skipped: int = 0  # unchanged since they were ingested
    messages: int = 0
    legs: int = 0
    stored: int = 0
    rejected: int = 0
    duplicates: int = 0
    version: int | None = None
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def _sha256(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    left = limit
    with path.open("rb") as fh:
        while True:
            want = 1 << 20 if left is None else min(1 << 20, left)
            if want == 0:
                break
            chunk = fh.read(want)
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


def capture_files(directory: Path, pattern: str = "*") -> list[Path]:
    """The capture files (pcap, pcapng, HEP by content, not by name) in name order."""
    out = []
    for p in sorted(directory.glob(pattern)):
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            with p.open("rb") as fh:
                head = fh.read(64)
        except OSError:
            continue
        if detect_kind(head):
            out.append(p)
    return out


def ingest_directory(directory: Path | str, store: Store | Path | str, *,
                     source: str | None = None, config: SipConfig | None = None,
                     pattern: str = "*") -> DirectoryResult:
    """Read the new part of every capture in ``directory`` and commit it to ``store``."""
    with gc_paused():
        return _ingest_directory(directory, store, source, config, pattern)


def _ingest_directory(directory: Path | str, store: Store | Path | str, source: str | None,
                      config: SipConfig | None, pattern: str) -> DirectoryResult:
    t0 = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        raise CaptureError("not a directory", path=directory,
                           hint="give the directory the capture files rotate into")
    st = store if isinstance(store, Store) else Store.open(Path(store), create=True)
    cfg = config or SipConfig.from_env()
    known = {r.file_id: r for r in st.ingested_files()}
    by_path: dict[str, list[FileRecord]] = {}
    for r in known.values():
        by_path.setdefault(str(Path(r.path).resolve()), []).append(r)
    res = DirectoryResult()
    builder = LegBuilder(str(directory), source, "pcap", cfg)
    records: list[FileRecord] = []
    for path in capture_files(directory, pattern):
        res.files_seen += 1
        size = path.stat().st_size
        full = _sha256(path)
        if full in known:
            res.files_skipped += 1
            continue
        start = 0
        for rec in sorted(by_path.get(str(path.resolve()), []), key=lambda r: -r.size):
            if rec.size < size and _sha256(path, rec.size) == rec.file_id:
                start = rec.size  # it grew: go on from the end of what was read
                break
        with path.open("rb") as fh:
            kind = detect_kind(fh.read(64))
        builder.source_file = str(path)
        builder.format = kind or "pcap"
        before = (builder.messages, len(builder.legs), len(builder.rejects))
        end = size
        if kind in ("pcap", "pcapng"):
            info = CaptureInfo()
            foreign: list[int] = []
            problems: list[tuple[int | None, str]] = []
            fast_pass(path, builder.add, info, foreign, problems, start)
            end = info.end_offset or size
            for frame, reason in problems:
                if reason.startswith("truncated capture") and end < size:
                    continue  # still being written: the rest is read next time
                builder.reject(frame, reason)
            if foreign and cfg.tshark != "never" and tshark.available():
                for m in tshark.iter_messages(path, frames=foreign, warnings=res.warnings):
                    builder.add(*m)
            elif foreign:
                res.warnings.append(f"{path}: {len(foreign)} frames need tshark (not used)")
        elif kind == "hep" and start == 0:
            problems = []
            for n, pkt in hep.iter_hep_file(path, problems):
                _hep_to_sink(pkt, n, pkt.ts_us or 0, builder.add)
            for frame, reason in problems:
                builder.reject(frame, reason)
        elif kind == "hep":
            res.warnings.append(f"{path}: a raw HEP file that grew is read again whole")
            continue
        elif kind == "other" and start == 0 and tshark.available():
            for m in tshark.iter_messages(path, warnings=res.warnings):  # NetMon, snoop
                builder.add(*m)
        else:
            res.warnings.append(f"{path}: needs tshark, which is not installed: skipped")
            continue
        if start and end <= start:
            res.files_skipped += 1  # grew by less than one whole record: nothing new yet
            continue
        res.files_resumed += bool(start)
        res.files_read += not start
        read = (len(builder.legs) - before[1]) + (len(builder.rejects) - before[2])
        fid = full if end == size else _sha256(path, end)
        records.append(FileRecord(file_id=fid, path=str(path), size=end, rows_read=read,
                                  format=kind, source=source))
    legs, rejects = builder.finish()
    res.messages = builder.messages
    res.legs = legs.num_rows
    res.warnings.extend(builder.warnings)
    if records:
        cr = st.commit(legs, rejects, records)
        res.stored, res.duplicates, res.rejected = cr.stored, cr.duplicates, cr.rejected
        res.version = cr.version
    res.elapsed_s = time.perf_counter() - t0
    return res
