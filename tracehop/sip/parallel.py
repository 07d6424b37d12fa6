"""A big capture on two cores: INVITEs prepared by a worker process while the reading goes on.

Where the time goes (benchmarks/bench_sip.py, 7 messages per call): an INVITE costs about 25 µs
to turn into a leg row (``LegBuilder._prepare_invite``: its headers, numbers, addresses) and 10
µs more for its PASSporT, which together are a third of the reading; every other message costs
1-4 µs. That INVITE work depends on no other message (the builder's own seam for doing it
elsewhere), so it is what moves to the worker. Everything that depends on order stays in the
reading process exactly as in :func:`tracehop.sip.reader.fast_pass`: the frame loop, IP
fragment and TCP stream reassembly, and the builder fed message by message, in capture order.

The reading process collects messages in batches; a batch's INVITEs go to the worker
(``apply_async``) and the batch is booked into the builder a few batches later, when the
worker's answers are back, so the two processes run side by side. The worker sends back the
prepared INVITEs (plain tuples, lists and strings: what pickles fastest) with their
STIR/SHAKEN columns already filled (``LegBuilder.stir_prepared``: the PASSporT decoded, and
verified against the reading's certificate directory), so neither the INVITE's headers nor a
decoded PASSporT travel back or wait in memory until ``finish()``, and the reading process
decodes and verifies nothing for them. The builder's ``_prepare_invite`` is overridden on the
instance for the reading: it returns the worker's answer for that very message (matched by
object identity), and prepares it itself for anything else (its STIR/SHAKEN then done in
``finish()`` as usual), so the result is the single-process result by construction
(tests/test_sip_parallel.py checks it on mixed captures, with verification).

(Measured and dropped: cutting the file into frame ranges read by two workers. Handing every
message back to the one process that builds dialogs cost as much as decoding the frames in
the first place, so both cores were busy and the reading was no faster. Also dropped: the
worker reading the responses' dialog keys too; moving the messages cost what it saved.)

Only files of at least :data:`MIN_BYTES` go this way (process start-up and moving results cost
more than they save on small files), and only when a core is idle (:func:`use_parallel`).
``TRACEHOP_SIP_WORKERS`` sets the number of workers (0: never) and skips the idle-core test;
the default is one less than the CPU count, at most :data:`MAX_WORKERS`.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
from collections import deque
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Final

from tracehop.sip.dialogs import LegBuilder, Prepared, SipConfig
from tracehop.sip.frames import decode_file, end_of_file
from tracehop.sip.ip import IpLayer
from tracehop.sip.pcap import CaptureInfo
from tracehop.sip.tcp import TcpReassembler

#: Below this a file is read by one process.
MIN_BYTES: Final = 50_000_000
#: Messages per batch: a few hundred INVITEs per task, so a task's overhead is small and the
#: reading process never waits long for the first answers.
BATCH: Final = 4096
#: Batches the reading may run ahead of the booking (bounds the memory held in between).
AHEAD: Final = 8
MAX_WORKERS: Final = 2

#: One message: the arguments of ``LegBuilder.add``.
Message = tuple[int, int, bytes, bytes, int, int, str, bytes]
#: One INVITE for the worker: the arguments of ``LegBuilder._prepare_invite``.
Invite = tuple[int, int, bytes, bytes, int, int, bytes]


def workers_wanted() -> int:
    """Worker processes for a big file: ``TRACEHOP_SIP_WORKERS``, else one less than the CPU
    count (the reading process keeps a core), at most :data:`MAX_WORKERS`."""
    env = os.environ.get("TRACEHOP_SIP_WORKERS", "").strip()
    if env.isdigit():
        return int(env)
    return max(0, min((os.cpu_count() or 1) - 1, MAX_WORKERS))


def use_parallel(path: Path, kind: str, workers: int | None = None) -> bool:
    """Is this file worth a worker? A pcap/pcapng file of at least :data:`MIN_BYTES`, and,
    unless the workers were asked for (``workers`` or ``TRACEHOP_SIP_WORKERS``), a core to
    spare: the two processes together spend about 15 % more CPU than one (moving the
    INVITEs and their rows), so on a machine whose cores are busy one process is faster."""
    asked = workers is not None or os.environ.get("TRACEHOP_SIP_WORKERS", "").strip() != ""
    n = workers_wanted() if workers is None else workers
    if n < 1 or kind not in ("pcap", "pcapng"):
        return False
    try:
        if path.stat().st_size < MIN_BYTES:
            return False
    except OSError:
        return False
    return asked or _load() <= (os.cpu_count() or 1) - 1 - IDLE_MARGIN


#: The load average (runnable processes) must leave this much of a core idle, besides the
#: reading process's own, for a worker to start unasked.
IDLE_MARGIN: Final = 0.5


def _load() -> float:
    """The 1-minute load average; 0 where the system has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


# -- worker side ------------------------------------------------------------------------------

#: The worker's own leg builder, used only to prepare INVITEs; set by _start.
_BUILDER: list[LegBuilder] = []


def _start(source_file: str, source: str | None, fmt: str, config: SipConfig,
           cert_dir: Path | None) -> None:
    """Pool initializer: a builder with the reading's options, so rows come out as the
    reading's own builder would make them, with the reading's certificate directory (None:
    the reading does not verify)."""
    gc.disable()  # as gc_paused() in the reading process: nothing here forms cycles
    cfg = dataclasses.replace(config, cert_dir=cert_dir, verify_stir=cert_dir is not None)
    _BUILDER[:] = [LegBuilder(source_file, source, fmt, cfg)]


def prepare_batch(invites: list[Invite]) -> list[Prepared]:
    """Prepare a batch of INVITEs, their STIR/SHAKEN columns filled (in the worker)."""
    builder = _BUILDER[0]
    prepare, stir = builder._prepare_invite, builder.stir_prepared
    return [stir(prepare(frame, ts, src, dst, sport, dport, data))
            for frame, ts, src, dst, sport, dport, data in invites]


# -- reading side -----------------------------------------------------------------------------


def _context() -> Any:
    """``fork`` where there is one (the worker starts with the code loaded), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def parallel_pass(path: Path, builder: LegBuilder, info: CaptureInfo, foreign: list[int],
                  problems: list[tuple[int | None, str]], notes: list[str],
                  start_offset: int = 0, workers: int | None = None,
                  batch: int | None = None) -> None:
    """``fast_pass(path, builder.add, ...)`` with the INVITEs prepared by worker processes:
    the same arguments, and the same effect on ``builder``, ``info``, ``foreign``,
    ``problems`` and ``notes``."""
    n = max(1, workers_wanted() if workers is None else workers)
    size = batch or BATCH
    own = builder._prepare_invite
    answers: deque[tuple[bytes, Prepared]] = deque()  # (INVITE bytes, its preparation)
    failed: list[str] = []

    def prepared(frame: int, ts: int, src: bytes, dst: bytes, sport: int, dport: int,
                 data: bytes) -> Prepared:
        # The worker's answers come in the order the builder asks for them; one that does
        # not match (the builder skipped an INVITE) is dropped, and a message the worker
        # never saw is prepared here.
        while answers:
            sent, prep = answers.popleft()
            if sent is data:
                return prep
        return own(frame, ts, src, dst, sport, dport, data)

    events: list[Message] = []
    invites: list[Invite] = []
    pending: deque[tuple[list[Message], list[Invite], AsyncResult[list[Prepared]] | None]] = (
        deque())
    add = builder.add

    def book() -> None:
        evs, invs, res = pending.popleft()
        if res is not None:
            try:
                preps = res.get()
            except Exception as e:
                failed.append(f"{type(e).__name__}: {e}")
            else:
                answers.extend(zip([inv[6] for inv in invs], preps, strict=True))
        for m in evs:
            add(*m)

    with _context().Pool(n, initializer=_start,
                         initargs=(builder.source_file, builder.source, builder.format,
                                   builder.config,
                                   builder.certs.path if builder.certs else None)) as pool:

        def flush() -> None:
            nonlocal events, invites
            res = pool.apply_async(prepare_batch, (invites,)) if invites else None
            pending.append((events, invites, res))
            events, invites = [], []
            while pending and (len(pending) > AHEAD or pending[0][2] is None
                               or pending[0][2].ready()):
                book()

        def sink(*m: Any) -> None:  # Sink: the arguments of LegBuilder.add, kept as given
            events.append(m)
            if m[7].startswith(b"INVITE "):  # what LegBuilder.add hands to _prepare_invite
                invites.append((*m[:6], m[7]))
            if len(events) >= size:
                flush()

        setattr(builder, "_prepare_invite", prepared)  # noqa: B010  (for this reading only)
        try:
            ipl = IpLayer()
            tcp = TcpReassembler()
            noted: list[tuple[int, str]] = []
            decode_file(path, info, start_offset, sink, foreign, problems, noted, ipl, tcp)
            flush()
            while pending:
                book()
            end_of_file(info, ipl, tcp, foreign, problems, noted)
        finally:
            delattr(builder, "_prepare_invite")
    notes.extend(f"frame {f}: {t}" for f, t in noted)
    if failed:
        notes.append(f"INVITEs of {len(failed)} batches were prepared in the reading process: "
                     f"the worker process failed ({failed[0]})")
