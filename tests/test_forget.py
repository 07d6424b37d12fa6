"""`tracehop forget`: what an ingested file put in the store leaves it in one version, so that
the file can be ingested anew (the fix for an ingest run with the wrong --tz)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.run import ingest_paths
from tracehop.store import Store, read_rejects

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _line(i: int, called: str = "312555", hour: int = 14) -> str:
    # One 18-column cdr_csv record as Asterisk writes it, local time without a zone; no
    # uniqueid epoch (so that the zone given is the only one), numbered calls one minute apart.
    stamp = f"2026-11-20 {hour:02d}:{i % 60:02d}:40"
    return (f'"","202555{i:04d}","{called}{i:04d}","from-trunk","""X"" <202555{i:04d}>",'
            f'"PJSIP/acme_in-{i:08x}","PJSIP/200-{i:08x}","Dial","PJSIP/200,60","{stamp}",'
            f'"{stamp}","{stamp}",30,25,"ANSWERED","DOCUMENTATION","host-{i}",""')


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def _legs(store: Path) -> pl.DataFrame:
    files = Store.open(store).snapshot().all_files()
    if not files:
        return pl.DataFrame({"leg_id": [], "source_file": [], "called_e164": [],
                             "start_utc": []})
    return pl.concat(pl.read_parquet(f, columns=["leg_id", "source_file", "called_e164",
                                                 "start_utc"]) for f in files)


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_forget_then_ingest_with_the_right_zone(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(5)] + ["not,a,cdr"])
    wrong = ingest_paths([master], store, tz="UTC")
    assert (wrong.stored, wrong.rejected) == (5, 1)
    assert ingest_paths([master], store, tz="America/Chicago").stored == 0  # skipped as done

    out = json.loads(_run("forget", str(master), "--store", str(store), "--json"))
    assert (out["legs_removed"], out["rejects_removed"]) == (5, 1)
    assert [f["path"] for f in out["files"]] == [str(master.resolve())]
    st = Store.open(store)
    assert st.snapshot().rows == 0
    assert st.ingested_files() == []
    assert read_rejects(store).total == 0

    right = ingest_paths([master], store, tz="America/Chicago")
    assert (right.read, right.stored, right.rejected, right.duplicates) == (6, 5, 1, 0)
    starts = sorted(_legs(store).get_column("start_utc").to_list())
    # 14:00:40 in Chicago (CST, UTC-6) is 20:00:40 UTC.
    assert starts[0] == datetime(2026, 11, 20, 20, 0, 40, tzinfo=UTC)
    assert read_rejects(store).total == 1


def test_the_other_files_of_a_commit_and_of_a_day_stay(tmp_path: Path) -> None:
    """Two files ingested together share the day file and the reject file of their commit:
    forgetting one leaves the other's legs (in store order) and rejected records."""
    d = tmp_path / "cdr"
    d.mkdir()
    _write(d / "a.csv", [_line(i, "312555") for i in range(6)] + ["bad,a"])
    _write(d / "b.csv", [_line(i, "213555") for i in range(4)] + ["bad,b", "bad,b2"])
    store = tmp_path / "store"
    os.chdir(tmp_path)  # relative paths as given: the rejects name "cdr/a.csv"
    summary = ingest_paths([Path("cdr")], store, tz="UTC")
    assert (summary.stored, summary.rejected) == (10, 3)
    snap = Store.open(store).snapshot()
    assert snap.file_count == 1

    _run("forget", "cdr/a.csv", "--store", str(store))
    legs = _legs(store)
    assert legs.height == 4
    assert set(legs.get_column("source_file").to_list()) == {"cdr/b.csv"}
    assert legs.get_column("called_e164").is_sorted()
    left = read_rejects(store)
    assert left.total == 2 and {r.file for r in left.rejects} == {"cdr/b.csv"}
    assert [r.path for r in Store.open(store).ingested_files()] == [str((d / "b.csv").resolve())]
    # The old snapshot still reads: the replaced files stay until vacuum.
    assert sum(pq.read_metadata(f).num_rows for f in snap.all_files()) == 10


def test_a_grown_file_is_forgotten_with_all_its_versions(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(4)]
    _write(master, lines)
    ingest_paths([master], store, tz="UTC")
    _write(master, lines + [_line(i) for i in range(4, 7)])
    assert ingest_paths([master], store, tz="UTC").stored == 3
    other = tmp_path / "other.csv"
    _write(other, [_line(i, "415555") for i in range(2)])
    ingest_paths([other], store, tz="UTC")
    Store.open(store).compact()  # the files' legs now share one file per day

    dry = json.loads(_run("forget", str(master), "--store", str(store), "--dry-run",
                          "--json"))
    assert len(dry["files"]) == 2  # both versions, as the real run drops them
    out = json.loads(_run("forget", str(master), "--store", str(store), "--json"))
    assert len(out["files"]) == 2 and out["legs_removed"] == 7
    assert _legs(store).height == 2
    again = ingest_paths([master], store, tz="UTC")
    assert (again.read, again.stored) == (7, 7)  # read whole: no version is left to resume


def test_by_id_and_the_errors(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(3)])
    ingest_paths([master], store, tz="UTC")
    listed = json.loads(_run("files", "--store", str(store), "--json"))["files"]
    fid = listed[0]["fileId"]
    assert fid[:12] in _run("files", "--store", str(store))

    runner = CliRunner()
    res = runner.invoke(cli, ["forget", "nowhere.csv", "--store", str(store)])
    assert res.exit_code == 1
    assert "nowhere.csv: no ingested file of this store" in res.output
    assert "tracehop files" in res.output
    dry = runner.invoke(cli, ["forget", fid[:10], "--store", str(store), "--dry-run"])
    assert dry.exit_code == 0 and "Would forget" in dry.output
    assert Store.open(store).snapshot().rows == 3  # dry run: nothing changed

    # The file moved away since: its content no longer names it, its id still does.
    master.unlink()
    assert "Removed 3 legs" in _run("forget", fid[:10], "--store", str(store))
    assert Store.open(store).snapshot().rows == 0


def test_a_capture_is_refused(tmp_path: Path) -> None:
    pcap = tmp_path / "calls_udp.pcap"
    shutil.copy(FIXTURES / "sip" / "calls_udp.pcap", pcap)
    store = tmp_path / "store"
    assert ingest_paths([pcap], store).stored > 0
    res = CliRunner().invoke(cli, ["forget", str(pcap), "--store", str(store)])
    assert res.exit_code == 1
    assert "capture cannot be forgotten" in res.output
    assert Store.open(store).ingested_files()


def test_a_commit_landing_meanwhile_is_kept(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget plans on one version; an ingest that commits meanwhile makes it plan again on
    top, and the file written by the lost attempt is deleted."""
    import tracehop.store.forget as forget_mod

    d, store = tmp_path / "cdr", tmp_path / "store"
    d.mkdir()
    _write(d / "a.csv", [_line(i) for i in range(3)])
    _write(d / "keep.csv", [_line(i, "213555") for i in range(2)])
    late = tmp_path / "late.csv"
    _write(late, [_line(i, "415555") for i in range(2)])
    ingest_paths([d], store, tz="UTC")
    (shared,) = Store.open(store).snapshot().all_files()
    real = forget_mod._rewrite_legs
    calls: list[int] = []

    def racing(*args: object, **kw: object) -> object:
        out = real(*args, **kw)  # type: ignore[arg-type]
        if not calls:
            ingest_paths([late], store, tz="UTC")
        calls.append(1)
        return out

    monkeypatch.setattr(forget_mod, "_rewrite_legs", racing)
    st = Store.open(store)
    (a,) = [r for r in st.ingested_files() if r.path.endswith("a.csv")]
    result = st.forget([a.file_id])
    assert len(calls) == 2 and result.legs_removed == 3
    assert sorted(_legs(store).get_column("source_file").str.extract(r"(\w+)\.csv$")
                  .to_list()) == ["keep", "keep", "late", "late"]
    live = set(Store.open(store).snapshot().all_files())
    on_disk = {str(p) for p in (store / "legs").rglob("*.parquet")}
    # Besides the live files only the replaced one (kept for older snapshots): the lost
    # attempt's rewrite was deleted.
    assert on_disk - live == {shared}


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path) -> object:
    old = Path.cwd()
    yield
    os.chdir(old)


def test_rejects_of_a_file_are_found_by_the_path_tracehop_files_shows(tmp_path: Path) -> None:
    """A file ingested by a relative path keeps that path in its rejects; `tracehop files`
    shows the absolute one: `rejects --file` finds them by either."""
    d = tmp_path / "cdr"
    d.mkdir()
    _write(d / "Master.csv", [_line(i) for i in range(3)] + ["bad,line"])
    os.chdir(tmp_path)
    ingest_paths([Path("cdr/Master.csv")], tmp_path / "store", tz="UTC")
    shown = json.loads(_run("files", "--store", str(tmp_path / "store"), "--json"))
    absolute = shown["files"][0]["path"]
    for name in (absolute, "cdr/Master.csv", "Master.csv"):
        found = json.loads(_run("rejects", "--store", str(tmp_path / "store"), "--file", name,
                                "--json"))
        assert found["total"] == 1, name
    none = json.loads(_run("rejects", "--store", str(tmp_path / "store"), "--file",
                           "/elsewhere/cdr/Other.csv", "--json"))
    assert none["total"] == 0
