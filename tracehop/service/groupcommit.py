"""Group commit for the audit log: concurrent requests share one locked, fsync-ed append.

Every answer must be in the audit log before it is sent, and each append to
:class:`tracehop.respond.audit.AuditLog` takes a file lock and an ``fsync`` (6-7 ms measured on
this machine's disk). One append per request would cap the service at ~150 requests/s whatever
the matcher can do. Here the first request to arrive writes, and the entries of requests that
arrive while it writes are written together by the next writer, in one ``append_many`` (one
lock, one fsync). Each caller still returns only once its own entries are on disk, and still
gets the exception if their write failed, so no answer leaves unlogged.

:class:`GroupCommitLog` does this for threads. :class:`AsyncGroupCommit` does it for the event
loop, which is where the service's requests wait: a waiting request holds no thread (before, each
one parked a worker thread in the write, and under 50 concurrent clients the answered requests
queued for threads behind requests still waiting for a matcher), and a whole group costs one
hop to a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from tracehop.respond.audit import AuditRecord


class _Log(Protocol):
    def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]: ...


class GroupCommitLog:
    """Wraps an audit log; ``append_many`` is safe to call from many threads at once."""

    def __init__(self, log: _Log) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._pending: list[tuple[Sequence[AuditRecord], Future[list[dict[str, Any]]]]] = []
        self._writing = False
        self.groups = 0  # appends made (for tests and the benchmark)

    def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
        done: Future[list[dict[str, Any]]] = Future()
        with self._lock:
            self._pending.append((records, done))
            lead = not self._writing
            self._writing = True
        if lead:
            self._drain()
        return done.result()

    def _drain(self) -> None:
        """Write groups until nothing is pending; only one thread runs this at a time."""
        while True:
            with self._lock:
                group, self._pending = self._pending, []
                if not group:
                    self._writing = False
                    return
            try:
                written = self.log.append_many([r for recs, _ in group for r in recs])
            except BaseException as e:  # every caller in the group sees the failure
                for _, fut in group:
                    fut.set_exception(e)
                continue
            self.groups += 1
            at = 0
            for recs, fut in group:
                fut.set_result(written[at: at + len(recs)])
                at += len(recs)


_Waiter = tuple[Sequence[AuditRecord], "asyncio.Future[list[dict[str, Any]]]"]


class AsyncGroupCommit:
    """Group commit on one event loop: ``await append_many(records)`` returns once ``records``
    are written (one ``append_many`` of ``log``, in a worker thread, for everything pending).

    One writer task runs at a time; entries arriving while it writes form the next group. A
    failed write raises in every caller of that group. A caller that goes away (a client that
    disconnects) does not stop the write: its entries are still logged.
    """

    def __init__(self, log: _Log) -> None:
        self.log = log
        self._pending: list[_Waiter] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0

    async def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
        done: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pending.append((records, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # shield: a cancelled request must not cancel the shared write (nor lose its entries)
        return await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                written = await run_in_threadpool(
                    self.log.append_many, [r for recs, _ in group for r in recs])
            except BaseException as e:  # every caller in the group sees the failure
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(e)
                if isinstance(e, asyncio.CancelledError):
                    raise
                continue
            self.groups += 1
            at = 0
            for recs, fut in group:
                if not fut.done():
                    fut.set_result(written[at: at + len(recs)])
                at += len(recs)
