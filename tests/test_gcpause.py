"""The cyclic collector is paused while a batch runs and comes back exactly as it was."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.gcpause import paused_gc
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.respond.batch import respond
from tracehop.respond.inquiries import read_inquiries


def test_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_batches_in_threads_restore_it_once_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused_gc():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with paused_gc():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first batch ended: still paused for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_respond_matches_with_the_collector_paused(tmp_path: Path) -> None:
    inq = tmp_path / "inq.csv"
    inq.write_text("called,calling,time\n+13125550100,+12025550111,2026-11-20T14:03:22Z\n")

    class Recording:
        def __init__(self) -> None:
            self.enabled: list[bool] = []

        def lookup_many(self, inquiries: list[object]) -> list[object]:
            self.enabled.append(gc.isenabled())
            raise RuntimeError("stop here")

    rec = Recording()
    with pytest.raises(RuntimeError, match="stop here"):
        respond(read_inquiries(inq), rec)  # type: ignore[arg-type]
    assert rec.enabled == [False]
    assert gc.isenabled()  # restored although the batch failed


def test_batches_that_keep_overlapping_still_collect(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracehop.gcpause as gp

    collected: list[int] = []
    monkeypatch.setattr(gp.gc, "collect", lambda *a: collected.append(1) or 0)
    monkeypatch.setattr(gp, "MAX_PAUSE_S", 0.0)
    with paused_gc():  # a long batch, with another one starting and ending inside it
        with paused_gc():
            pass
        assert collected == [1]
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_single_lookup_leaves_the_collector_alone() -> None:
    """`tracehop serve` answers one inquiry at a time through lookup_many: only a batch
    matched as a join pauses the collector."""
    seen: list[bool] = []

    class Store:
        def snapshot(self) -> object:
            class Snap:
                rows = 10

                def files_for(self, *a: object) -> list[str]:
                    seen.append(gc.isenabled())
                    return []
            return Snap()

    q = Inquiry.parse("+13125550100", datetime(2026, 11, 20, tzinfo=UTC))
    Matcher(Store()).lookup_many([q], strategy="point")
    assert seen and all(seen)
