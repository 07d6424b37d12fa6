"""A CDR file that grows by appending (Asterisk's Master.csv) is read on from where the store's
version of it ends: re-ingesting it on a schedule stores each record once, its leg_ids and line
numbers stable (DESIGN §4: "re-ingesting a file that was already ingested adds nothing")."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.run import ingest_paths
from tracehop.store import Store


def _line(i: int) -> str:
    # One 18-column cdr_csv record (loguniqueid, loguserfield), written in UTC.
    epoch = 1795183420 + 60 * i
    stamp = f"2026-11-20 {14 + (3 + i) // 60:02d}:{(3 + i) % 60:02d}:40"
    return (f'"","202555{i:04d}","312555{i:04d}","from-trunk","""X"" <202555{i:04d}>",'
            f'"PJSIP/acme_in-{i:08x}","PJSIP/200-{i:08x}","Dial","PJSIP/200,60","{stamp}",'
            f'"{stamp}","{stamp}",30,25,"ANSWERED","DOCUMENTATION","{epoch}.{i}",""')


def _write(path: Path, lines: list[str], *, end: str = "\n") -> None:
    path.write_text("\n".join(lines) + end)


def _legs(store: Path) -> dict[str, int]:
    """leg_id -> source_record of every stored leg."""
    out: dict[str, int] = {}
    for f in Store.open(store).snapshot().all_files():
        t = pq.read_table(f, columns=["leg_id", "source_record"])
        out.update(zip(t.column("leg_id").to_pylist(), t.column("source_record").to_pylist(),
                       strict=True))
    return out


def test_a_grown_file_adds_only_its_new_records(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(5)]
    _write(master, lines)
    first = ingest_paths([master], store)
    assert (first.read, first.stored) == (5, 5)
    before = _legs(store)

    lines += [_line(i) for i in range(5, 8)]
    _write(master, lines)
    grown = ingest_paths([master], store)
    assert (grown.read, grown.stored, grown.duplicates, grown.rejected) == (8, 3, 5, 0)
    assert grown.per_file[0].resumed_at == master.stat().st_size - len(
        "\n".join(lines[5:]) + "\n")
    after = _legs(store)
    assert len(after) == 8
    # The legs already stored keep their ids; the new ones number on from line 6.
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(v for k, v in after.items() if k not in before) == [6, 7, 8]

    again = ingest_paths([master], store)  # unchanged since: nothing new
    assert (again.read, again.stored, again.duplicates) == (8, 0, 8)
    assert again.per_file[0].skipped

    lines += [_line(8)]
    _write(master, lines)
    third = ingest_paths([master], store)  # grown again: from the second version's end
    assert (third.stored, third.duplicates) == (1, 8)
    assert len(_legs(store)) == 9


def test_a_version_cut_mid_line_is_read_on_from_its_last_whole_line(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(4)]
    cut = lines[3][: len(lines[3]) // 2]  # the switch was still writing record 4
    _write(master, [*lines[:3], cut], end="")
    ingest_paths([master], store)
    _write(master, lines)
    grown = ingest_paths([master], store)
    assert grown.per_file[0].resumed_at is not None
    legs = _legs(store)
    # Records 1-3 once each, and record 4 whole (its cut version was rejected, not stored).
    assert sorted(legs.values()) == [1, 2, 3, 4]
    # The file's 4 records, read once each in this run: record 4 is read again (stored now),
    # not counted among the records read before.
    assert (grown.read, grown.stored, grown.duplicates, grown.rejected) == (4, 1, 3, 0)


def test_a_rewritten_file_is_read_whole(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(3)])
    ingest_paths([master], store)
    _write(master, [_line(i) for i in range(10, 15)])  # same name, other content, longer
    res = ingest_paths([master], store)
    assert res.per_file[0].resumed_at is None
    assert (res.stored, res.duplicates) == (5, 0)


def test_the_cli_reports_the_resumed_file(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(2)])
    run = CliRunner().invoke
    assert run(cli, ["ingest", str(master), "--store", str(store)]).exit_code == 0
    _write(master, [_line(i) for i in range(3)])
    r = run(cli, ["ingest", str(master), "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert (s["read"], s["stored"], s["duplicates"]) == (3, 1, 2)
    assert s["per_file"][0]["resumed_at"] > 0


def test_a_file_rotated_by_copytruncate_is_read_on_from_the_live_files_version(
        tmp_path: Path) -> None:
    # logrotate's copytruncate: Master.csv is copied to Master.csv.1 (with the lines written
    # since the last ingest) and emptied; the switch goes on writing Master.csv.
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(4)]
    _write(master, lines)
    ingest_paths([master], store)
    _write(tmp_path / "Master.csv.1", [*lines, _line(4)])
    _write(master, [_line(5)])
    res = ingest_paths([tmp_path / "Master.csv.1", master], store)
    assert res.per_file[0].resumed_at is not None
    assert (res.stored, res.duplicates) == (2, 4)
    assert len(_legs(store)) == 6


def test_a_grown_file_is_found_however_its_path_is_spelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The scheduled ingest names the file one way, a person another: relative from another
    # directory, absolute. The store's record of it is by absolute path.
    (tmp_path / "cdr").mkdir()
    master, store = tmp_path / "cdr" / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(3)]
    _write(master, lines)
    monkeypatch.chdir(tmp_path)
    ingest_paths([Path("cdr/Master.csv")], store)
    _write(master, [*lines, _line(3)])
    monkeypatch.chdir(tmp_path / "cdr")
    res = ingest_paths([Path("Master.csv")], store)
    assert (res.stored, res.duplicates) == (1, 3)
    _write(master, [*lines, _line(3), _line(4)])
    res = ingest_paths([master.resolve()], store)
    assert (res.stored, res.duplicates) == (1, 4)
    assert len(_legs(store)) == 5


def test_a_grown_copy_in_another_directory_adds_only_its_new_records(tmp_path: Path) -> None:
    """An archive copy of the live Master.csv, taken after it grew: its first records are
    the ones already stored (same leg_ids), only the new ones are added."""
    live, archive = tmp_path / "live", tmp_path / "archive"
    live.mkdir()
    archive.mkdir()
    lines = [_line(i) for i in range(6)]
    _write(live / "Master.csv", lines)
    assert ingest_paths([live / "Master.csv"], tmp_path / "store").stored == 6
    _write(archive / "Master.csv", lines + [_line(i) for i in range(6, 9)])
    copy = ingest_paths([archive / "Master.csv"], tmp_path / "store")
    assert (copy.read, copy.stored, copy.duplicates) == (9, 3, 6)
    assert len(_legs(tmp_path / "store")) == 9
    # Another server's Master.csv of the same name shares no bytes: read whole.
    other = tmp_path / "other"
    other.mkdir()
    _write(other / "Master.csv", [_line(i) for i in range(20, 23)])
    assert ingest_paths([other / "Master.csv"], tmp_path / "store").stored == 3


def test_the_same_file_ingested_twice_at_once_keeps_its_rejects_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs of one file race for the store: the loser's legs are duplicates, and so are
    its rejects (the winner recorded them): `tracehop rejects` lists them once."""
    from tracehop.store import read_rejects
    from tracehop.store.log import TransactionLog

    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(5)] + ["not,a,record"])
    Store.open(store, create=True)
    real = TransactionLog.write
    raced: list[int] = []

    def write(self: TransactionLog, version: int, actions: list[dict[str, object]]) -> None:
        if not raced and any("commitInfo" in a for a in actions) and version > 0:
            raced.append(version)
            other = ingest_paths([master], store)  # the other run commits this version first
            assert (other.stored, other.rejected) == (5, 1)
        real(self, version, actions)

    monkeypatch.setattr(TransactionLog, "write", write)
    loser = ingest_paths([master], store)
    assert raced
    assert (loser.read, loser.stored, loser.rejected, loser.duplicates) == (6, 0, 0, 6)
    assert read_rejects(store).total == 1
    assert len(_legs(store)) == 5


@pytest.mark.parametrize("cut_at", ['"ANSWERED",', '"ANSWERED","DOCUMENTATION","17951'])
def test_a_last_line_cut_mid_record_is_rejected_and_read_whole_later(tmp_path: Path,
                                                                     cut_at: str) -> None:
    """A Master.csv copied while a record was being written ends in the middle of it. Cut at
    a field boundary it used to read as a shorter cdr_csv layout: a damaged leg that stayed
    when the file grew (the whole line then was the same leg). It is a reject (DESIGN §7:
    a malformed record goes to the rejects), and the grown file's next ingest reads it."""
    from tracehop.store import read_rejects

    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(4)]
    last = lines[3]
    _write(master, [*lines[:3], last[:last.index(cut_at) + len(cut_at)]], end="")
    first = ingest_paths([master], store)
    assert (first.read, first.stored, first.rejected) == (4, 3, 1)
    (rej,) = read_rejects(store).rejects
    assert rej.line == 4 and ("no line end" in rej.reason or "unterminated" in rej.reason)
    _write(master, [*lines, _line(4)])
    grown = ingest_paths([master], store)
    assert (grown.stored, grown.rejected) == (2, 0)
    assert sorted(_legs(store).values()) == [1, 2, 3, 4, 5]
    # The stored leg of line 4 is the whole record.
    raws = [r for f in Store.open(store).snapshot().all_files()
            for r in pq.read_table(f, columns=["raw_record"]).column(0).to_pylist()]
    assert last in raws
    # The cut line's reject is gone with it: the record is in the store now.
    assert read_rejects(store).total == 0
    assert read_rejects(store, version=1).total == 1  # what that ingest reported stays


def test_a_cut_line_that_is_still_bad_when_whole_is_rejected_once(tmp_path: Path) -> None:
    from tracehop.store import read_rejects

    master, store = tmp_path / "Master.csv", tmp_path / "store"
    bad = _line(3).replace('"2026-11-20', '"2026-13-20')  # no 13th month
    lines = [_line(i) for i in range(3)]
    _write(master, [*lines, bad[:40]], end="")
    ingest_paths([master], store)
    _write(master, [*lines, bad, _line(4)])
    grown = ingest_paths([master], store)
    assert (grown.stored, grown.rejected) == (1, 1)
    (rej,) = read_rejects(store).rejects
    assert rej.line == 4 and rej.raw == bad


def test_only_the_grown_files_reread_lines_lose_their_rejects(tmp_path: Path) -> None:
    """Two files ingested together share one reject file: the grown one's cut line goes, the
    other's reject and the grown file's earlier rejects stay, in a reject file written anew
    in the same store version."""
    from tracehop.store import read_rejects

    a, b, store = tmp_path / "a" / "Master.csv", tmp_path / "b" / "Master.csv", tmp_path / "s"
    a.parent.mkdir()
    b.parent.mkdir()
    lines = [_line(i) for i in range(4)]
    _write(a, [lines[0], "not a record", lines[1], lines[2][:30]], end="")
    _write(b, [lines[0], "junk"])
    ingest_paths([a, b], store)
    assert sorted(r.where.split("/")[-2] + str(r.line) for r in read_rejects(store).rejects) \
        == ["a2", "a4", "b2"]
    _write(a, [lines[0], "not a record", lines[1], lines[2], lines[3]])
    grown = ingest_paths([a], store)
    assert (grown.stored, grown.rejected) == (2, 0)
    left = read_rejects(store)
    assert sorted(r.where.split("/")[-2] + str(r.line) for r in left.rejects) == ["a2", "b2"]
    assert left.total == 2
    # The reject file written anew is referenced; the old one is not, and vacuum takes it.
    reopened = Store.open(store)
    assert reopened.vacuum(retention_hours=0).deleted
    assert sorted(r.line or 0 for r in read_rejects(reopened).rejects) == [2, 2]
    assert len(list((store / "_rejects").iterdir())) == 1


def test_an_export_without_a_final_line_end_is_read_whole(tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    _write(master, [_line(i) for i in range(3)], end="")
    s = ingest_paths([master], tmp_path / "store")
    assert (s.read, s.stored, s.rejected) == (3, 3, 0)


def test_a_file_record_keeps_its_own_counts(tmp_path: Path) -> None:
    """`tracehop files` shows what each ingest of a file stored and found already stored
    (one file per run; several at once: see the next test)."""
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(4)]
    _write(master, [*lines, "bad,line"])
    ingest_paths([master], store)
    _write(master, [*lines, "bad,line", _line(4), _line(5)])
    ingest_paths([master], store)
    recs = sorted(Store.open(store).ingested_files(), key=lambda r: r.size)
    assert [(r.rows_read, r.stored, r.rejected, r.duplicates) for r in recs] == [
        (5, 4, 1, 0), (7, 2, 0, 5)]
    r = CliRunner().invoke(cli, ["files", "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert "5 read, 4 stored, 1 rejected" in r.output
    assert "7 read, 2 stored, 5 already stored" in r.output


def test_files_ingested_together_keep_their_own_counts(tmp_path: Path) -> None:
    """Several files in one commit: each record has its own counts when no leg of the commit
    was a duplicate (a grown file's earlier records count as its duplicates, as above)."""
    a, b, store = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "store"
    _write(a, [_line(i) for i in range(3)])
    ingest_paths([a], store)
    _write(a, [_line(i) for i in range(5)])
    _write(b, [_line(i) for i in range(10, 16)] + ["bad,line"])
    s = ingest_paths([a, b], store)
    assert (s.read, s.stored, s.rejected, s.duplicates) == (12, 8, 1, 3)
    recs = {(Path(r.path).name, r.size): r for r in Store.open(store).ingested_files()}
    counts = sorted((name, r.rows_read, r.stored, r.rejected, r.duplicates)
                    for (name, _), r in recs.items())
    assert counts == [("a.csv", 3, 3, 0, 0), ("a.csv", 5, 2, 0, 3), ("b.csv", 7, 6, 1, 0)]


def test_a_per_account_log_beside_master_csv_is_named(tmp_path: Path) -> None:
    """cdr_csv writes each record with an account code to Master.csv and to
    <accountcode>.csv (accountlogs=yes, the default): ingesting the directory stores those
    calls twice, so the run says which file is the copy and what to do."""
    cdr = tmp_path / "cdr-csv"
    cdr.mkdir()
    acct = [_line(i).replace('"","202555', '"ACME7","202555', 1) for i in range(3)]
    _write(cdr / "Master.csv", [*acct, _line(9)])
    _write(cdr / "ACME7.csv", acct)
    s = ingest_paths([cdr], tmp_path / "store")
    named = [w for w in s.warnings if "accountlogs" in w]
    assert len(named) == 1 and "ACME7.csv" in named[0] and "'ACME7'" in named[0]
    alone = tmp_path / "alone"
    alone.mkdir()
    _write(alone / "ACME7.csv", acct)  # no Master.csv beside it: nothing to say
    assert not any("accountlogs" in w for w in ingest_paths([alone], tmp_path / "s2").warnings)


def test_growth_that_is_only_a_line_being_written_is_left_for_the_next_run(
        tmp_path: Path) -> None:
    """A scheduled ingest that catches Asterisk writing a record, with nothing else new since
    the stored version: not a failed file (exit 0, nothing stored or rejected), a warning; the
    next run reads the line whole."""
    from tracehop.store import read_rejects

    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(3)]
    _write(master, lines)
    ingest_paths([master], store)
    version = Store.open(store).version
    _write(master, [*lines, _line(3)[:50]], end="")
    r = CliRunner().invoke(cli, ["ingest", str(master), "--store", str(store), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["read"], out["stored"], out["rejected"], out["duplicates"]) == (3, 0, 0, 3)
    assert out["per_file"][0]["waiting"] and not out["errors"]
    assert any("still being written" in w for w in out["warnings"])
    assert Store.open(store).version == version
    _write(master, [*lines, _line(3)])
    grown = ingest_paths([master], store)
    assert (grown.stored, grown.rejected) == (1, 0)
    assert read_rejects(store).total == 0
    assert sorted(_legs(store).values()) == [1, 2, 3, 4]


def test_growth_that_is_only_bad_whole_lines_still_fails(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(3)]
    _write(master, lines)
    ingest_paths([master], store)
    _write(master, [*lines, "not,a,record"])
    r = CliRunner().invoke(cli, ["ingest", str(master), "--store", str(store)])
    assert r.exit_code == 1
    assert "record(s) added since the stored version were all rejected (line 4" in r.output
    assert "--format" not in r.output


def test_an_older_shorter_copy_in_its_place_is_named_with_the_way_back(tmp_path: Path) -> None:
    """Master.csv replaced by an older copy of itself (restored from a backup taken before the
    last ingest, and before any version the store holds): read as a new file, its records are
    stored a second time. The ingest says so, and the forget it names undoes it."""
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(400)]
    _write(master, lines)
    ingest_paths([master], store)
    _write(master, lines[:300])  # the backup: the first 300 records (over 64 KiB)
    assert master.stat().st_size > 64 * 1024
    res = ingest_paths([master], store)
    assert (res.stored, res.duplicates) == (300, 0)  # stored again, as before: now said
    (warning,) = [w for w in res.warnings if "smaller than the version" in w]
    assert str(master) in warning and "restored from a backup" in warning
    cmd = warning[warning.index("`tracehop forget") + 1:warning.index("` and put")]
    out = CliRunner().invoke(cli, cmd.split()[1:], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert len(_legs(store)) == 400


def test_a_new_file_in_the_rotated_ones_place_is_not_taken_for_a_copy(tmp_path: Path) -> None:
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    _write(master, [_line(i) for i in range(597)])
    ingest_paths([master], store)
    # Rotated (other records first), shorter, still over 64 KiB: a new file, said nothing of.
    _write(master, [_line(i) for i in range(300, 597)])
    assert master.stat().st_size > 64 * 1024
    res = ingest_paths([master], store)
    assert res.stored == 297 and not res.warnings


def test_an_older_copy_read_on_from_an_earlier_version_is_named(tmp_path: Path) -> None:
    """Versions of 4 and 10 records stored; the file is replaced by a backup of 6 records to
    which the switch wrote 2 more: read on from the 4-record version, its records 7-8 take
    the leg ids of the 10-record version's and are not stored. Not silently."""
    master, store = tmp_path / "Master.csv", tmp_path / "store"
    lines = [_line(i) for i in range(10)]
    _write(master, lines[:4])
    ingest_paths([master], store)
    _write(master, lines)
    ingest_paths([master], store)
    _write(master, [*lines[:6], _line(30), _line(31)])
    res = ingest_paths([master], store)
    assert res.per_file[0].resumed_at is not None
    (warning,) = [w for w in res.warnings if "earlier version" in w]
    assert str(master) in warning and "Put the newest file back" in warning
    # A file that grew from the newest version says nothing.
    _write(master, [*lines, _line(11)])
    assert not ingest_paths([master], store).warnings
