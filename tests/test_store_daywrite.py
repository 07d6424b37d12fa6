"""A commit writes each UTC day's file a row group at a time, days in parallel
(``Store._write_sorted``): the files must be exactly what sorting the whole day and writing it
in one call gives (the lookup layout, DESIGN.md §4), and a failure must leave nothing behind.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehop.errors import StoreError
from tracehop.schema import LEG_SCHEMA, UTC_US, empty_rejects
from tracehop.store import Store, layout, writer

T0 = int(datetime(2026, 10, 1, 20, tzinfo=UTC).timestamp() * 1_000_000)
MINUTE = 60_000_000


def _legs(n: int, first: int = 0) -> pa.Table:
    # Eight hours either side of a UTC midnight, called numbers from a small pool out of time
    # order, a few without a called number, and columns a CSV format never fills left out.
    called = [None if i % 17 == 0 else f"+1312555{(n - i) % 23:04d}" for i in range(n)]
    return pa.table({
        "leg_id": [f"f:{first + i}" for i in range(n)],
        "start_utc": pa.array([T0 + ((i * 37) % 480) * MINUTE for i in range(n)],
                              pa.int64()).cast(UTC_US),
        "called_e164": called,
        "calling_e164": [f"+1202555{i % 7:04d}" for i in range(n)],
        "ingress_trunk": ["carrierA" if i % 3 else "carrierB" for i in range(n)],
        "raw_record": [f"line {first + i}," + "x" * (i % 30) for i in range(n)],
    })


def _day_files(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in store._state().live.values():
        out.setdefault(f.day.isoformat(), []).append(str(store.root / f.path))
    return out


@pytest.mark.parametrize("unique", [False, True])
def test_day_files_equal_one_sort_and_one_write_of_each_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unique: bool
) -> None:
    monkeypatch.setattr(writer, "ROW_GROUP_SIZE", 64)  # several row groups per day
    batch = _legs(500)
    expected = layout.split_sorted(layout.conform_loose(batch))  # the reference: whole days
    store = Store.open(tmp_path / "s", create=True)
    r = store.commit(batch, empty_rejects(), [], unique_leg_ids=unique)
    assert (r.stored, r.duplicates) == (500, 0)
    files = _day_files(store)
    assert sorted(files) == sorted(d.isoformat() for d in expected)
    for day, want in expected.items():
        (path,) = files[day.isoformat()]
        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert all(s == 64 for s in sizes[:-1]) and 0 < sizes[-1] <= 64
        assert meta.row_group(0).column(0).has_column_index  # page index written
        got = pq.read_table(path)
        assert got.schema.equals(LEG_SCHEMA)
        want_exact = layout.arrow_slices(layout.to_polars(want), exact=True)
        assert got.equals(want_exact)
        assert got.column("pai_raw").null_count == got.num_rows  # never filled: nulls


def test_the_log_stats_of_a_day_file_are_its_own(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(_legs(300), empty_rejects(), [], unique_leg_ids=True)
    log = (store.root / "_delta_log" / f"{1:020d}.json").read_text().splitlines()
    adds = [json.loads(line)["add"] for line in log if '"add"' in line]
    assert len(adds) == len(store._state().live)
    for add in adds:
        t = pl.read_parquet(store.root / add["path"])
        stats = add["stats"] if isinstance(add["stats"], dict) else json.loads(add["stats"])
        assert stats["numRecords"] == t.height
        assert stats["minValues"]["called_e164"] == t["called_e164"].drop_nulls().min()
        assert stats["maxValues"]["calling_e164"] == t["calling_e164"].max()
        assert stats["nullCount"]["called_e164"] == t["called_e164"].null_count()


def test_a_failed_day_write_leaves_no_file_and_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "ROW_GROUP_SIZE", 50)
    store = Store.open(tmp_path / "s", create=True)
    calls = {"n": 0}
    original = pq.ParquetWriter.write_table

    def fail_on_the_third(self: pq.ParquetWriter, table: pa.Table, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        original(self, table, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_on_the_third)
    with pytest.raises(OSError, match="No space left"):
        store.commit(_legs(400), empty_rejects(), [], unique_leg_ids=True)
    assert store.version == 0
    assert not list((store.root).rglob("*.parquet"))


def test_recommitting_with_unique_ids_still_adds_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(_legs(200), empty_rejects(), [], unique_leg_ids=True)
    again = store.commit(_legs(250), empty_rejects(), [], unique_leg_ids=True)
    assert (again.stored, again.duplicates) == (50, 200)
    ids = pl.concat([pl.read_parquet(store.root / f.path, columns=["leg_id"])
                     for f in store._state().live.values()])["leg_id"]
    assert ids.len() == ids.n_unique() == 250


def test_a_batch_without_start_time_is_still_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    bad = _legs(10).set_column(1, "start_utc", pa.nulls(10, UTC_US))
    with pytest.raises(StoreError, match="start_utc"):
        store.commit(bad, empty_rejects(), [], unique_leg_ids=True)
    assert store.version == 0
