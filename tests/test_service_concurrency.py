"""How the service shares its work between concurrent requests: the cached store snapshot, the
event-loop group commit of audit entries, and the bound on lookups running at once."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tracehop.errors import AuditError
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.respond.audit import AuditLog, AuditRecord, verify
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA
from tracehop.service.app import ServiceConfig, create_app
from tracehop.service.groupcommit import AsyncGroupCommit
from tracehop.service.snapshots import LatestSnapshot
from tracehop.service.tokens import TokenFile, add_token
from tracehop.store import FileRecord, Store

T0 = datetime(2026, 11, 20, 14, 3, 10, tzinfo=UTC)


def commit(store: Store, called: str, file_id: str) -> None:
    row = {"leg_id": f"leg-{file_id}", "source": "sbc1", "source_file": "cdr.csv",
           "source_record": 1, "start_utc": T0, "called_e164": called,
           "called_raw": called.lstrip("+"), "direction": "inbound", "ingress_trunk": "IN_1",
           "disposition": "answered"}
    store.commit(pa.Table.from_pylist([row], schema=LEG_SCHEMA),
                 pa.Table.from_pylist([], schema=REJECT_SCHEMA),
                 [FileRecord(file_id=file_id * 64, path=f"{file_id}.csv", size=1, rows_read=1)])


# --- the cached snapshot ------------------------------------------------------------------


def test_the_snapshot_is_reused_until_a_commit_lands_then_refreshed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    commit(store, "+13125550100", "a")
    latest = LatestSnapshot(Store.open(tmp_path / "s"))
    first = latest.snapshot()
    assert latest.snapshot() is first and latest.refreshes == 1  # no log read per request

    commit(store, "+13125550101", "b")  # e.g. an ingest in another process
    second = latest.snapshot()
    assert second.version == first.version + 1 and second.rows == 2
    assert latest.version == second.version and latest.refreshes == 2
    # and answers come from it: the new call is found at once
    got = Matcher(latest).lookup(Inquiry.parse("+13125550101", "2026-11-20T14:03:10Z"))
    assert got.status != "not_found"


def test_a_store_recreated_at_the_same_path_is_not_answered_from_the_old_one(
        tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = Store.open(root, create=True)
    commit(store, "+13125550100", "a")
    commit(store, "+13125550101", "b")
    latest = LatestSnapshot(Store.open(root))
    assert latest.snapshot().rows == 2
    shutil.rmtree(root)
    time.sleep(0.01)  # a different mtime for version 0 even where the inode is re-used
    again = Store.open(root, create=True)
    commit(again, "+13125550199", "c")  # version 1 again, with other contents
    snap = latest.snapshot()
    assert snap.rows == 1 and snap.version == again.snapshot().version


# --- group commit on the event loop -------------------------------------------------------


class SlowLog:
    """An AuditLog that takes a while per append (like an fsync) and counts appends."""

    def __init__(self, path: Path) -> None:
        self.log = AuditLog(path)
        self.appends = 0

    def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
        time.sleep(0.02)
        self.appends += 1
        return self.log.append_many(records)


def test_concurrent_requests_share_appends_and_each_gets_its_own_entries(
        tmp_path: Path) -> None:
    sink = SlowLog(tmp_path / "audit.jsonl")
    group = AsyncGroupCommit(sink)

    async def one(i: int) -> list[int]:
        recs = [AuditRecord(who=f"w{i}", asked={"i": i, "j": j}, searched=None,
                            answered={"ok": True}) for j in range(i % 3 + 1)]
        return [e["asked"]["i"] for e in await group.append_many(recs)]

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(one(i) for i in range(60)))

    got = asyncio.run(main())
    assert got == [[i] * (i % 3 + 1) for i in range(60)]
    report = verify(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == sum(i % 3 + 1 for i in range(60))
    assert sink.appends == group.groups and group.groups < 10  # not one fsync per request


def test_a_failed_group_write_raises_in_its_callers_and_the_next_one_still_writes(
        tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"cut short')  # a damaged last line: appends must refuse
    group = AsyncGroupCommit(AuditLog(path))
    rec = AuditRecord(who="a", asked={}, searched=None, answered={})

    async def main() -> list[Any]:
        return await asyncio.gather(*(group.append_many([rec]) for _ in range(5)),
                                    return_exceptions=True)

    assert all(isinstance(r, AuditError) for r in asyncio.run(main()))
    path.write_text("")
    assert asyncio.run(group.append_many([rec]))[0]["seq"] == 1


# --- at most `concurrency` lookups at once, and every answer audited -----------------------


class Counting:
    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.lock = threading.Lock()
        self.now = self.peak = self.calls = 0

    def lookup_many(self, inquiries: list[Inquiry]) -> list[Any]:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(0.02)
            return self.matcher.lookup_many(inquiries)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("concurrency", [1, 2])
def test_lookups_run_at_most_concurrency_at_once_and_all_are_answered(
        tmp_path: Path, concurrency: int) -> None:
    store = Store.open(tmp_path / "s", create=True)
    commit(store, "+13125550100", "a")
    token = add_token(tmp_path / "tokens.json", "alice")
    answerer = Counting(Matcher(LatestSnapshot(store)))
    app = create_app(ServiceConfig(tokens=TokenFile(tmp_path / "tokens.json"),
                                   answerer=answerer, audit=AuditLog(tmp_path / "audit.jsonl"),
                                   concurrency=concurrency))

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test",
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            return await asyncio.gather(*(
                c.post("/v1/inquiries", json={"called": "+13125550100", "id": str(i),
                                              "time": "2026-11-20T14:03:10Z"})
                for i in range(12)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 12
    assert [r.json()["inquiry"]["id"] for r in responses] == [str(i) for i in range(12)]
    assert answerer.calls == 12 and answerer.peak == concurrency
    report = verify(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == 12
