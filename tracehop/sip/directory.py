"""A directory of rotating capture files (tcpdump -G/-C, Homer archives), read incrementally.

(`tracehop ingest DIR` reads a directory of captures once, as one capture:
:mod:`tracehop.sip.sequence`. This module is `tracehop capture-dir`, for cron.)

Each run reads what is new since the last one. The store's file records say what was read
(:meth:`Store.ingested_files`):

- a file whose sha256 is already recorded is skipped (without hashing it again when the
  record has its path and size and the file was not modified since);
- a file whose first ``size`` bytes hash to a recorded ``file_id`` **grew** (the capture was
  still being written): it is read on from that byte offset, frame numbers continuing (a pcap
  or pcapng at its next record, a raw HEP file at its next HEP3 packet: HEP3 packets carry
  their length);
- anything else is new and read whole.

A file's record covers the bytes up to its last *complete* record, so a capture caught in the
middle of a write (the last frame cut) is not reported as truncated: its tail is read next time.

All new files of one run go through one :class:`LegBuilder`, in name order (the order tcpdump's
rotation names them in; by first frame time once a ring buffer has wrapped:
:func:`tracehop.sip.pcap.written_order`), so a call whose INVITE is in one file and its BYE in
the next is one leg. A call that spans the end of a run is carried over, not cut: a leg is
written once, complete. At the end of a run the dialogs still open (an INVITE with no final
response yet, or answered and not yet hung up: RFC 3261 §13.3.1.4, §15) are taken out of the
batch (:meth:`LegBuilder.hold_open`) and committed as state beside the legs, in the same store
commit (:mod:`tracehop.store.state`, key :func:`state_key`); the next run restores them first
(:meth:`LegBuilder.restore`), so the 200 OK, final failure or BYE it reads completes them. The
state, the legs and the file records move together: a run that crashes before its commit leaves
the previous state and file records in place, and the next run reads the same files on top of
the same dialogs, giving exactly the legs an uninterrupted run would have.

A dialog open for longer than the horizon (``horizon_s``, default 4 h, a maximum call
duration, measured in capture time from its INVITE to the latest message read, never on the
wall clock) is written as it stands, counted in ``dialogs_expired`` with a warning: a BYE lost
by the capture must not hold a leg back for ever. ``flush=True`` writes every open dialog now
(the end of a capture campaign). Two runs over the same directory at once are refused at
commit (StoreConflictError: run again).

Counts: ``legs_new`` INVITE legs were first seen in this run's files; ``legs`` were written
(``dialogs_carried + legs_new - dialogs_held``), of which ``stored`` are new to the store and
``duplicates`` were already there; a file's ``rows_read`` counts the legs whose INVITE it holds
(written or held) and its rejects. A single capture file (``tracehop ingest FILE``) has no next
run: :func:`tracehop.sip.reader.read_capture` writes every dialog it holds at the end.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pyarrow as pa

from tracehop.errors import CaptureError, ConfigError, StoreError
from tracehop.ingest.fileorder import natural_sorted
from tracehop.sip import tshark
from tracehop.sip.dialogs import DIALOG_SCHEMA, LegBuilder, SipConfig
from tracehop.sip.pcap import CaptureInfo, written_order
from tracehop.sip.reader import (
    check_linktypes,
    detect_kind,
    fast_pass,
    gc_paused,
    hep_file_pass,
)
from tracehop.sip.tcp import TcpReassembler
from tracehop.store import FileRecord, Store
from tracehop.store.records import compact_warning

DEFAULT_HORIZON_S: Final = 4 * 3600.0
#: Written into the state blob's Parquet metadata: a later tracehop that changes the layout of
#: the open-dialog table must recognise (and convert or refuse) an older one.
STATE_FORMAT: Final = "tracehop.sip.dialogs/1"


@dataclass
class DirectoryResult:
    files_seen: int = 0
    files_read: int = 0  # new files read whole
    files_resumed: int = 0  # grown files read from where the last run stopped
    files_skipped: int = 0  # unchanged since they were ingested
    messages: int = 0
    legs_new: int = 0  # INVITE legs first seen in this run's files
    legs: int = 0  # legs written: dialogs_carried + legs_new - dialogs_held
    stored: int = 0
    rejected: int = 0
    duplicates: int = 0
    dialogs_carried: int = 0  # open dialogs taken over from the last run
    dialogs_held: int = 0  # open dialogs kept for the next run (not written yet)
    dialogs_expired: int = 0  # written open: their INVITE is older than the horizon
    dialogs_flushed: int = 0  # written open because of flush=True
    version: int | None = None
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


def state_key(directory: Path, pattern: str = "*") -> str:
    """The store state key of a capture directory's open dialogs: one per directory and file
    pattern (two feeds rotating into one directory under two patterns are two readers)."""
    return f"sip.directory:{directory.resolve()}:{pattern}"


def encode_dialogs(table: pa.Table, last_ts: int) -> bytes:
    """Open dialogs (DIALOG_SCHEMA) and the capture clock -> a Parquet blob."""
    import pyarrow.parquet as pq

    meta = {b"tracehop.state": STATE_FORMAT.encode(), b"last_ts_us": str(last_ts).encode()}
    sink = pa.BufferOutputStream()
    pq.write_table(table.cast(DIALOG_SCHEMA).replace_schema_metadata(meta), sink,
                   compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def decode_dialogs(data: bytes, where: str) -> tuple[pa.Table, int]:
    """The inverse of :func:`encode_dialogs`; StoreError naming ``where`` if it is not one."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise StoreError(f"{where}: the open-dialog state is not readable Parquet ({e})") from e
    meta = table.schema.metadata or {}
    fmt = meta.get(b"tracehop.state", b"").decode()
    if fmt != STATE_FORMAT or not table.schema.remove_metadata().equals(DIALOG_SCHEMA):
        raise StoreError(
            f"{where}: the open-dialog state has format {fmt or 'unknown'!r}, this tracehop "
            f"reads {STATE_FORMAT!r}",
            hint="Run `tracehop capture-dir --flush` with the tracehop that wrote it, then "
            "upgrade",
        )
    return table, int(meta.get(b"last_ts_us", b"0"))


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


def capture_files(directory: Path, pattern: str = "*",
                  passed: list[str] | None = None) -> list[Path]:
    """The capture files (pcap, pcapng, HEP by content, not by name) in the order they were
    written: natural name order, unless a ring buffer wrapped (``pcap.written_order``).
    The other files are passed over; when ``passed`` is given, each gets a line there saying
    why (a compressed capture, an unreadable file, anything else) and what to do."""
    out = []
    for p in natural_sorted(list(directory.glob(pattern))):
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            with p.open("rb") as fh:
                head = fh.read(64)
        except OSError as e:
            if passed is not None:
                passed.append(f"{p}: cannot be read ({e.strerror}): passed over; check its "
                              "permissions")
            continue
        if detect_kind(head):
            out.append(p)
        elif passed is not None and head:
            passed.append(_why_passed(p, head))
    return [out[i] for i in written_order(out)]


def _why_passed(path: Path, head: bytes) -> str:
    """Why a file of a capture directory is not read, and the fix (a capture rotated with
    ``tcpdump -z gzip`` is compressed: every reader takes the plain file)."""
    from tracehop.ingest.detect import packed_or_wide

    if (e := packed_or_wide(head, path)) is not None:
        return f"{e}: passed over"
    return (f"{path}: not a pcap, pcapng or HEP capture: passed over (give a --pattern that "
            f"matches only the captures)")


def ingest_directory(directory: Path | str, store: Store | Path | str, *,
                     source: str | None = None, config: SipConfig | None = None,
                     pattern: str = "*", horizon_s: float = DEFAULT_HORIZON_S,
                     flush: bool = False) -> DirectoryResult:
    """Read the new part of every capture in ``directory`` and commit it to ``store``, with
    the dialogs still open held for the next run (``flush``: written now)."""
    if not horizon_s > 0:
        raise ConfigError(f"horizon must be a positive number of seconds, not {horizon_s}",
                          hint="Give the longest call to wait for, e.g. --horizon 4 (hours)")
    # `--horizon inf` (or a number too large for microseconds) means "never write a dialog
    # open": int(inf) raised OverflowError out of the command. No horizon is hold_open(None).
    micros = horizon_s * 1_000_000
    horizon_us = int(micros) if math.isfinite(micros) else None
    with gc_paused():
        return _ingest_directory(Path(directory), store, source, config, pattern,
                                 horizon_us, flush)


def _ingest_directory(directory: Path, store: Store | Path | str, source: str | None,
                      config: SipConfig | None, pattern: str, horizon_us: int | None,
                      flush: bool) -> DirectoryResult:
    t0 = time.perf_counter()
    if not directory.is_dir():
        raise CaptureError("not a directory", path=directory,
                           hint="Give the directory the capture files rotate into")
    st = store if isinstance(store, Store) else Store.open(Path(store), create=True)
    cfg = config or SipConfig.from_env()
    key = state_key(directory, pattern)
    # The state first, then the file records: if another run commits in between, the state
    # this run starts from is no longer the latest and its commit is refused (state_base).
    prior = st.state(key)
    known = {r.file_id: r for r in st.ingested_files()}
    by_path: dict[str, list[FileRecord]] = {}
    for r in known.values():
        by_path.setdefault(str(Path(r.path).resolve()), []).append(r)
    res = DirectoryResult()
    builder = LegBuilder(str(directory), source, "pcap", cfg)
    if prior is not None:
        table, last_ts = decode_dialogs(prior.data, f"{st.root} state {key!r}")
        builder.restore(table)
        builder.last_ts = last_ts
    res.dialogs_carried = builder.restored
    records: list[FileRecord] = []
    passed: list[str] = []
    captures = capture_files(directory, pattern, passed)
    # The TCP streams go on from one rotated file to the next (a message the rotation cut
    # between two segments is read), as in tracehop.sip.sequence.
    tcp = TcpReassembler()
    res.warnings.extend(passed)
    for path in captures:
        res.files_seen += 1
        stat = path.stat()
        size = stat.st_size
        recorded = by_path.get(str(path.resolve()), [])
        # A rotated file read whole before, and not written since, is not hashed again: a
        # directory of a day's rotations would otherwise be read in full by every run.
        if any(r.size == size and stat.st_mtime_ns < r.ingested_at.timestamp() * 1e9
               for r in recorded):
            res.files_skipped += 1
            continue
        full = _sha256(path)
        if full in known:
            res.files_skipped += 1
            continue
        start = 0
        for rec in sorted(recorded, key=lambda r: -r.size):
            if rec.size < size and _sha256(path, rec.size) == rec.file_id:
                start = rec.size  # it grew: go on from the end of what was read
                break
        with path.open("rb") as fh:
            kind = detect_kind(fh.read(64))
        builder.source_file = str(path)
        builder.format = kind or "pcap"
        before = (len(builder.legs), len(builder.rejects))
        end = size
        if kind in ("pcap", "pcapng"):
            info = CaptureInfo()
            foreign: list[int] = []
            problems: list[tuple[int | None, str]] = []
            notes: list[str] = []
            messages = builder.messages
            fast_pass(path, builder.add, info, foreign, problems, start, notes, tcp)
            end = info.end_offset or size
            if any(r.endswith("the rest of the file is skipped") for _, r in problems):
                # A corrupt record header ends the reading for good (its reject says so): the
                # file is read to its end. Recorded only up to the record before it, the file
                # would be read on from there by every later run, and each run with anything
                # new would store the same reject again.
                end = size
            for frame, reason in problems:
                if reason.startswith("truncated capture") and end < size:
                    continue  # still being written: the rest is read next time
                builder.reject(frame, reason)
            res.warnings.extend(f"{path}: {n}" for n in notes)
            from_tshark: int | None = None
            if foreign and cfg.tshark != "never" and tshark.available():
                from_tshark = 0
                for m in tshark.iter_messages(path, frames=foreign, warnings=res.warnings):
                    builder.add(*m)
                    from_tshark += 1
            elif foreign:
                res.warnings.append(f"{path}: {len(foreign)} frames need tshark (not used)")
            if foreign:
                try:  # a file of a link type nothing reads: said, not silently empty
                    check_linktypes(path, info, builder.messages - messages, len(problems),
                                    from_tshark, res.warnings)
                except CaptureError as e:
                    res.warnings.append(str(e))
        elif kind == "hep":
            # HEP3 packets carry their length: a grown file resumes at the packet boundary
            # where the last reading stopped, like a pcap (hep.iter_hep_file).
            info = CaptureInfo()
            problems = []
            hep_file_pass(path, builder.add, info, problems, start)
            end = info.end_offset
            for frame, reason in problems:
                if reason.startswith("truncated HEP3 packet") and end < size:
                    continue  # still being written: the rest is read next time
                builder.reject(frame, reason)
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
        new_legs = len(builder.legs) - before[0]
        res.legs_new += new_legs
        read = new_legs + (len(builder.rejects) - before[1])
        fid = full if end == size else _sha256(path, end)
        # The path recorded absolute, as `tracehop ingest` records it: a relative one was
        # looked up against the next run's working directory, so a run from another one
        # (cron starts in $HOME) missed the record and read every grown file from its start.
        records.append(FileRecord(file_id=fid, path=str(path.resolve()), size=end,
                                  rows_read=read, format=kind, source=source))
    res.messages = builder.messages
    if not records and not (flush and builder.restored):
        res.dialogs_held = builder.restored  # nothing new: the store stays as it is
        res.elapsed_s = time.perf_counter() - t0
        return res
    if flush:
        res.dialogs_flushed = builder.open_dialogs()
        if res.dialogs_flushed:
            res.warnings.append(f"{res.dialogs_flushed} open dialogs written as they stood "
                                "(flush): no final response or no BYE seen yet")
        blob = None
    else:
        held, res.dialogs_expired = builder.hold_open(horizon_us)
        res.dialogs_held = held.num_rows
        blob = encode_dialogs(held, builder.last_ts) if held.num_rows else None
    legs, rejects = builder.finish()
    res.legs = legs.num_rows
    res.warnings.extend(builder.warnings)
    cr = st.commit(legs, rejects, records, state_blobs={key: blob},
                   state_base={key: prior.id if prior is not None else None})
    res.stored, res.duplicates, res.rejected = cr.stored, cr.duplicates, cr.rejected
    res.version = cr.version
    if cr.compact_error:
        res.warnings.append(compact_warning(cr.compact_error))
    res.elapsed_s = time.perf_counter() - t0
    return res
