"""Compaction merges small rejects files (store/rejectmerge.py): a store ingested every few
minutes for years must not pile up one rejects file per ingest. Every reject keeps its file,
line and reason, the per-file counts still add up, forget and a grown file's ingest still find
a file's rejects in a merged file, and vacuum deletes the merged-away files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

# One 18-column cdr_csv record a call, as the growth tests write them.
from test_ingest_growth import _line, _write

from tracehop.cli import cli
from tracehop.ingest.run import ingest_paths
from tracehop.store import Store, read_rejects
from tracehop.store.forget import OWNER_COLUMN


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def _listed(store: Path, **kw: object) -> list[tuple[str, int | None, str]]:
    return [(r.file, r.line, r.reason) for r in read_rejects(store, **kw).rejects]  # type: ignore[arg-type]


def _ingest_several(tmp_path: Path, store: Path | Store, n: int) -> list[Path]:
    """``n`` files ingested one by one, each with a good record and 1-2 rejected lines."""
    paths = []
    for k in range(n):
        p = tmp_path / f"cdr{k}.csv"
        _write(p, [_line(k), *[f"bad,{k},{j}" for j in range(1 + k % 2)]])
        res = ingest_paths([p], store, format="asterisk_cdr_csv")
        assert res.rejected == 1 + k % 2
        paths.append(p)
    return paths


def test_compact_merges_rejects_keeping_each_one_and_the_counts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _ingest_several(tmp_path, store, 5)
    st = Store.open(store)
    before_files = len(st.snapshot().reject_files())
    assert before_files == 5
    listed = _listed(store)
    per_version = {v: _listed(store, version=v) for v in range(1, 6)}
    records = _run("files", "--store", str(store), "--json")

    out = json.loads(_run("compact", "--store", str(store), "--json"))
    assert [r["files_before"] for r in out["rejects"]] == [5]
    assert out["rejects"][0]["rows"] == len(listed) == 7
    snap = Store.open(store).snapshot()
    assert len(snap.reject_files()) == 1 and snap.rejected_rows == 7
    # Same rejects, same order (newest ingest first), same counts per file.
    assert _listed(store) == listed
    assert _run("files", "--store", str(store), "--json") == records
    for rec in json.loads(records)["files"]:
        assert rec["rowsRead"] == rec["stored"] + rec["rejected"] + rec["duplicates"]
    assert [r.file for r in read_rejects(store, file="cdr3.csv").rejects] == [
        str(tmp_path / "cdr3.csv")] * 2
    # A second compaction has nothing to merge.
    assert json.loads(_run("compact", "--store", str(store), "--json"))["version"] is None

    # Vacuum deletes the merged-away files; each ingest's rejects are still found by version.
    vac = json.loads(_run("compact", "--store", str(store), "--vacuum-hours", "0", "--json"))
    assert vac["vacuum"]["deleted"] == 10  # the 5 files of the day and the 5 rejects files
    assert sorted(os.listdir(store / "_rejects")) == sorted(
        Path(p).name for p in Store.open(store).snapshot().reject_files())
    assert _listed(store) == listed
    for v, rows in per_version.items():
        assert _listed(store, version=v) == rows
        assert read_rejects(store, version=v).total == len(rows)


def test_the_automatic_compaction_merges_rejects_past_the_threshold(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store", create=True, compact_threshold=3)
    _ingest_several(tmp_path, store, 4)
    # The fourth reject file made four small ones, more than 3: merged after that commit.
    assert len(store.snapshot().reject_files()) == 1
    assert read_rejects(store).total == 6
    extra = tmp_path / "extra.csv"
    _write(extra, [_line(9), "bad,extra"])
    ingest_paths([extra], store, format="asterisk_cdr_csv")
    assert len(store.snapshot().reject_files()) == 2  # two small ones: under the threshold


def test_a_file_of_the_same_name_keeps_its_own_rejects_through_forget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two files ingested as ``Master.csv`` from two directories: their rejects name both
    ``Master.csv``. Merged into one file, the one forgotten takes only its own rejects."""
    store = tmp_path / "store"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # b, then a, then b rewritten (not grown): a is neither the first nor the last owner.
    for d, k, bad in (("b", 1, "bad,b"), ("a", 2, "bad,a"), ("b", 3, "bad,b2")):
        _write(tmp_path / d / "Master.csv", [_line(k), bad])
        monkeypatch.chdir(tmp_path / d)
        ingest_paths([Path("Master.csv")], store, format="asterisk_cdr_csv")
    assert sorted(r.raw or "" for r in read_rejects(store).rejects) == [
        "bad,a", "bad,b", "bad,b2"]
    _run("compact", "--store", str(store))
    (merged,) = Store.open(store).snapshot().reject_files()
    assert OWNER_COLUMN in pq.read_schema(merged).names

    _run("forget", str(tmp_path / "a" / "Master.csv"), "--store", str(store))
    assert sorted(r.raw or "" for r in read_rejects(store).rejects) == ["bad,b", "bad,b2"]


def test_a_grown_files_reread_line_leaves_a_merged_rejects_file(tmp_path: Path) -> None:
    """A Master.csv caught mid-write rejects its cut last line; after the rejects were merged,
    the grown file's ingest reads that line whole and its reject leaves the merged file."""
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    other = _ingest_several(tmp_path, store, 2)
    lines = [_line(i) for i in range(10, 14)]
    _write(master, [*lines[:3], lines[3][:40]], end="")
    assert ingest_paths([master], store).rejected == 1
    _run("compact", "--store", str(store))
    assert len(Store.open(store).snapshot().reject_files()) == 1
    assert read_rejects(store).total == 4
    _write(master, lines)
    grown = ingest_paths([master], store)
    assert (grown.stored, grown.rejected) == (1, 0)
    assert read_rejects(store, file="Master.csv").total == 0
    assert {r.file for r in read_rejects(store).rejects} == {str(p) for p in other}


def test_a_damaged_rejects_file_is_left_out_of_the_merge(tmp_path: Path) -> None:
    """Compaction (automatic after every commit, too) must not stop on a damaged rejects
    file: the others are merged, and `tracehop rejects` still names the damaged one."""
    store = tmp_path / "store"
    _ingest_several(tmp_path, store, 3)
    files = Store.open(store).snapshot().reject_files()
    Path(files[1]).write_bytes(b"not parquet")
    out = json.loads(_run("compact", "--store", str(store), "--json"))
    assert [r["files_before"] for r in out["rejects"]] == [2]
    assert files[1] in Store.open(store).snapshot().reject_files()
    res = CliRunner().invoke(cli, ["rejects", "--store", str(store)])
    assert res.exit_code != 0 and Path(files[1]).name in res.output


def test_an_ingests_rejects_are_found_after_a_forget_rewrote_their_file_and_vacuum(
        tmp_path: Path) -> None:
    """Two files in one commit share its rejects file; forgetting one writes it again with
    the other's rows. Once vacuum deleted the old file, the rejects of that ingest are found
    in the new one (they were "missing": an error naming a damaged store)."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _write(a, [_line(1), "bad,a"])
    _write(b, [_line(2), "bad,b1", "bad,b2"])
    store = tmp_path / "store"
    version = ingest_paths([a, b], store, format="asterisk_cdr_csv").version
    _run("forget", str(a), "--store", str(store))
    Store.open(store).vacuum(0)
    assert sorted(r.raw or "" for r in read_rejects(store, version=version).rejects) == [
        "bad,b1", "bad,b2"]


def test_a_large_rejects_file_is_left_and_the_order_kept_around_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracehop.store import rejectmerge

    store = tmp_path / "store"
    for k in range(5):
        p = tmp_path / f"cdr{k}.csv"
        bad = 400 if k == 2 else 1  # the third ingest's rejects file is the large one
        _write(p, [_line(k), *[f"bad,{k},{j}" for j in range(bad)]])
        ingest_paths([p], store, format="asterisk_cdr_csv")
    sizes = [r.size for r in Store.open(store).snapshot().reject_entries()]
    monkeypatch.setattr(rejectmerge, "SMALL_REJECTS_BYTES", sorted(sizes)[-1])
    listed = _listed(store)
    out = json.loads(_run("compact", "--store", str(store), "--json"))
    assert [r["files_before"] for r in out["rejects"]] == [2, 2]
    entries = Store.open(store).snapshot().reject_entries()
    assert [e.version for e in entries] == [None, 3, None]
    assert _listed(store) == listed


def test_a_forget_landing_while_rejects_are_merged_is_not_undone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forget commits while a compaction merges: the compaction, losing the race, merges
    again from the forget's files (its first merge would bring the forgotten rejects back)."""
    from tracehop.store.log import TransactionLog

    store = tmp_path / "store"
    paths = _ingest_several(tmp_path, store, 3)
    gone = Store.open(store).ingested_files()[0]
    real_write = TransactionLog.write
    raced: list[int] = []

    def write(self: TransactionLog, version: int, actions: list[dict[str, object]]) -> None:
        if not raced:
            raced.append(version)
            Store.open(store).forget([gone.file_id])  # lands first, takes `version`
        real_write(self, version, actions)

    monkeypatch.setattr(TransactionLog, "write", write)
    result = Store.open(store).compact()
    assert raced and result.version == raced[0] + 1
    assert {r.file for r in read_rejects(store).rejects} == {str(p) for p in paths[1:]}
    assert read_rejects(store).total == 3
    assert len(Store.open(store).snapshot().reject_files()) == 1
    # Nothing of the lost attempt is left behind: every rejects file is referenced or
    # replaced in the log.
    state = TransactionLog(store).replay()
    on_disk = {f"_rejects/{n}" for n in os.listdir(store / "_rejects")}
    assert on_disk <= set(state.rejects) | set(state.tombstones)
