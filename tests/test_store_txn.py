"""Store transactions: crashes before the commit, torn log files, concurrent writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehop.errors import StoreConflictError, StoreError
from tracehop.schema import UTC_US, empty_rejects
from tracehop.store import FileRecord, Store
from tracehop.store.compact import ORPHAN_MIN_AGE_S
from tracehop.store.log import TransactionLog

T0_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)


def legs(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table({
        "leg_id": ids,
        # spread over two days: 13 h apart each
        "start_utc": pa.array([T0_US + (int(i[-4:]) % 4) * 13 * 3_600_000_000 for i in ids],
                              pa.int64()).cast(UTC_US),
        "called_e164": [f"+1312555{int(i[-4:]) % 100:04d}" for i in ids],
        "direction": ["inbound"] * n,
    })


def live_ids(store: Store) -> list[str]:
    paths = store.snapshot().all_files()
    if not paths:
        return []
    return sorted(x for p in paths for x in pq.read_table(p, columns=["leg_id"])
                  .column("leg_id").to_pylist())


def parquet_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}


# --- crash between writing data files and committing -----------------------------------------


def test_failure_at_the_commit_step_leaves_the_snapshot_unchanged_and_rerun_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(50)]), empty_rejects(), [])
    before = store.snapshot()
    files_before = parquet_files(store.root)

    def boom(self: TransactionLog, version: int, actions: list[dict[str, object]]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(TransactionLog, "write", boom)
    batch = legs([f"B{i:04d}" for i in range(80)])
    rej = pa.table({"source_file": ["x.csv"], "reason": ["bad"]})
    rec = FileRecord("f" * 64, "x.csv", 10, 81)
    with pytest.raises(OSError, match="disk full"):
        store.commit(batch, rej, [rec])
    monkeypatch.undo()

    after = Store.open(store.root).snapshot()
    assert after.version == before.version
    assert after.all_files() == before.all_files() and after.reject_files() == []
    assert store.ingested(rec.file_id) is None  # the file is not marked ingested
    assert parquet_files(store.root) == files_before  # its written files were removed

    r = store.commit(batch, rej, [rec])
    assert (r.stored, r.duplicates, r.rejected) == (80, 0, 1)
    assert len(live_ids(store)) == 130


_CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    import pyarrow as pa
    from tracehop.schema import UTC_US, empty_rejects
    from tracehop.store import Store
    from tracehop.store.log import TransactionLog

    def die(self, version, actions):
        os._exit(3)  # the process dies after its data files are durable, before the log entry

    store = Store.open(sys.argv[1])
    TransactionLog.write = die
    ids = [f"C{i:04d}" for i in range(40)]
    store.commit(pa.table({"leg_id": ids,
                           "start_utc": pa.array([1790000000000000 + i for i in range(40)],
                                                 pa.int64()).cast(UTC_US)}),
                 pa.table({"source_file": ["y.csv"], "reason": ["bad"]}), [])
    """
)


def test_a_writer_killed_before_its_commit_leaves_only_invisible_files(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(20)]), empty_rejects(), [])
    before = store.snapshot()
    proc = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(store.root)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    orphans = parquet_files(store.root) - parquet_files(store.root).intersection(
        {Path(p).relative_to(store.root).as_posix() for p in before.all_files()})
    assert len(orphans) == 2  # one leg file, one rejects file, both unreferenced
    after = Store.open(store.root).snapshot()
    assert after.version == before.version and after.all_files() == before.all_files()
    assert after.reject_files() == []
    # vacuum keeps young orphans (a writer might be about to commit them), even with no
    # retention at all, and deletes old ones
    assert store.vacuum(retention_hours=1).deleted == ()
    assert store.vacuum(retention_hours=0).deleted == ()
    old = time.time() - ORPHAN_MIN_AGE_S - 60
    for rel in orphans:
        os.utime(store.root / rel, (old, old))
    assert set(store.vacuum(retention_hours=0).deleted) == orphans
    assert store.commit(legs([f"C{i:04d}" for i in range(40)]), empty_rejects(), []).stored == 40


def test_a_torn_log_file_gives_an_error_naming_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(10)]), empty_rejects(), [])
    torn = store.root / "_delta_log" / f"{2:020d}.json"
    torn.write_text('{"commitInfo":{"timestamp":1}}\n{"add":{"path":"legs/day=2026-10-01/pa')
    with pytest.raises(StoreError) as e:
        Store.open(store.root)
    assert str(torn) in str(e.value) and "torn" in str(e.value)
    # moving it aside, as the hint says, returns the store to version 1
    torn.rename(tmp_path / "aside.json")
    assert Store.open(store.root).snapshot().version == 1


def test_an_empty_log_file_is_torn_not_a_version_without_change(tmp_path: Path) -> None:
    """A version file whose bytes never reached the disk (empty) used to replay as "no
    change": its legs vanished from view without a word and vacuum deleted them."""
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(10)]), empty_rejects(), [])
    store.commit(legs([f"B{i:04d}" for i in range(10)]), empty_rejects(), [])
    lost = store.root / "_delta_log" / f"{1:020d}.json"
    lost.write_bytes(b"")
    Store._cache.clear()
    with pytest.raises(StoreError) as e:
        Store.open(store.root)
    assert str(lost) in str(e.value) and "empty" in str(e.value)
    # Not the newest: moving it aside would leave a gap, so the hint says to restore it.
    assert "backup" in str(e.value) and "move it out" not in str(e.value)


def test_a_missing_first_log_version_is_named_not_called_no_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(10)]), empty_rejects(), [])
    first = store.root / "_delta_log" / f"{0:020d}.json"
    first.unlink()
    Store._cache.clear()
    for create in (False, True):  # `tracehop files`, `tracehop ingest`
        with pytest.raises(StoreError) as e:
            Store.open(store.root, create=create)
        assert str(first) in str(e.value) and "missing" in str(e.value)
        assert "no tracehop store" not in str(e.value)


def test_a_version_another_delta_writer_wrote_without_a_final_newline_is_read(
        tmp_path: Path) -> None:
    """delta-rs (python `deltalake`) writes a version's last JSON line without a newline
    (its VACUUM, OPTIMIZE): the store must keep opening after another Delta tool's run."""
    deltalake = pytest.importorskip("deltalake", reason="the delta extra is not installed")
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs([f"A{i:04d}" for i in range(10)]), empty_rejects(), [])
    Store.open(store.root).compact(rewrite=True)
    table = deltalake.DeltaTable(str(store.root))
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    newest = sorted((store.root / "_delta_log").glob("*.json"))[-1]
    assert not newest.read_text().endswith("\n")  # as delta-rs writes it
    st = Store.open(store.root)
    assert st.snapshot().rows == 10 and st.version == int(newest.stem)


# --- concurrent writers ----------------------------------------------------------------------
# A deadlock here must fail the test, not hang the suite.
pytestmark = pytest.mark.timeout(120)


def test_a_writer_that_loses_the_race_retries_on_top_and_rechecks_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "s", create=True)
    rival = Store.open(store.root)
    mine = legs([f"L{i:04d}" for i in range(100)])
    theirs = legs([f"L{i:04d}" for i in range(50, 150)])  # 50 legs overlap

    original = Store._write_day
    raced = []
    lock = threading.Lock()  # day files are written in parallel threads

    def write_day_then_rival_commits(self: Store, *a: object) -> object:
        out = original(self, *a)  # type: ignore[arg-type]
        if self is not store:
            return out
        with lock:
            if not raced:  # the rival commits between our data-file write and our commit
                raced.append(rival.commit(theirs, empty_rejects(), []))
        return out

    monkeypatch.setattr(Store, "_write_day", write_day_then_rival_commits)
    r = store.commit(mine, empty_rejects(), [])
    assert raced[0].version == 1 and r.version == 2 and r.retries == 1
    assert (r.stored, r.duplicates) == (50, 50)
    assert live_ids(store) == [f"L{i:04d}" for i in range(150)]
    # the files written for the lost attempt were replaced, not left referenced
    assert parquet_files(store.root) == {
        Path(p).relative_to(store.root).as_posix() for p in store.snapshot().all_files()}


def test_conflict_error_after_the_retries_are_used_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "s", create=True)
    rival = Store.open(store.root)
    original = Store._write_day
    n = iter(range(1000))
    lock = threading.Lock()

    def always_beaten(self: Store, *a: object) -> object:
        out = original(self, *a)  # type: ignore[arg-type]
        if self is store:
            with lock:
                rival.commit(legs([f"R{next(n):04d}"]), empty_rejects(), [])
        return out

    monkeypatch.setattr(Store, "_write_day", always_beaten)
    with pytest.raises(StoreConflictError, match="another writer committed"):
        store.commit(legs([f"L{i:04d}" for i in range(10)]), empty_rejects(), [], max_retries=0)
    monkeypatch.undo()
    assert not any(x.startswith("L") for x in live_ids(store))


def test_threads_committing_at_once_lose_nothing_and_store_nothing_twice(tmp_path: Path) -> None:
    root = tmp_path / "s"
    Store.open(root, create=True)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            st = Store.open(root)
            for b in range(5):
                # every batch shares half its leg_ids with the other worker's batch
                ids = [f"L{i:04d}" for i in range(b * 100, b * 100 + 100)] + \
                      [f"W{w}{b}{i:03d}" for i in range(50)]
                r = st.commit(legs(ids), empty_rejects(), [])
                results.append((r.stored, r.duplicates))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = Store.open(root)
    got = live_ids(store)
    assert len(got) == len(set(got)) == 500 + 2 * 5 * 50
    assert sum(s for s, _ in results) == len(got)
    assert sum(s + d for s, d in results) == 2 * 5 * 150


_PROCESS_WRITER = textwrap.dedent(
    """
    import json, sys
    import pyarrow as pa
    from tracehop.schema import UTC_US, empty_rejects
    from tracehop.store import Store

    root, w = sys.argv[1], int(sys.argv[2])
    store = Store.open(root, compact_threshold=100)
    out = []
    for b in range(6):
        ids = [f"L{i:04d}" for i in range(b * 40, b * 40 + 40)]
        ids += [f"P{w}{b}{i:02d}" for i in range(20)]
        t = pa.table({"leg_id": ids,
                      "start_utc": pa.array([1790000000000000 + i * 1000 for i in range(60)],
                                            pa.int64()).cast(UTC_US)})
        r = store.commit(t, empty_rejects(), [])
        out.append([r.stored, r.duplicates, r.retries])
    print(json.dumps(out))
    """
)


def test_two_processes_committing_at_once(tmp_path: Path) -> None:
    root = tmp_path / "s"
    Store.open(root, create=True)
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS_WRITER, str(root), str(w)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.extend(json.loads(out))
    store = Store.open(root)
    got = live_ids(store)
    assert len(got) == len(set(got)) == 240 + 2 * 6 * 20
    assert sum(o[0] for o in outs) == len(got)
    assert sum(o[0] + o[1] for o in outs) == 2 * 6 * 60
    assert store.snapshot().version == 12  # every commit got its own version
