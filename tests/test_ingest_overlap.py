"""Days written while the file is still parsed (ingest_paths' overlap, EarlyDays).

A large Master.csv comes in call-end order, so a day can be sorted and written once the parse
has moved past it. These tests read files in small chunks so that a small file gives many
batches, and check that the result is the same store content as holding everything until the
commit: same legs, same rejects, same counts, files in store order, nothing visible or left
behind when the ingest fails, and nothing added by re-ingesting.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tracehop.ingest.readers as readers
from tracehop.errors import StoreError, StoreIOError, UnreadableFileError
from tracehop.ingest.run import ingest_paths
from tracehop.schema import LEG_SCHEMA, UTC_US, empty_rejects
from tracehop.store import Store
from tracehop.store.layout import LEGS_DIR, REJECTS_DIR
from tracehop.store.log import TransactionLog
from tracehop.store.writer import EarlyDays

T0 = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
CHUNK = 16 << 10  # ~60 records a batch


def cdr_line(seq: int, start: datetime, talk: int, called: str) -> str:
    """One Asterisk cdr_csv record (18 columns, as cdr_csv.c writes them)."""
    end = start + timedelta(seconds=talk + 5)
    ans = start + timedelta(seconds=5)
    f = "%Y-%m-%d %H:%M:%S"
    return (
        f'"","12025550{seq % 1000:03d}","{called}","from-trunk",'
        f'"""Caller"" <12025550{seq % 1000:03d}>","SIP/carrierA-{seq:08x}","SIP/200-{seq:08x}",'
        f'"Dial","SIP/200,60,tT","{start:{f}}","{ans:{f}}","{end:{f}}",{talk + 5},{talk},'
        f'"ANSWERED","DOCUMENTATION","{int(start.timestamp())}.{seq}",""\n'
    )


def write_master(path: Path, n: int = 2400, *, late: bool = True, shuffle: bool = False,
                 bad: tuple[int, ...] = (7, 1500)) -> None:
    """``n`` calls over four UTC days in call-end order (as cdr_csv writes them); with
    ``late``, a three-hour call that started on the first day is logged among the last
    day's calls; ``bad`` record indices are written with too few fields."""
    step = 4 * 86400 / n
    lines = []
    for i in range(n):
        start = T0 + timedelta(seconds=int(i * step))
        lines.append(cdr_line(i, start, 30 + i % 200, f"312555{i % 97:04d}"))
    if late:
        lines.insert(n - 50, cdr_line(n, T0 + timedelta(hours=2), 3 * 3600, "3125559999"))
    for i in bad:
        lines[i] = '"","1","2","ctx"\n'
    if shuffle:
        random.Random(3).shuffle(lines)
    path.write_text("".join(lines))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "CHUNK_BYTES", CHUNK)


@pytest.fixture
def early_days(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The days submitted for an early write, in order."""
    seen: list[date] = []
    original = EarlyDays.submit

    def spy(self: EarlyDays, key: str, day: date, legs: pa.Table,
            constants: dict[str, str] | None = None) -> None:
        seen.append(day)
        original(self, key, day, legs, constants)

    monkeypatch.setattr(EarlyDays, "submit", spy)
    return seen


def day_files(store: Path) -> dict[str, list[str]]:
    snap = Store.open(store).snapshot()
    out: dict[str, list[str]] = {}
    for p in snap.all_files():
        out.setdefault(Path(p).parent.name, []).append(p)
    return out


def content(store: Path) -> list[dict[str, object]]:
    """Every stored leg, in leg_id order."""
    paths = Store.open(store).snapshot().all_files()
    table = pa.concat_tables(pq.read_table(p, schema=LEG_SCHEMA) for p in paths)
    return sorted(table.to_pylist(), key=lambda r: str(r["leg_id"]))


def rejects_of(store: Path) -> list[tuple[int, str]]:
    files = list((store / REJECTS_DIR).rglob("*.parquet"))
    t = pa.concat_tables(pq.read_table(p) for p in files)
    return sorted(zip(t.column("source_record").to_pylist(), t.column("reason").to_pylist(),
                      strict=True))


def in_store_order(path: str) -> bool:
    rows = pq.read_table(path, columns=["called_e164", "start_utc"]).to_pylist()
    keys = [(r["called_e164"] is None, r["called_e164"] or "", r["start_utc"]) for r in rows]
    return keys == sorted(keys)


def parquet_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}


def fail_late(monkeypatch: pytest.MonkeyPatch, bad: Path) -> None:
    """The 35th batch the ingest applies fails as an unreadable ``bad``: well into the first
    file, after some of its days were written early."""
    import tracehop.ingest.run as run

    original = run.apply_profile
    calls = {"n": 0}

    def fails_late(*a: object, **k: object) -> object:
        calls["n"] += 1
        if calls["n"] == 35:
            raise UnreadableFileError("simulated read failure", path=str(bad))
        return original(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "apply_profile", fails_late)


def test_days_written_during_the_parse_hold_what_a_held_ingest_holds(
    tmp_path: Path, early_days: list[date]
) -> None:
    src = tmp_path / "Master.csv"
    write_master(src)
    held = ingest_paths([src], tmp_path / "held", format="asterisk_cdr_csv", tz="UTC",
                        overlap=False)
    assert early_days == []
    early = ingest_paths([src], tmp_path / "early", format="asterisk_cdr_csv", tz="UTC")
    # The first three days were written while later days were still being read.
    assert early_days[:3] == [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)]

    keep = ("files", "read", "stored", "rejected", "duplicates", "first_utc", "last_utc",
            "bytes_read", "version", "warnings", "per_file")
    assert {k: early.to_dict()[k] for k in keep} == {k: held.to_dict()[k] for k in keep}
    assert early.read == 2401 and early.stored == 2399 and early.rejected == 2
    assert early.read == early.stored + early.rejected + early.duplicates
    assert content(tmp_path / "early") == content(tmp_path / "held")
    # The file's own columns are kept out of the sorted copies and added to each row group
    # (layout.constant_columns): every stored leg, early or at the commit, carries them.
    per_file = {(r["source_file"], r["format"], r["time_basis"], r["source_tz"])
                for r in content(tmp_path / "early")}
    assert per_file == {(str(src), "asterisk_cdr_csv", "setup", "UTC")}
    assert rejects_of(tmp_path / "early") == rejects_of(tmp_path / "held")
    assert [line for line, _ in rejects_of(tmp_path / "early")] == [8, 1501]

    files = day_files(tmp_path / "early")
    # The long call of June 1st came after that day was written: one more file for the day.
    assert len(files["day=2026-06-01"]) == 2
    assert all(len(v) == 1 for k, v in files.items() if k != "day=2026-06-01")
    assert all(in_store_order(p) for ps in files.values() for p in ps)
    assert parquet_files(tmp_path / "early" / LEGS_DIR) == {
        Path(p).relative_to(tmp_path / "early" / LEGS_DIR).as_posix()
        for ps in files.values() for p in ps}


def test_a_day_bigger_than_the_spool_is_written_in_parts_holding_the_same_legs(
    tmp_path: Path, early_days: list[date], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Legs held are bounded (run.SPOOL_ROWS): a day that holds more is written in parts
    while it is read, each part a file in store order, and the store holds what a held
    ingest holds. Writes waiting are bounded too (EARLY_PENDING), so that a parse faster than
    the writer cannot pile up parts in memory."""
    import tracehop.ingest.run as run
    import tracehop.store.writer as writer

    monkeypatch.setattr(run, "SPOOL_ROWS", 150)  # ~2.5 batches; a day here is 600 legs
    most = 0
    original_write, original_submit = EarlyDays._write, EarlyDays.submit

    def slow_write(self: EarlyDays, *args: Any) -> Any:
        time.sleep(0.05)  # a writer slower than the parse
        return original_write(self, *args)

    def submit(self: EarlyDays, *args: Any) -> None:
        nonlocal most
        original_submit(self, *args)
        most = max(most, sum(not job.done() for _key, _day, job in self._jobs))

    monkeypatch.setattr(EarlyDays, "_write", slow_write)
    monkeypatch.setattr(EarlyDays, "submit", submit)
    src = tmp_path / "Master.csv"
    write_master(src)
    held = ingest_paths([src], tmp_path / "held", format="asterisk_cdr_csv", tz="UTC",
                        overlap=False)
    early_days.clear()
    parts = ingest_paths([src], tmp_path / "parts", format="asterisk_cdr_csv", tz="UTC")
    assert len(early_days) > 8  # every ~150 legs, not once a day
    assert most <= writer.EARLY_PENDING  # the parse waited for the writer
    assert (parts.read, parts.stored, parts.rejected) == (held.read, held.stored, held.rejected)
    assert content(tmp_path / "parts") == content(tmp_path / "held")
    files = day_files(tmp_path / "parts")
    assert all(in_store_order(p) for ps in files.values() for p in ps)
    # A day in four or five parts stays as they are; above compact_threshold files it would
    # be compacted into one by the commit.
    assert max(len(v) for v in files.values()) > 1
    assert all(len(v) <= writer.DEFAULT_COMPACT_THRESHOLD for v in files.values())


def test_re_ingesting_writes_no_file_and_adds_nothing(
    tmp_path: Path, early_days: list[date]
) -> None:
    src = tmp_path / "Master.csv"
    write_master(src)
    store = tmp_path / "s"
    first = ingest_paths([src], store, format="asterisk_cdr_csv", tz="UTC")
    before = parquet_files(store)
    early_days.clear()
    again = ingest_paths([src, src], store, format="asterisk_cdr_csv", tz="UTC")
    assert early_days == []  # a file the store holds is never written again, not even early
    assert (again.stored, again.duplicates, again.rejected) == (0, 2 * first.read, 0)
    assert again.version is None
    assert parquet_files(store) == before


def test_an_unordered_export_is_held_until_the_commit(
    tmp_path: Path, early_days: list[date]
) -> None:
    src = tmp_path / "Master.csv"
    write_master(src, shuffle=True)
    held = ingest_paths([src], tmp_path / "held", format="asterisk_cdr_csv", tz="UTC",
                        overlap=False)
    early = ingest_paths([src], tmp_path / "early", format="asterisk_cdr_csv", tz="UTC")
    assert early_days == []
    assert (early.stored, early.rejected) == (held.stored, held.rejected)
    assert content(tmp_path / "early") == content(tmp_path / "held")
    assert all(len(v) == 1 for v in day_files(tmp_path / "early").values())


def test_a_failed_commit_deletes_the_days_written_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early_days: list[date]
) -> None:
    src = tmp_path / "Master.csv"
    write_master(src)
    store = Store.open(tmp_path / "s", create=True)

    def boom(self: TransactionLog, version: int, actions: list[dict[str, object]]) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(TransactionLog, "write", boom)
    with pytest.raises(StoreError, match="disk full"):
        ingest_paths([src], store, format="asterisk_cdr_csv", tz="UTC")
    assert early_days  # some days had been written before the commit failed
    assert parquet_files(store.root) == set()
    assert store.version == 0


def test_a_file_that_fails_midway_takes_back_its_early_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early_days: list[date]
) -> None:
    bad, good = tmp_path / "a" / "Master.csv", tmp_path / "b" / "Master.csv"
    bad.parent.mkdir()
    good.parent.mkdir()
    write_master(bad)
    write_master(good, n=1200, late=False, bad=())

    fail_late(monkeypatch, bad)
    s = ingest_paths([bad, good], tmp_path / "s", format="asterisk_cdr_csv", tz="UTC")
    assert early_days  # the first file's early days were written, then taken back
    assert [f.error is not None for f in s.per_file] == [True, False]
    assert s.stored == 1200 and s.read == 1200
    legs = content(tmp_path / "s")
    assert len(legs) == 1200
    assert {r["source_file"] for r in legs} == {str(good)}
    files = day_files(tmp_path / "s")
    assert parquet_files(tmp_path / "s" / LEGS_DIR) == {
        Path(p).relative_to(tmp_path / "s" / LEGS_DIR).as_posix()
        for ps in files.values() for p in ps}


# --- EarlyDays against the store ---------------------------------------------------------------

T0_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)


def legs(ids: list[int], day: int = 0) -> pa.Table:
    return pa.table({
        "leg_id": [f"L{i:04d}" for i in ids],
        "start_utc": pa.array([T0_US + day * 86_400_000_000 + (i % 50) * 60_000_000
                               for i in ids], pa.int64()).cast(UTC_US),
        "called_e164": [f"+1312555{i % 7:04d}" for i in ids],
        "direction": ["inbound"] * len(ids),
    })


def live_ids(store: Store) -> list[str]:
    return sorted(x for p in store.snapshot().all_files()
                  for x in pq.read_table(p, columns=["leg_id"]).column("leg_id").to_pylist())


def test_early_days_skip_stored_legs_and_recheck_after_losing_a_race(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs(list(range(20))), empty_rejects(), [])  # stored before the ingest
    early = EarlyDays(store)
    day = date(2026, 10, 1)
    early.submit("f1", day, legs(list(range(10, 60))))  # 10 already stored
    early.submit("f1", day, legs(list(range(60, 100))))  # a second file for the same day
    # A rival commits legs 90..119 of that day after these were checked, before our commit.
    Store.open(store.root).commit(legs(list(range(90, 120))), empty_rejects(), [])
    r = store.commit(legs(list(range(200, 210)), day=1), empty_rejects(), [], early=early)
    assert r.retries == 1
    # 90 legs written early, of which 10..19 and 90..99 were stored already; 10 at the commit.
    assert (r.stored, r.duplicates) == (70 + 10, 20)
    assert live_ids(store) == sorted(
        [f"L{i:04d}" for i in range(120)] + [f"L{i:04d}" for i in range(200, 210)])
    assert parquet_files(store.root / LEGS_DIR) == {
        Path(p).relative_to(store.root / LEGS_DIR).as_posix() for p in store.snapshot().all_files()}
    assert all(in_store_order(p) for p in store.snapshot().all_files())


def test_dropping_a_files_early_days_deletes_them(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    early = EarlyDays(store)
    early.submit("bad", date(2026, 10, 1), legs(list(range(30))))
    early.submit("good", date(2026, 10, 2), legs(list(range(30, 40)), day=1))
    early.drop("bad")
    assert early.given == 10 and early.given_of("bad") == 0
    r = store.commit(legs([]), empty_rejects(), [], early=early)
    assert (r.stored, r.duplicates) == (10, 0)
    assert live_ids(store) == [f"L{i:04d}" for i in range(30, 40)]
    assert len(parquet_files(store.root / LEGS_DIR)) == 1


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="SIGINT is handled in the main thread")
def test_ctrl_c_while_abort_waits_for_an_early_write_leaves_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second Ctrl-C (users press it again when an ingest does not stop at once) stops
    abort's *wait* for an early write, not the write: its thread goes on and writes the day
    file. The wait is resumed, so that the file is deleted; before, it was left in the store,
    unreferenced, until a vacuum."""
    store = Store.open(tmp_path / "s", create=True)
    real = EarlyDays._write_now

    def slow(self: EarlyDays, *args: Any) -> Any:
        time.sleep(0.6)
        return real(self, *args)

    monkeypatch.setattr(EarlyDays, "_write_now", slow)
    early = EarlyDays(store)
    early.submit("f", date(2026, 10, 1), legs(list(range(30))))
    threading.Timer(0.15, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        early.abort()
    assert parquet_files(store.root / LEGS_DIR) == set()
    assert store.version == 0


def test_a_failed_early_write_stops_the_ingest_at_the_next_submit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk under an early write: the ingest fails with the store's own error at the
    next submit (the parse waiting there for the writer, or not), instead of parsing the rest
    of a file of gigabytes, every later write failing too, to say it at the commit. Nothing
    is committed and no file is left. Under a timeout: a waiting parse must not hang."""
    import errno

    import tracehop.ingest.run as run

    monkeypatch.setattr(run, "SPOOL_ROWS", 150)
    calls = {"write": 0, "submit": 0}

    def full(self: EarlyDays, *args: Any) -> Any:
        calls["write"] += 1
        time.sleep(0.02)
        raise OSError(errno.ENOSPC, "No space left on device")

    original_submit = EarlyDays.submit

    def submit(self: EarlyDays, *args: Any) -> None:
        calls["submit"] += 1
        original_submit(self, *args)

    monkeypatch.setattr(EarlyDays, "_write_now", full)
    monkeypatch.setattr(EarlyDays, "submit", submit)
    src = tmp_path / "Master.csv"
    write_master(src, n=6000)
    store = Store.open(tmp_path / "s", create=True)
    outcome: list[BaseException | None] = []

    def ingest() -> None:
        try:
            ingest_paths([src], store.root, format="asterisk_cdr_csv", tz="UTC")
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=ingest, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the ingest hung"
    assert isinstance(outcome[0], StoreIOError), outcome
    assert "No space left on device" in str(outcome[0])
    assert "nothing was committed" in str(outcome[0])
    assert calls["submit"] <= 2 * writer_pending() + 2  # not one per part of the whole file
    assert parquet_files(store.root) == set()
    assert Store.open(store.root).version == 0


def writer_pending() -> int:
    import tracehop.store.writer as writer

    return writer.EARLY_PENDING


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="SIGINT is handled in the main thread")
def test_ctrl_c_while_the_parse_waits_in_submit_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the parse waits for the writer (EARLY_PENDING writes not done): the
    interrupt gets through the wait, the writes are awaited and their files deleted, and no
    writer thread is left running."""
    import tracehop.ingest.run as run
    import tracehop.store.writer as writer

    monkeypatch.setattr(run, "SPOOL_ROWS", 150)
    real = EarlyDays._write_now
    blocked = threading.Event()

    def slow(self: EarlyDays, *args: Any) -> Any:
        time.sleep(0.3)
        return real(self, *args)

    original_submit = EarlyDays.submit

    def submit(self: EarlyDays, *args: Any) -> None:
        if len(self._jobs) >= writer.EARLY_PENDING and not blocked.is_set():
            blocked.set()  # this submit waits for a slot: interrupt it there
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        original_submit(self, *args)

    monkeypatch.setattr(EarlyDays, "_write_now", slow)
    monkeypatch.setattr(EarlyDays, "submit", submit)
    src = tmp_path / "Master.csv"
    write_master(src, n=6000)
    store = Store.open(tmp_path / "s", create=True)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([src], store.root, format="asterisk_cdr_csv", tz="UTC")
    assert blocked.is_set()
    assert parquet_files(store.root) == set()
    assert Store.open(store.root).version == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("tracehop-early")]


def test_a_file_that_fails_midway_leaves_its_days_out_of_the_summary_span(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early_days: list[date]
) -> None:
    """The span of calls the summary reports (first_utc, last_utc) is that of the legs
    stored: the early-written days of a file that failed midway, taken back, are not in it."""

    bad, good = tmp_path / "a" / "Master.csv", tmp_path / "b" / "Master.csv"
    bad.parent.mkdir()
    good.parent.mkdir()
    write_master(bad)
    write_master(good, n=1200, late=False, bad=())
    good.write_text(good.read_text().replace("2026-06-0", "2026-09-1"))
    fail_late(monkeypatch, bad)
    s = ingest_paths([bad, good], tmp_path / "s", format="asterisk_cdr_csv", tz="UTC")
    assert early_days and early_days[0] < date(2026, 9, 1)  # the bad file's, taken back
    assert [f.error is not None for f in s.per_file] == [True, False]
    starts = [r["start_utc"] for r in content(tmp_path / "s")]
    assert (s.first_utc, s.last_utc) == (min(starts), max(starts))


def test_an_interrupt_right_after_an_early_write_is_queued_leaves_no_file(
        tmp_path: Path) -> None:
    """A Ctrl-C landing after the pool took a write but before submit kept track of it (a
    few bytecodes, hit under a cron job's SIGTERM sooner or later): abort still deletes the
    file that write makes. Simulated by a pool whose submit queues the write, then raises."""
    store = Store.open(tmp_path / "s", create=True)
    early = EarlyDays(store)
    real = early.pool.submit

    def submit_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    early.pool.submit = submit_then_interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        early.submit("f", date(2026, 10, 1), legs(list(range(30))))
    early.abort()
    assert parquet_files(store.root / LEGS_DIR) == set()
