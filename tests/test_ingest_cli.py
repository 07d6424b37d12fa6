"""`tracehop ingest` through click's CliRunner; the store is checked through the library."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_ingest_json_summary_and_store(tmp_path: Path) -> None:
    store = tmp_path / "calls.store"
    code, out, _ = _run("ingest", str(FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"),
                        "--store", str(store), "--source", "pbx1", "--json")
    assert code == 0
    s = json.loads(out)
    assert (s["files"], s["read"], s["stored"], s["rejected"], s["duplicates"]) == (1, 3, 3, 0, 0)
    assert s["elapsed_s"] >= 0
    assert s["first_utc"] == "2026-03-07T19:03:22Z" and s["last_utc"] == "2026-03-07T19:07:10Z"
    snap = Store.open(store).snapshot()
    assert snap.rows == 3
    legs = pq.read_table(snap.all_files()).to_pylist()
    assert {r["source"] for r in legs} == {"pbx1"}
    assert sorted(r["called_e164"] for r in legs) == ["+12025550199", "+13125550100",
                                                      "+13125550100"]


def test_reingest_adds_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s"
    f = str(FIXTURES / "pbxware_cdr" / "cdr.csv")
    _run("ingest", f, "--store", str(store), "--json")
    code, out, _ = _run("ingest", f, "--store", str(store), "--json")
    assert code == 0
    s = json.loads(out)
    assert (s["read"], s["stored"], s["duplicates"]) == (3, 0, 3)
    assert Store.open(store).snapshot().rows == 3


def test_directory_is_walked_and_human_summary(tmp_path: Path) -> None:
    store = tmp_path / "s"
    code, out, _ = _run("ingest", str(FIXTURES / "asterisk_cdr_custom"),
                        str(FIXTURES / "grandstream_ucm_cdr" / "Master.csv"), "--store", str(store))
    assert code == 0
    for word in ("files", "read", "stored", "rejected", "duplicates", "time span", "rows/s"):
        assert word in out
    assert Store.open(store).snapshot().rows == 6


def test_needs_tz_exit_nonzero_store_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "s"
    f = str(FIXTURES / "freeswitch_cdr_csv" / "Master_example.csv")
    code, _, err = _run("ingest", f, "--store", str(store))
    assert code == 1
    assert f in err and "--tz" in err
    assert not (store / "_delta_log").exists()
    code, out, _ = _run("ingest", f, "--store", str(store), "--tz", "America/New_York", "--json")
    assert code == 0 and json.loads(out)["stored"] == 3


def test_one_bad_named_file_others_committed(tmp_path: Path) -> None:
    store = tmp_path / "s"
    png = tmp_path / "shot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    code, out, err = _run("ingest", str(FIXTURES / "asterisk_cdr_csv" / "Master_21col.csv"),
                          str(png), "--store", str(store), "--json")
    assert code == 1
    s = json.loads(out)
    assert s["stored"] == 3 and s["errors"][0]["path"] == str(png)
    assert str(png) in err and "PNG" in err
    assert Store.open(store).snapshot().rows == 3


def test_unknown_zone_and_user_profile(tmp_path: Path) -> None:
    store = tmp_path / "s"
    csv = str(FIXTURES / "user_profile" / "acme_sbc.csv")
    code, _, err = _run("ingest", csv, "--store", str(store), "--tz", "Mars/Olympus")
    assert code == 1 and "Mars/Olympus" in err
    code, out, _ = _run("ingest", csv, "--store", str(store), "--json",
                        "--format", str(FIXTURES / "user_profile" / "acme_sbc.toml"))
    assert code == 0 and json.loads(out)["stored"] == 3


def test_no_keep_raw(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _run("ingest", str(FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"), "--store",
         str(store), "--no-keep-raw")
    legs = pq.read_table(Store.open(store).snapshot().all_files(), columns=["raw_record"])
    assert legs.column("raw_record").null_count == 3


def test_help_has_an_example() -> None:
    code, out, _ = _run("ingest", "--help")
    assert code == 0 and "Example" in out and "--tz" in out


def test_every_record_rejected_exits_nonzero_and_leaves_the_store(tmp_path: Path) -> None:
    store = tmp_path / "s"
    good = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()
    semi = tmp_path / "Master.csv"
    with semi.open("w", newline="") as fh:  # the same records, written with ';'
        csv.writer(fh, delimiter=";", lineterminator="\n").writerows(csv.reader(good))
    code, out, err = _run("ingest", str(semi), "--store", str(store), "--format",
                          "asterisk_cdr_csv", "--json")
    assert code == 1
    s = json.loads(out)
    assert (s["read"], s["stored"], s["rejected"]) == (3, 0, 3)
    assert "all 3 records were rejected" in err and "is the delimiter ';'?" in err
    # The file failed as a whole: nothing of it is in the store (DESIGN §7), not even a
    # record that it was read, which would make the corrected run skip it.
    assert not store.exists()
    code, out, err = _run("ingest", str(semi), "--store", str(store), "--format",
                          "asterisk_cdr_csv")
    assert code == 1 and "failed as a whole are not stored" in out + err
    assert "kept in the store" not in out + err


def test_a_file_every_record_of_which_was_rejected_can_be_ingested_again(
        tmp_path: Path) -> None:
    store = tmp_path / "s"
    custom = FIXTURES / "asterisk_cdr_custom" / "Master.csv"
    Store.open(store, create=True)
    code, out, err = _run("ingest", str(custom), "--store", str(store), "--format",
                          "asterisk_cdr_csv", "--json")  # the wrong layout: every row rejected
    assert code == 1 and json.loads(out)["rejected"] == 3
    assert "reads the file again" in err
    snap = Store.open(store).snapshot()
    assert (snap.rows, snap.rejected_rows) == (0, 0)
    code, out, _ = _run("ingest", str(custom), "--store", str(store), "--format",
                        "asterisk_cdr_custom", "--json")
    assert code == 0, out
    assert (json.loads(out)["stored"], json.loads(out)["duplicates"]) == (3, 0)
    assert Store.open(store).snapshot().rows == 3


def test_every_command_has_an_example_and_fits_80_columns() -> None:
    """sqlite-utils' rule: each command's --help is its docstring, with an example, and it
    fits the terminal (click wraps to 80 columns; our own lines must not overflow)."""
    import click

    def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        out = []
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                out += commands(cmd, (*prefix, name))
            else:
                out.append((*prefix, name))
        return out

    names = commands(cli)
    assert {("forget",), ("files",), ("ingest",), ("lookup",)} <= set(names)
    for name in names:
        res = CliRunner().invoke(cli, [*name, "--help"], terminal_width=80)
        assert res.exit_code == 0, name
        assert "Example" in res.output, name
        assert max(len(line) for line in res.output.splitlines()) <= 80, name


def test_a_pattern_no_shell_expanded_is_expanded_by_ingest(tmp_path: Path) -> None:
    # A systemd timer's ExecStart (docs/deploy.md: `tracehop ingest /var/spool/cdr/*.csv`)
    # passes the pattern itself: no shell expands it.
    spool = tmp_path / "spool"
    spool.mkdir()
    src = FIXTURES / "asterisk_cdr_csv"
    (spool / "a.csv").write_bytes((src / "Master_16col.csv").read_bytes())
    (spool / "b.csv").write_bytes((src / "Master_21col.csv").read_bytes())
    (spool / "notes.txt").write_text("not a CDR\n")
    store = tmp_path / "s"
    code, out, err = _run("ingest", str(spool / "*.csv"), "--store", str(store),
                          "--tz", "America/New_York", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["files"], s["read"], s["stored"]) == (2, 6, 3 + 3)
    assert sorted(Path(r.path).name for r in Store.open(store).ingested_files()) == [
        "a.csv", "b.csv"]


def test_a_pattern_that_matches_nothing_says_so(tmp_path: Path) -> None:
    store = tmp_path / "s"
    pattern = str(tmp_path / "*.csv")
    code, _, err = _run("ingest", pattern, "--store", str(store), "--tz", "UTC")
    assert code == 1
    assert f"Error: {pattern}: no file matches this pattern" in err
    assert not store.exists()


def test_a_named_directory_none_of_whose_files_could_be_ingested_exits_nonzero(
        tmp_path: Path) -> None:
    # A timer's `ingest /var/log/asterisk/cdr-csv` without the --tz its Master.csv needs
    # stored nothing, run after run, and exited 0.
    cdrs = tmp_path / "cdr-csv"
    cdrs.mkdir()
    (cdrs / "Master.csv").write_bytes(
        (FIXTURES / "asterisk_cdr_csv" / "Master_16col.csv").read_bytes())
    store = tmp_path / "s"
    code, out, err = _run("ingest", str(cdrs), "--store", str(store), "--json")
    assert code == 1
    s = json.loads(out)
    assert s["stored"] == 0
    assert str(cdrs) in [e["path"] for e in s["errors"]]
    (line,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert line.startswith(f"Error: {cdrs}: nothing could be ingested from this directory")
    assert "--tz" in line
    assert not store.exists()
    # One file of it ingested (a README beside the CDRs is only a warning): exit 0.
    (cdrs / "README.txt").write_text("CDRs of pbx1\n")
    code, out, err = _run("ingest", str(cdrs), "--store", str(store), "--tz", "America/New_York")
    assert code == 0, err
    assert Store.open(store).snapshot().rows == 3


def test_a_wrong_format_given_names_the_format_the_file_is_in(tmp_path: Path) -> None:
    f = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
    store = tmp_path / "s"
    for wrong in ("pcap", "freeswitch_cdr_csv", "freeswitch_json_cdr", "cisco_cucm_cdr"):
        code, _, err = _run("ingest", str(f), "--store", str(store), "--tz", "UTC",
                            "--format", wrong)
        assert code == 1
        (line,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
        assert str(f) in line
        assert "looks like asterisk_cdr_csv: pass --format asterisk_cdr_csv" in line, line
        assert not store.exists()
    # A file detection cannot place either gets no such guess.
    junk = tmp_path / "notes.csv"
    junk.write_text("hello\nworld\n")
    code, _, err = _run("ingest", str(junk), "--store", str(store), "--format", "pcap")
    assert code == 1 and "looks like" not in err


def test_a_directory_of_many_files_lists_those_that_need_a_look_not_every_file(
        tmp_path: Path) -> None:
    # mod_json_cdr writes a file per leg: a line per file buried the totals and warnings.
    cdrs = tmp_path / "cdrs"
    cdrs.mkdir()
    text = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text()
    for i in range(30):
        (cdrs / f"Master-{i:02d}.csv").write_text(text.replace("DOCUMENTATION", f"DOC{i}"))
    (cdrs / "Master-07.csv").write_text(text + '"","1","2"\n')  # one reject
    (cdrs / "notes.txt").write_text("not a CDR\n")
    code, out, _ = _run("ingest", str(cdrs), "--store", str(tmp_path / "s"),
                        "--tz", "America/New_York")
    assert code == 0
    per_file = [ln for ln in out.splitlines() if ln.startswith(f"  {cdrs}") and " read, " in ln]
    assert sorted(Path(ln.split(":")[0].strip()).name for ln in per_file) == [
        "Master-07.csv", "notes.txt"]
    assert "  ... and 29 more files (--json lists each)" in out.splitlines()
    assert "stored      90" in out


def test_a_file_skipped_in_a_directory_is_said_once(tmp_path: Path) -> None:
    cdrs = tmp_path / "cdrs"
    cdrs.mkdir()
    (cdrs / "Master.csv").write_bytes(
        (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_bytes())
    for i in range(3):
        (cdrs / f"notes{i}.txt").write_text(f"not a CDR {i}\n")
    code, out, _ = _run("ingest", str(cdrs), "--store", str(tmp_path / "s"),
                        "--tz", "America/New_York")
    assert code == 0
    for i in range(3):
        assert out.count(f"notes{i}.txt: cannot tell the format") == 1, out
