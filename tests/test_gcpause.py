"""The cyclic collector is paused while a batch runs and comes back exactly as it was."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from tracehop.match.gcpause import paused_gc
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
