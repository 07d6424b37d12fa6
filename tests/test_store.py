"""The call-leg store: partitioning, order, dedupe, counts, rejects, compaction, snapshots."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehop.errors import StoreError, StoreIOError, StoreNotFoundError
from tracehop.schema import DICTIONARY_COLUMNS, LEG_SCHEMA, REJECT_SCHEMA, UTC_US, empty_rejects
from tracehop.store import FileRecord, Store
from tracehop.store.layout import ZSTD_COLUMNS

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def legs(n: int, *, seed: int = 0, days: int = 3, prefix: str = "L", numbers: int = 50) -> pa.Table:
    """n legs over `days` UTC days from T0, called numbers from a small pool (so they repeat)."""
    rng = np.random.default_rng(seed)
    offs = rng.integers(0, days * 86_400_000_000, n)
    start = pa.array((int(T0.timestamp() * 1_000_000) + offs).tolist(), pa.int64()).cast(UTC_US)
    called = [f"+1312555{int(x):04d}" for x in rng.integers(0, numbers, n)]
    called = [None if i % 97 == 5 else c for i, c in enumerate(called)]  # some without a number
    return pa.table(
        {
            "leg_id": [f"{prefix}{i:07d}" for i in range(n)],
            "start_utc": start,
            "called_e164": called,
            "calling_e164": [f"+1202555{int(x):04d}" for x in rng.integers(0, 9999, n)],
            "direction": ["inbound" if i % 3 else "outbound" for i in range(n)],
            "ingress_trunk": [f"TRUNK{i % 7}" for i in range(n)],
            "call_id": [f"{i:032x}" for i in range(n)],
            "source_record": list(range(1, n + 1)),
        }
    )


def rejects(n: int, file: str = "Master.csv") -> pa.Table:
    return pa.table(
        {
            "source_file": [file] * n,
            "source_record": list(range(10, 10 + n)),
            "reason": ["too few fields (12, expected at least 16)"] * n,
            "raw_record": [f"bad,line,{i}" for i in range(n)],
        }
    )


def frec(file_id: str = "a" * 64, rows: int = 0, path: str = "Master.csv") -> FileRecord:
    return FileRecord(file_id=file_id, path=path, size=1234, rows_read=rows,
                      format="asterisk_cdr_csv", source="pbx1")


def read_all(paths: list[str]) -> pa.Table:
    if not paths:
        return LEG_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(p, schema=LEG_SCHEMA) for p in paths)


def ids(t: pa.Table) -> list[str]:
    return sorted(t.column("leg_id").to_pylist())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "calls.store", create=True)


# --- opening ---------------------------------------------------------------------------------


def test_open_without_create_names_the_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="no tracehop store") as e:
        Store.open(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_create_refuses_a_directory_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        Store.open(tmp_path, create=True)


def test_create_then_open_gives_an_empty_version_0(tmp_path: Path) -> None:
    Store.open(tmp_path / "s", create=True)
    snap = Store.open(tmp_path / "s").snapshot()
    assert snap.version == 0
    assert snap.all_files() == [] and snap.reject_files() == [] and snap.rows == 0


# --- partitioning and order ------------------------------------------------------------------


def test_partitioned_by_utc_day_around_midnight(store: Store) -> None:
    t = pa.table({
        "leg_id": ["before", "after"],
        "start_utc": pa.array([datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC),
                               datetime(2026, 10, 2, 0, 0, 1, tzinfo=UTC)], UTC_US),
        "called_e164": ["+13125550100", "+13125550100"],
    })
    store.commit(t, empty_rejects(), [])
    snap = store.snapshot()
    assert snap.days() == [date(2026, 10, 1), date(2026, 10, 2)]
    (f1,) = snap.files_for(T0 + timedelta(hours=12), T0 + timedelta(hours=23))
    (f2,) = snap.files_for(T0 + timedelta(hours=24), T0 + timedelta(hours=25))
    assert "/legs/day=2026-10-01/" in f1 and "/legs/day=2026-10-02/" in f2
    assert pq.read_table(f1).column("leg_id").to_pylist() == ["before"]
    assert pq.read_table(f2).column("leg_id").to_pylist() == ["after"]
    # The day lives in the path and the log, not in the file.
    assert "day" not in pq.read_schema(f1).names


def test_files_for_uses_the_utc_day_of_aware_times(store: Store) -> None:
    store.commit(legs(300, days=3), empty_rejects(), [])
    snap = store.snapshot()
    # 2026-10-02 20:00 in Chicago (-05:00) is 2026-10-03 01:00 UTC: only day 3 is touched.
    cst = timezone(timedelta(hours=-5))
    got = snap.files_for(datetime(2026, 10, 2, 20, 0, tzinfo=cst),
                         datetime(2026, 10, 2, 20, 4, tzinfo=cst))
    assert [Path(p).parent.name for p in got] == ["day=2026-10-03"]
    # A window across midnight touches both days, and nothing else.
    both = snap.files_for(T0 + timedelta(hours=23, minutes=58), T0 + timedelta(days=1, minutes=2))
    assert [Path(p).parent.name for p in both] == ["day=2026-10-01", "day=2026-10-02"]
    assert snap.files_for(T0 + timedelta(days=40), T0 + timedelta(days=41)) == []


def test_each_file_sorted_by_called_number_then_time_nulls_last(store: Store) -> None:
    store.commit(legs(5000, seed=1), empty_rejects(), [])
    store.commit(legs(5000, seed=2, prefix="M"), empty_rejects(), [])
    for path in store.snapshot().all_files():
        t = pq.read_table(path, columns=["called_e164", "start_utc"])
        called = t.column("called_e164").to_pylist()
        start = t.column("start_utc").to_pylist()
        n_null = called.count(None)
        assert n_null > 0 and called[len(called) - n_null:] == [None] * n_null
        keyed = list(zip(called[: len(called) - n_null], start, strict=False))
        assert keyed == sorted(keyed)
        assert pq.ParquetFile(path).metadata.row_group(0).sorting_columns[0].column_index == \
            LEG_SCHEMA.get_field_index("called_e164")


def test_files_have_the_lookup_layout(store: Store) -> None:
    """Page index, pages of <= 8192 rows, dictionary only on the low-cardinality columns,
    LZ4_RAW pages except for the evidence-only text columns (zstd)."""
    store.commit(legs(20000, days=1), empty_rejects(), [])
    (path,) = store.snapshot().all_files()
    md = pq.ParquetFile(path).metadata
    rg = md.row_group(0)
    for i in range(rg.num_columns):
        col = rg.column(i)
        assert col.has_offset_index and col.has_column_index, col.path_in_schema
        # LZ4_RAW, or no compression where LZ4 would not pack the column by MIN_LZ4_RATIO
        # (test_columns_lz4_cannot_pack_are_written_uncompressed).
        assert col.compression in (("ZSTD",) if col.path_in_schema in ZSTD_COLUMNS
                                   else ("LZ4", "UNCOMPRESSED")), col.path_in_schema
        assert col.has_dictionary_page == (col.path_in_schema in DICTIONARY_COLUMNS), \
            col.path_in_schema
    (pages,) = duckdb.sql(
        f"SELECT encoding_stats FROM parquet_metadata('{path}') "
        "WHERE path_in_schema = 'called_e164'"
    ).fetchall()
    n_data_pages = sum(p["count"] for p in pages[0] if p["page_type"].startswith("DATA_PAGE"))
    assert n_data_pages >= 3  # 20,000 rows at <= 8192 rows per page
    # pyarrow names LZ4_RAW and the old Hadoop-framed LZ4 alike; DuckDB tells them apart.
    codecs = dict(duckdb.sql(
        f"SELECT DISTINCT path_in_schema, compression FROM parquet_metadata('{path}')"
    ).fetchall())
    assert codecs["called_e164"] == "LZ4_RAW" and codecs["raw_record"] == "ZSTD"


def test_columns_lz4_cannot_pack_are_written_uncompressed(store: Store, tmp_path: Path) -> None:
    """Random tokens (a hashed leg id, a SIP Call-ID) gain nothing from LZ4: their pages are
    written uncompressed, which spares every read the decompression; sorted called numbers
    and repeated text keep LZ4_RAW. Both the commit path and write_parquet (compaction) choose
    the same way, and the rows read back unchanged."""
    import uuid

    from tracehop.store.layout import write_parquet

    batch = legs(20000, days=1)
    tokens = pa.array([uuid.uuid4().hex for _ in range(batch.num_rows)])
    batch = batch.set_column(batch.schema.get_field_index("call_id"), "call_id", tokens)
    store.commit(batch, empty_rejects(), [])
    (path,) = store.snapshot().all_files()
    t = pq.read_table(path, schema=LEG_SCHEMA)
    again = tmp_path / "again.parquet"
    write_parquet(tmp_path, again.name, t)
    for f in (path, str(again)):
        codecs = dict(duckdb.sql(
            f"SELECT DISTINCT path_in_schema, compression FROM parquet_metadata('{f}')"
        ).fetchall())
        assert codecs["call_id"] == "UNCOMPRESSED", f
        assert codecs["called_e164"] == "LZ4_RAW" and codecs["ingress_trunk"] == "LZ4_RAW"
        assert codecs["raw_record"] == "ZSTD"
    assert pq.read_table(again, schema=LEG_SCHEMA).equals(t)
    assert sorted(t.column("call_id").to_pylist()) == sorted(tokens.to_pylist())


# --- dedupe and counts -----------------------------------------------------------------------


def test_recommitting_the_same_legs_adds_nothing(store: Store) -> None:
    batch = legs(2000)
    first = store.commit(batch, empty_rejects(), [frec(rows=2000)])
    assert (first.stored, first.duplicates) == (2000, 0)
    before = store.snapshot()
    again = store.commit(batch, empty_rejects(), [])
    assert (again.stored, again.duplicates, again.rejected) == (0, 2000, 0)
    after = store.snapshot()
    assert after.rows == before.rows == 2000
    assert sorted(after.all_files()) == sorted(before.all_files())
    assert ids(read_all(after.all_files())) == ids(batch)


def test_partial_overlap_stores_only_new_legs(store: Store) -> None:
    a = legs(1000, seed=1)
    store.commit(a.slice(0, 600), empty_rejects(), [])
    r = store.commit(a.slice(400, 600), empty_rejects(), [])
    assert (r.stored, r.duplicates) == (400, 200)
    assert ids(read_all(store.snapshot().all_files())) == ids(a)


def test_counts_add_up_with_repeats_in_the_batch_and_rejects(store: Store) -> None:
    batch = legs(1000)
    doubled = pa.concat_tables([batch, batch.slice(0, 100)])  # 100 leg_ids appear twice
    r = store.commit(doubled, rejects(7), [frec(rows=1107)])
    assert (r.stored, r.duplicates, r.rejected) == (1000, 100, 7)
    assert r.stored + r.duplicates + r.rejected == 1107  # read = stored + rejected + duplicates
    snap = store.snapshot()
    assert snap.rows == 1000 and snap.rejected_rows == 7
    stored = read_all(snap.all_files())
    assert stored.num_rows == 1000 and ids(stored) == ids(batch)
    # the kept copy is the first one, unchanged
    row = stored.filter(pa.compute.equal(stored.column("leg_id"), "L0000042")).to_pylist()[0]
    assert row["call_id"] == f"{42:032x}" and row["source_record"] == 43


def test_a_batch_missing_leg_id_is_refused_and_nothing_committed(store: Store) -> None:
    bad = legs(10).set_column(0, "leg_id", pa.array(["x"] * 9 + [None], pa.string()))
    with pytest.raises(StoreError, match="no leg_id"):
        store.commit(bad, empty_rejects(), [])
    assert store.snapshot().version == 0
    assert not (store.root / "legs").exists() or not any((store.root / "legs").rglob("*.parquet"))


# --- rejects and ingested files --------------------------------------------------------------


def test_rejects_are_stored_and_readable_with_their_reasons(store: Store) -> None:
    store.commit(legs(10), rejects(3, "cdr-a.csv"), [frec("1" * 64, 13, "cdr-a.csv")])
    store.commit(legs(0), rejects(2, "cdr-b.csv"), [frec("2" * 64, 2, "cdr-b.csv")])
    snap = store.snapshot()
    assert len(snap.reject_files()) == 2
    t = pa.concat_tables(pq.read_table(p) for p in snap.reject_files())
    assert t.schema == REJECT_SCHEMA
    assert sorted(t.column("source_file").to_pylist()) == ["cdr-a.csv"] * 3 + ["cdr-b.csv"] * 2
    assert set(t.column("reason").to_pylist()) == {"too few fields (12, expected at least 16)"}
    assert t.column("raw_record").null_count == 0


def test_ingested_files_are_recorded_once_per_content_hash(store: Store) -> None:
    assert store.ingested_files() == []
    rec = frec("ab" * 32, rows=10)
    store.commit(legs(10), empty_rejects(), [rec])
    store.commit(legs(0), empty_rejects(), [frec("ab" * 32, rows=10, path="copy.csv")])
    assert [f.file_id for f in store.ingested_files()] == ["ab" * 32]
    got = Store.open(store.root).ingested("ab" * 32)  # a new Store object replays the log
    # As given, with the commit's counts: the one file's own (stored, duplicates).
    assert got == dataclasses.replace(rec, stored=10, duplicates=0)
    assert store.ingested("cd" * 32) is None


# --- compaction and snapshots ----------------------------------------------------------------


def test_compaction_keeps_rows_identical_and_leaves_one_sorted_file_per_day(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=100)
    parts = [legs(800, seed=s, prefix=f"P{s}_") for s in range(4)]
    for p in parts:
        store.commit(p, empty_rejects(), [])
    before = store.snapshot()
    assert before.file_count == 12  # 4 commits x 3 days
    rows_before = read_all(before.all_files()).sort_by("leg_id")

    result = store.compact()
    after = store.snapshot()
    assert result.version == after.version == before.version + 1
    assert (result.files_removed, result.files_added) == (12, 3)
    assert after.file_count == 3 and after.rows == before.rows == 3200
    assert read_all(after.all_files()).sort_by("leg_id").equals(rows_before)
    for path in after.all_files():
        t = pq.read_table(path, columns=["called_e164", "start_utc"])
        c, s = t.column("called_e164").to_pylist(), t.column("start_utc").to_pylist()
        k = [x for x in zip(c, s, strict=True) if x[0] is not None]
        assert k == sorted(k)
    # nothing left to do
    assert store.compact().version is None


def test_compacting_one_day_leaves_the_others(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=100)
    for s in range(3):
        store.commit(legs(300, seed=s, prefix=f"P{s}_"), empty_rejects(), [])
    r = store.compact([date(2026, 10, 2)])
    assert [d.day for d in r.days] == [date(2026, 10, 2)]
    per_day = {d: len(store.snapshot().data_files([d])) for d in store.snapshot().days()}
    assert per_day == {date(2026, 10, 1): 3, date(2026, 10, 2): 1, date(2026, 10, 3): 3}


def test_commit_compacts_a_day_automatically_past_the_threshold(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=3)
    results = [store.commit(legs(50, seed=s, days=1, prefix=f"P{s}_"), empty_rejects(), [])
               for s in range(4)]
    assert [r.compacted for r in results] == [(), (), (), (date(2026, 10, 1),)]
    snap = store.snapshot()
    assert snap.file_count == 1 and snap.rows == 200


def test_a_failed_automatic_compaction_does_not_fail_the_commit_it_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit is in the log when its day's compaction runs: a full disk there (or a
    damaged older file of the day) used to raise out of commit(), so `tracehop ingest` said
    Error and exit 1 for legs that were stored (and the re-run skipped them as ingested)."""
    import errno

    import tracehop.store.writer as writer

    store = Store.open(tmp_path / "s", create=True, compact_threshold=1)
    store.commit(legs(50, seed=0, days=1, prefix="P0_"), empty_rejects(), [])

    def full(*args: Any, **kwargs: Any) -> Any:  # as compact_days reports a full disk
        raise StoreIOError(store.root, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(writer, "compact_days", full)
    result = store.commit(legs(50, seed=1, days=1, prefix="P1_"), empty_rejects(), [])
    assert (result.version, result.stored, result.compacted) == (2, 50, ())
    assert result.compact_error is not None and "No space left" in result.compact_error
    assert store.snapshot().rows == 100 and store.snapshot().file_count == 2
    # and the ingest says so (stored, exit 0, with the way to finish the compaction)
    from tracehop.store.records import compact_warning

    assert "tracehop compact" in compact_warning(result.compact_error)


def test_a_held_snapshot_still_reads_its_files_after_compaction_until_vacuum(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "s", create=True, compact_threshold=100)
    for s in range(3):
        store.commit(legs(300, seed=s, prefix=f"P{s}_"), empty_rejects(), [])
    held = store.snapshot()
    rows = read_all(held.all_files()).num_rows
    store.compact()
    # Compaction only marked them removed: the old snapshot reads exactly what it read before.
    assert read_all(held.all_files()).num_rows == rows
    assert held.version < store.snapshot().version
    assert store.vacuum(retention_hours=1).deleted == ()  # too young to delete
    assert all(Path(p).exists() for p in held.all_files())
    vac = store.vacuum(retention_hours=0)
    assert len(vac.deleted) == 9 and vac.bytes_freed > 0
    assert not any(Path(p).exists() for p in held.all_files())
    assert read_all(store.snapshot().all_files()).num_rows == rows  # the live files stay


def test_the_log_is_delta_json_with_stats(store: Store) -> None:
    store.commit(legs(500), rejects(1), [frec(rows=501)])
    lines = [json.loads(x) for x in
             (store.root / "_delta_log" / f"{1:020d}.json").read_text().splitlines()]
    adds = [a["add"] for a in lines if "add" in a]
    assert len(adds) == 3
    for add in adds:
        stats = json.loads(add["stats"])
        assert stats["numRecords"] > 0
        assert set(stats["minValues"]) >= {"called_e164", "start_utc"}
        assert stats["minValues"]["start_utc"] <= stats["maxValues"]["start_utc"]
        assert add["path"].startswith(f"legs/day={add['partitionValues']['day']}/")
    v0 = [json.loads(x) for x in (store.root / "_delta_log" / f"{0:020d}.json").read_text()
          .splitlines()]
    proto = next(a["protocol"] for a in v0 if "protocol" in a)
    assert proto == {"minReaderVersion": 1, "minWriterVersion": 2}
    md = next(a["metaData"] for a in v0 if "metaData" in a)
    assert md["partitionColumns"] == ["day"]
    names = [f["name"] for f in json.loads(md["schemaString"])["fields"]]
    assert names == [*LEG_SCHEMA.names, "day"]


def test_a_store_written_with_another_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    v0 = store.root / "_delta_log" / f"{0:020d}.json"
    actions = [json.loads(x) for x in v0.read_text().splitlines()]
    for a in actions:
        if "metaData" in a:
            schema = json.loads(a["metaData"]["schemaString"])
            schema["fields"] = schema["fields"][:-2] + schema["fields"][-1:]  # a column fewer
            a["metaData"]["schemaString"] = json.dumps(schema)
    v0.write_text("".join(json.dumps(a) + "\n" for a in actions))
    with pytest.raises(StoreError, match="different call-leg schema") as e:
        Store.open(store.root)
    assert "Re-ingest" in str(e.value)


def _edit_v0(store: Store, edit: Callable[[dict[str, Any]], None]) -> None:
    v0 = store.root / "_delta_log" / f"{0:020d}.json"
    actions = [json.loads(x) for x in v0.read_text().splitlines()]
    for a in actions:
        edit(a)
    v0.write_text("".join(json.dumps(a) + "\n" for a in actions))
    Store._cache.clear()


def test_a_store_a_newer_tracehop_wrote_says_to_upgrade(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)

    def add_column(a: dict[str, Any]) -> None:
        if "metaData" in a:
            schema = json.loads(a["metaData"]["schemaString"])
            schema["fields"].insert(-1, {"name": "stir_verstat", "type": "string",
                                         "nullable": True, "metadata": {}})
            a["metaData"]["schemaString"] = json.dumps(schema)

    _edit_v0(store, add_column)
    with pytest.raises(StoreError, match="newer tracehop") as e:
        Store.open(store.root)
    assert "stir_verstat" in str(e.value) and "Upgrade tracehop" in str(e.value)
    assert "re-ingest" not in str(e.value).lower()


def test_a_table_upgraded_by_another_tool_is_read_but_not_written(tmp_path: Path) -> None:
    """minWriterVersion above ours (Spark turned on change data feed): lookups work, writes
    are refused before anything is written, naming the store."""
    store = Store.open(tmp_path / "s", create=True)
    store.commit(legs(20), empty_rejects(), [])

    def upgrade(a: dict[str, Any]) -> None:
        if "protocol" in a:
            a["protocol"]["minWriterVersion"] = 4

    _edit_v0(store, upgrade)
    st = Store.open(store.root)
    assert st.snapshot().rows == 20
    for write in (lambda: st.commit(legs(5, prefix="N"), empty_rejects(), []),
                  lambda: st.compact(rewrite=True)):
        with pytest.raises(StoreError, match="writer version 4") as e:
            write()
        assert str(store.root) in str(e.value)
    assert st.version == 1
    assert {p.relative_to(store.root).as_posix() for p in store.root.rglob("*.parquet")} \
        == {f.path for f in st.snapshot().data_files()}


def test_a_store_needing_a_newer_delta_reader_names_the_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)

    def upgrade(a: dict[str, Any]) -> None:
        if "protocol" in a:
            a["protocol"]["minReaderVersion"] = 3

    _edit_v0(store, upgrade)
    with pytest.raises(StoreError, match="reader version 3") as e:
        Store.open(store.root)
    assert str(store.root) in str(e.value)


def test_a_store_deleted_and_recreated_at_the_same_path_is_not_confused(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "s"
    first = Store.open(root, create=True)
    for s in range(3):
        first.commit(legs(30, seed=s, prefix=f"P{s}_"), empty_rejects(), [])
    assert first.snapshot().rows == 90
    shutil.rmtree(root)
    again = Store.open(root, create=True)  # same process, same path: the cache must not answer
    assert again.snapshot().version == 0 and again.snapshot().rows == 0
    again.commit(legs(5), empty_rejects(), [])
    assert again.snapshot().rows == 5 and first.snapshot().rows == 5


def test_files_committed_together_keep_their_own_counts_with_duplicates(store: Store) -> None:
    """Several files in one commit, some of their legs already stored (the same file ingested
    twice at once, a grown file's race): each record counts its own stored legs, by the
    leg-id prefix its legs carry."""
    a, b = "a" * 16, "b" * 16
    first = legs(3, prefix=f"{a}:")
    store.commit(first, empty_rejects(), [frec("a" * 64, rows=3)])
    again = pa.concat_tables([legs(5, prefix=f"{a}:"), legs(2, seed=3, prefix=f"{b}:")])
    grown = dataclasses.replace(frec("a" * 63 + "c", rows=5), id_prefix=a, legs_given=5)
    other = dataclasses.replace(frec("b" * 64, rows=3, path="Other.csv"), legs_given=2,
                                rejected=1)
    r = store.commit(again, empty_rejects(), [grown, other])
    assert (r.stored, r.duplicates) == (4, 3)
    recs = {f.file_id: f for f in store.ingested_files()}
    assert (recs[grown.file_id].stored, recs[grown.file_id].duplicates) == (2, 3)
    assert (recs[other.file_id].stored, recs[other.file_id].duplicates) == (2, 0)
