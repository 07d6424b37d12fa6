"""`tracehop compact`: the command a provider runs (or schedules) to keep lookups fast."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.schema import UTC_US, empty_rejects
from tracehop.store import Store

T0_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)


def fragmented_store(root: Path) -> Store:
    store = Store.open(root, create=True, compact_threshold=100)
    for b in range(3):
        ids = [f"B{b}{i:03d}" for i in range(100)]
        start = [T0_US + (i % 2) * 86_400_000_000 + b * 1000 + i for i in range(100)]
        store.commit(pa.table({"leg_id": ids,
                               "start_utc": pa.array(start, pa.int64()).cast(UTC_US),
                               "called_e164": [f"+1312555{i:04d}" for i in range(100)]}),
                     empty_rejects(), [])
    return store


def test_compact_json_reports_each_day(tmp_path: Path) -> None:
    store = fragmented_store(tmp_path / "s")
    res = CliRunner().invoke(cli, ["compact", "--store", str(store.root), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["files_removed"] == 6 and out["files_added"] == 2
    assert [(d["day"], d["files_before"], d["rows"]) for d in out["days"]] == [
        ("2026-10-01", 3, 150), ("2026-10-02", 3, 150)]
    assert store.snapshot().file_count == 2


def test_compact_one_day_then_vacuum_text_output(tmp_path: Path) -> None:
    store = fragmented_store(tmp_path / "s")
    res = CliRunner().invoke(cli, ["compact", "--store", str(store.root), "--day", "2026-10-02",
                                   "--vacuum-hours", "0"])
    assert res.exit_code == 0, res.output
    assert "2026-10-02: 3 files -> 1 (150 rows" in res.output
    assert "Vacuum: deleted 3 files" in res.output
    assert len(list((store.root / "legs").rglob("*.parquet"))) == 4
    again = CliRunner().invoke(cli, ["compact", "--store", str(store.root), "--day", "2026-10-02"])
    assert "Nothing to compact" in again.output


def test_compact_on_a_missing_store_is_one_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["compact", "--store", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "Error:" in res.output and "no tracehop store" in res.output
    assert "tracehop ingest" in res.output  # how to fix it


def test_compact_help_has_an_example() -> None:
    res = CliRunner().invoke(cli, ["compact", "--help"])
    assert res.exit_code == 0 and "tracehop compact --store" in res.output


def test_rewrite_brings_single_file_days_to_the_current_layout(tmp_path: Path) -> None:
    """A day written with an older layout (here: all zstd) is rewritten by --rewrite, rows and
    order unchanged, while a plain compact leaves single-file days alone."""
    import duckdb
    import pyarrow.parquet as pq

    store = fragmented_store(tmp_path / "s")
    store.compact()
    (first, *_) = sorted(store.snapshot().all_files())
    before = pq.read_table(first)
    pq.write_table(before, first, compression="zstd", write_page_index=True)  # "old" layout
    plain = CliRunner().invoke(cli, ["compact", "--store", str(store.root)])
    assert "Nothing to compact" in plain.output
    res = CliRunner().invoke(cli, ["compact", "--store", str(store.root), "--rewrite", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["files_added"] == 2
    snap = store.snapshot()
    assert snap.file_count == 2 and first not in snap.all_files()
    (rewritten,) = [f for f in snap.all_files() if "2026-10-01" in f]
    assert pq.read_table(rewritten).select(before.column_names).equals(before)
    codecs = {c for (c,) in duckdb.sql(
        f"SELECT DISTINCT compression FROM parquet_metadata('{rewritten}') "
        "WHERE path_in_schema = 'called_e164'").fetchall()}
    assert codecs == {"LZ4_RAW"}


def test_a_file_given_as_the_store_is_one_error_line_with_the_fix(tmp_path: Path) -> None:
    # click's own refusal came with a usage text, exit 2, no fix, and no --json summary.
    f = tmp_path / "calls.store"
    f.write_text("not a store\n")
    cdr = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "asterisk_cdr_csv" / \
        "Master_18col.csv"
    for args in (["ingest", str(cdr), "--tz", "UTC"], ["files"], ["rejects"],
                 ["forget", str(cdr)], ["compact"]):
        res = CliRunner().invoke(cli, [*args, "--store", str(f)])
        assert res.exit_code == 1, (args, res.output)
        assert "Usage:" not in res.stderr and "Traceback" not in res.stderr
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1 and str(f) in errors[0], (args, res.stderr)
        assert "another --store" in errors[0]
    res = CliRunner().invoke(cli, ["ingest", str(cdr), "--tz", "UTC", "--json", "--store", str(f)])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["stored"] == 0 and "another --store" in out["errors"][0]["error"]
    assert f.read_text() == "not a store\n"


def test_ctrl_c_after_compact_linked_its_version_keeps_the_new_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Interrupted while the log directory is synced, after the link that commits: the
    # clean-up for a failed compaction deleted the day files the new version names.
    import pyarrow.parquet as pq

    import tracehop.store.log as log

    store = fragmented_store(tmp_path / "s")
    target = store.log.version_path(Store.open(store.root).version + 1)
    real = log.fsync_dir

    def interrupted(path: Path) -> None:
        if target.exists():
            raise KeyboardInterrupt
        real(path)

    monkeypatch.setattr(log, "fsync_dir", interrupted)
    res = CliRunner().invoke(cli, ["compact", "--store", str(store.root)])
    assert res.exit_code != 0 and target.exists()
    monkeypatch.setattr(log, "fsync_dir", real)
    snap = Store.open(store.root).snapshot()
    assert snap.file_count == 2
    assert pq.read_table(snap.all_files()).num_rows == 300
