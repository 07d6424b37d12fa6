"""The store is a real Delta Lake table: other Delta readers see the same rows tracehop stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tracehop.schema import LEG_SCHEMA, UTC_US
from tracehop.store import Store

deltalake = pytest.importorskip(
    "deltalake", reason="deltalake (the [delta] extra) is not installed"
)

T0_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)


def legs(n: int, seed: int, prefix: str) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "leg_id": [f"{prefix}{i:06d}" for i in range(n)],
        "start_utc": pa.array(T0_US + rng.integers(0, 3 * 86_400_000_000, n), pa.int64())
        .cast(UTC_US),
        "called_e164": [f"+1312555{x:04d}" for x in rng.integers(0, 300, n)],
        "calling_e164": [f"+1202555{x:04d}" for x in rng.integers(0, 9999, n)],
        "duration_s": rng.random(n) * 100,
        "direction": ["inbound"] * n,
    })


def tracehop_rows(store: Store) -> pa.Table:
    t = pa.concat_tables(pq.read_table(p, schema=LEG_SCHEMA) for p in store.snapshot().all_files())
    return t.sort_by("leg_id")


def delta_rows(root: Path) -> pa.Table:
    t = deltalake.DeltaTable(str(root)).to_pyarrow_table()
    return t.sort_by("leg_id")


def same_rows(ours: pa.Table, theirs: pa.Table) -> None:
    assert theirs.num_rows == ours.num_rows
    for name in LEG_SCHEMA.names:
        assert theirs.column(name).to_pylist() == ours.column(name).to_pylist(), name
    # the partition column comes from the log: the UTC day of start_utc
    days = pc.cast(pc.floor_temporal(theirs.column("start_utc"), unit="day"), pa.date32())
    assert theirs.column("day").cast(pa.date32()).to_pylist() == days.to_pylist()


def test_deltalake_reads_the_rows_tracehop_stored(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=100)
    store.commit(legs(3000, 1, "A"), pa.table({"source_file": ["x"], "reason": ["r"]}), [])
    store.commit(legs(2000, 2, "B"), pa.table({"source_file": [], "reason": []}), [])
    dt = deltalake.DeltaTable(str(store.root))
    assert dt.version() == store.snapshot().version == 2
    assert dt.metadata().partition_columns == ["day"]
    same_rows(tracehop_rows(store), delta_rows(store.root))
    # Delta's file list is ours: the rejects directory is not part of the table
    ours = {Path(p).relative_to(store.root).as_posix() for p in store.snapshot().all_files()}
    assert set(dt.file_uris()) == {str(store.root / p) for p in ours}


def test_deltalake_follows_compaction_removes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=100)
    for s in range(3):
        store.commit(legs(1000, s, f"P{s}"), pa.table({"source_file": [], "reason": []}), [])
    store.compact()
    dt = deltalake.DeltaTable(str(store.root))
    assert len(dt.file_uris()) == 3  # one per day; removed files are not read twice
    same_rows(tracehop_rows(store), delta_rows(store.root))
    # time travel to before the compaction sees the same rows from the old files
    old = deltalake.DeltaTable(str(store.root), version=3).to_pyarrow_table()
    assert old.num_rows == 3000


def test_deltalake_prunes_by_day_and_stats(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs(3000, 1, "A"), pa.table({"source_file": [], "reason": []}), [])
    dt = deltalake.DeltaTable(str(store.root))
    files = dt.file_uris(file_pruning_predicate="day = '2026-10-02'")
    assert len(files) == 1 and "day=2026-10-02" in files[0]
    # min/max statistics from our add actions: no file holds a number above +1312555...
    assert dt.file_uris(file_pruning_predicate="called_e164 > '+2'") == []
    assert len(dt.file_uris(file_pruning_predicate="called_e164 < '+2'")) == 3
    t = dt.to_pyarrow_table(filters=[("called_e164", "=", "+13125550007")])
    assert set(t.column("called_e164").to_pylist()) == {"+13125550007"}


def test_duckdb_delta_scan_when_the_extension_is_available(tmp_path: Path) -> None:
    con = duckdb.connect()
    try:
        con.sql("SET autoinstall_known_extensions=false")
        con.sql("LOAD delta")
    except duckdb.Error as e:
        pytest.skip(f"DuckDB's delta extension is not installed and cannot be fetched offline: {e}")
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs(500, 1, "A"), pa.table({"source_file": [], "reason": []}), [])
    (n,) = con.sql(f"SELECT count(*) FROM delta_scan('{store.root}')").fetchall()[0]
    assert n == 500
