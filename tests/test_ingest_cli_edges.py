"""`tracehop ingest` at its edges, through click's CliRunner: a store that cannot be written,
files that are compressed or UTF-16, unreadable files and directories, --json when the run
stops, and the rejected records (`tracehop rejects`, and the first few in the summary)."""

from __future__ import annotations

import errno
import json
import lzma
import os
import pathlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tracehop.cli import cli
from tracehop.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD_FILE = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
GOOD = GOOD_FILE.read_text().splitlines()
SUMMARY_KEYS = {"files", "read", "stored", "rejected", "duplicates", "elapsed_s", "errors"}


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _clean_error(r: Result) -> str:
    """The run ended in one ``Error:`` line, not a traceback; returns that line."""
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert errors, r.stderr
    return errors[-1]


def _store_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _bad_csv(tmp_path: Path, name: str = "bad.csv", extra: tuple[str, ...] = ()) -> Path:
    """Three good Asterisk records, then records that are rejected (lines 4.. of the file)."""
    f = tmp_path / name
    bad_time = GOOD[0].replace("2026-03-07 14:03:22", "2026-13-07 14:03:22")
    long_bad = GOOD[0].replace("2026-03-07 14:03:22", "nonsense").replace(
        "ROBO CALLER", "X" * 300)
    f.write_text("\n".join([*GOOD, bad_time, "garbage line", *extra, long_bad]) + "\n")
    return f


# --- 1. a store that cannot be written --------------------------------------------------------


def test_file_where_the_store_needs_a_directory_is_one_clear_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s", create=True)
    (store.root / "legs").write_text("not a directory")
    before = _store_files(store.root)
    r = _run("ingest", str(GOOD_FILE), "--store", str(store.root))
    line = _clean_error(r)
    assert str(store.root / "legs") in line and "--store" in line
    assert "nothing was committed" in line
    assert Store.open(store.root).version == 0
    assert _store_files(store.root) == before


def test_store_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    r = _run("ingest", str(GOOD_FILE), "--store", str(tmp_path / "afile" / "store"))
    line = _clean_error(r)
    assert str(tmp_path / "afile" / "store") in line and "another --store" in line


def test_permission_denied_while_writing_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tester's case (root ignores permissions, so the OS error is raised where the day
    # file is written, as a read-only store makes it).
    store = tmp_path / "rostore"
    denied = store / "legs" / "day=2026-03-07"

    def refuse(self: Store, day: Any, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(denied))

    monkeypatch.setattr(Store, "_write_day_rows", refuse)
    r = _run("ingest", str(GOOD_FILE), "--store", str(store), "--json")
    line = _clean_error(r)
    assert str(denied) in line and "Permission denied" in line
    assert "permissions" in line and "--store" in line
    out = json.loads(r.stdout)  # --json: still the one summary object
    assert set(out) >= SUMMARY_KEYS and out["stored"] == 0
    assert out["errors"][0]["path"] == str(denied)
    assert Store.open(store).version == 0  # created, nothing committed
    assert not list(store.rglob("*.parquet"))


def test_disk_full_while_writing_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracehop.store.writer as writer

    def full(root: Path, rel: str, table: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(root / rel))

    monkeypatch.setattr(writer, "write_parquet", full)  # the rejects file goes first
    r = _run("ingest", str(_bad_csv(tmp_path)), "--store", str(tmp_path / "s"),
             "--format", "asterisk_cdr_csv")
    line = _clean_error(r)
    assert "_rejects" in line and "No space left on device" in line and "free some space" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_store_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    r = _run("ingest", str(GOOD_FILE), "--store", str(ro / "s"))
    assert r.exit_code == 0
    ro.chmod(0o555)
    (ro / "s").chmod(0o555)
    try:
        line = _clean_error(_run("ingest", str(GOOD_FILE), "--store", str(ro / "new")))
        assert str(ro) in line and "permissions" in line
    finally:
        (ro / "s").chmod(0o755)
        ro.chmod(0o755)


# --- 2. compressed and UTF-16 files ---------------------------------------------------------

TEXT = "\n".join(GOOD) + "\n"


@pytest.mark.parametrize(
    ("name", "data", "needles"),
    [
        ("excel.csv", b"\xff\xfe" + TEXT.encode("utf-16-le"),
         ("UTF-16 text", "iconv -f UTF-16 -t UTF-8")),
        ("excel_be.csv", b"\xfe\xff" + TEXT.encode("utf-16-be"),
         ("UTF-16 text", "iconv -f UTF-16 -t UTF-8")),
        ("nobom.csv", TEXT.encode("utf-16-le"), ("UTF-16LE text", "iconv -f UTF-16LE")),
        # compressed files are read (tests/test_ingest_compressed.py); damaged ones are named
        ("Master.csv.zst", b"\x28\xb5\x2f\xfd" + bytes(range(256)),
         ("zstd file cannot be decompressed", "zstd -t")),
        ("Master.csv.gz", b"\x1f\x8b\x08\x00" + bytes(range(256)),
         ("gzip file cannot be decompressed", "gzip -t")),
        ("Master.csv.xz", lzma.compress(TEXT.encode())[:-20],
         ("xz file ends before its end marker", "xz -t")),
        ("calls.zip", b"PK\x03\x04" + bytes(range(256)), ("a ZIP archive", "unzip")),
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le-no-bom", "zstd-damaged", "gzip-damaged",
         "xz-cut", "zip"],
)
@pytest.mark.parametrize("fmt", [None, "asterisk_cdr_csv"], ids=["detected", "given"])
def test_damaged_archived_or_utf16_file_says_how_to_fix_it(
    tmp_path: Path, name: str, data: bytes, needles: tuple[str, ...], fmt: str | None
) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    store = tmp_path / "s"
    r = _run("ingest", str(f), "--store", str(store), *(["--format", fmt] if fmt else []))
    line = _clean_error(r)
    assert str(f) in line and "binary file" not in line
    for needle in needles:
        assert needle in line
    assert not store.exists()  # nothing of it went to the store, not even rejects


def _zip(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("calls.xlsx", _zip({"[Content_Types].xml": "<Types/>", "_rels/.rels": "<x/>",
                             "xl/workbook.xml": "<workbook/>",
                             "xl/worksheets/sheet1.xml": "<worksheet/>"})),
        # A portal's download named .csv, or saved under another name: the content tells.
        ("cdr_report.csv", _zip({"[Content_Types].xml": "<Types/>",
                                 "xl/workbook.xml": "<workbook/>"})),
        ("calls.ods", _zip({"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                            "content.xml": "<office/>"})),
        ("calls.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
         + "Workbook".encode("utf-16-le") + bytes(512)),
    ],
    ids=["xlsx", "xlsx-named-csv", "ods", "xls"],
)
@pytest.mark.parametrize("fmt", [None, "asterisk_cdr_csv"], ids=["detected", "given"])
def test_a_spreadsheet_is_named_with_how_to_save_it_as_csv(
    tmp_path: Path, name: str, data: bytes, fmt: str | None
) -> None:
    # CDR portals offer "Export to Excel". Unzipping a workbook (the fix once given for any
    # ZIP) gives XML parts, not records; the fix is to save the sheet as CSV.
    f = tmp_path / name
    f.write_bytes(data)
    store = tmp_path / "s"
    r = _run("ingest", str(f), "--store", str(store), *(["--format", fmt] if fmt else []))
    line = _clean_error(r)
    assert line.startswith(f"Error: {f}: ")
    said = line.removeprefix(f"Error: {f}: ")
    assert "spreadsheet" in said and "save the sheet of calls as CSV" in said, said
    assert "unzip" not in said and "binary file" not in said
    assert not store.exists()


@pytest.mark.parametrize("page", [
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Expired</body></html>\n",
    "\ufeff\n  <!-- portal -->\n<HTML lang=en>\n<body>404 Not Found</body></HTML>\n",
], ids=["doctype", "bom-comment-html"])
@pytest.mark.parametrize("fmt", [None, "asterisk_cdr_csv"], ids=["detected", "given"])
def test_a_web_page_saved_as_the_export_is_named_as_such(
    tmp_path: Path, page: str, fmt: str | None
) -> None:
    # `curl -o cdr.csv https://pbx/...` with an expired session saves the login page: "no
    # known CDR layout fits it, describe it in your own profile" was the wrong way to send.
    f = tmp_path / "cdr_export.csv"
    f.write_text(page)
    store = tmp_path / "s"
    r = _run("ingest", str(f), "--store", str(store), "--tz", "UTC",
             *(["--format", fmt] if fmt else []))
    line = _clean_error(r)
    said = line.removeprefix(f"Error: {f}: ")
    assert said != line and "HTML web page" in said and "Download the export again" in said
    assert not store.exists()


# --- 3. unreadable files and directories; --json when the run stops ---------------------------


def _deny_reading(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    """Make ``denied`` unreadable as a non-root user finds it (the tests may run as root)."""
    real_access, real_open = os.access, pathlib.Path.open

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if Path(path).absolute() == denied.absolute() and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.absolute() == denied.absolute():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(pathlib.Path, "open", open_)


@pytest.fixture()
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CDR file this process may not read."""
    path = tmp_path / "locked.csv"
    path.write_text(TEXT)
    _deny_reading(monkeypatch, path)
    return path


def test_unreadable_file_is_reported_per_file_and_the_others_committed(
    tmp_path: Path, locked: Path
) -> None:
    store = tmp_path / "s"
    r = _run("ingest", str(locked), str(FIXTURES / "pbxware_cdr" / "cdr.csv"),
             "--store", str(store), "--json")
    assert r.exit_code == 1  # a named file gave nothing, as for a missing one
    out = json.loads(r.stdout)
    assert out["stored"] == 3 and out["files"] == 2
    assert [e["path"] for e in out["errors"]] == [str(locked)]
    assert "Permission denied" in out["errors"][0]["error"]
    assert "permissions" in out["errors"][0]["error"]
    assert str(locked) in _clean_error(r)
    assert Store.open(store).snapshot().rows == 3


def test_missing_and_unreadable_files_behave_alike(tmp_path: Path, locked: Path) -> None:
    for bad in (locked, tmp_path / "missing.csv"):
        r = _run("ingest", str(bad), str(GOOD_FILE), "--store", str(tmp_path / bad.stem))
        assert r.exit_code == 1
        assert "stored      3" in r.stdout and str(bad) in _clean_error(r)


def test_unreadable_named_directory_is_not_skipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdrs = tmp_path / "cdrs"
    cdrs.mkdir()
    _deny_reading(monkeypatch, cdrs)
    store = tmp_path / "s"
    r = _run("ingest", str(cdrs), str(GOOD_FILE), "--store", str(store), "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert set(out) >= SUMMARY_KEYS and out["stored"] == 0
    assert out["errors"][0]["path"] == str(cdrs)
    assert str(cdrs) in _clean_error(r)
    assert not store.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through permissions")
def test_unreadable_file_for_real(tmp_path: Path) -> None:
    locked = tmp_path / "locked.csv"
    locked.write_text(TEXT)
    locked.chmod(0)
    r = _run("ingest", str(locked), str(GOOD_FILE), "--store", str(tmp_path / "s"), "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["stored"] == 3 and out["errors"][0]["path"] == str(locked)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--tz", "Mars/Base"), "Mars/Base"),
        (("--format", "no_such_format"), "no_such_format"),
    ],
)
def test_json_when_the_whole_run_stops(tmp_path: Path, args: tuple[str, ...],
                                       needle: str) -> None:
    store = tmp_path / "s"
    r = _run("ingest", str(GOOD_FILE), "--store", str(store), "--json", *args)
    assert needle in _clean_error(r) and r.exit_code == 1
    out = json.loads(r.stdout)
    assert set(out) >= SUMMARY_KEYS
    assert (out["read"], out["stored"], out["rejected"], out["duplicates"]) == (0, 0, 0, 0)
    assert out["version"] is None and needle in out["errors"][0]["error"]
    assert not store.exists()


# --- 4. rejected records ----------------------------------------------------------------------


def test_ingest_summary_shows_the_first_rejects(tmp_path: Path) -> None:
    f = _bad_csv(tmp_path, extra=tuple(f"short,{i}" for i in range(8)))
    store = tmp_path / "s"
    r = _run("ingest", str(f), "--store", str(store), "--format", "asterisk_cdr_csv")
    assert r.exit_code == 0, r.output
    assert f"{f}:4: unparseable start time '2026-13-07 14:03:22'" in r.stdout
    assert f"{f}:5: expected 18 fields" in r.stdout
    assert f"{f}:9:" not in r.stdout  # the first five only
    assert "and 6 more" in r.stdout
    assert f"tracehop rejects --store {store}" in r.stdout


def test_ingest_summary_without_rejects_shows_none(tmp_path: Path) -> None:
    r = _run("ingest", str(GOOD_FILE), "--store", str(tmp_path / "s"))
    assert r.exit_code == 0 and "tracehop rejects" not in r.stdout


def test_rejects_lists_file_line_reason_and_raw_in_80_columns(tmp_path: Path) -> None:
    f = _bad_csv(tmp_path)
    store = tmp_path / "s"
    assert _run("ingest", str(f), "--store", str(store), "--format", "asterisk_cdr_csv",
                "--json").exit_code == 0
    r = _run("rejects", "--store", str(store))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{f}:4: unparseable start time")
    assert lines[1].startswith('    "","2025550111"')
    assert lines[2] == f"{f}:5: expected 18 fields separated by ',', found 1: not a record " \
        "of this format"
    assert lines[3] == "    garbage line"
    assert lines[4].startswith(f"{f}:6: unparseable start time 'nonsense'")
    raw_lines = lines[1::2]
    assert all(len(ln) <= 80 for ln in raw_lines)
    assert raw_lines[-1].endswith("...")  # the long record, cut


def test_rejects_json_limit_and_file(tmp_path: Path) -> None:
    f = _bad_csv(tmp_path)
    store = tmp_path / "s"
    _run("ingest", str(f), "--store", str(store), "--format", "asterisk_cdr_csv")
    out = json.loads(_run("rejects", "--store", str(store), "--json", "--limit", "2",
                          "--file", "bad.csv").stdout)
    assert out["total"] == 3 and len(out["rejects"]) == 2
    first = out["rejects"][0]
    assert (first["file"], first["line"]) == (str(f), 4)
    assert "unparseable start time" in first["reason"]
    assert first["raw"] == GOOD[0].replace("2026-03-07 14:03:22", "2026-13-07 14:03:22")
    assert first["format"] == "asterisk_cdr_csv" and first["rejected_at"].endswith("Z")
    text = _run("rejects", "--store", str(store), "--limit", "1").stdout
    assert "(1 of 3 shown; --limit 0 lists all)" in text
    none = _run("rejects", "--store", str(store), "--file", "other.csv")
    assert none.exit_code == 0 and "No rejected records from other.csv" in none.stdout


def test_rejects_newest_ingest_first(tmp_path: Path) -> None:
    from tracehop.store import read_rejects

    store = tmp_path / "s"
    older = _bad_csv(tmp_path, "older.csv")
    newer = _bad_csv(tmp_path, "newer.csv", extra=("short,1",))
    for f in (older, newer):
        _run("ingest", str(f), "--store", str(store), "--format", "asterisk_cdr_csv")
    out = json.loads(_run("rejects", "--store", str(store), "--json", "--limit", "0").stdout)
    files = [r["file"] for r in out["rejects"]]
    assert files == [str(newer)] * 4 + [str(older)] * 3 and out["total"] == 7
    only_older = read_rejects(store, file="older.csv")
    assert [(r.file, r.line) for r in only_older.rejects] == [
        (str(older), 4), (str(older), 5), (str(older), 6)]
    first_commit = read_rejects(store, version=1)
    assert first_commit.total == 3 and {r.file for r in first_commit.rejects} == {str(older)}


def test_rejects_without_a_store_and_help(tmp_path: Path) -> None:
    line = _clean_error(_run("rejects", "--store", str(tmp_path / "nowhere")))
    assert str(tmp_path / "nowhere") in line
    empty = tmp_path / "s"
    _run("ingest", str(GOOD_FILE), "--store", str(empty))
    r = _run("rejects", "--store", str(empty))
    assert r.exit_code == 0 and "No rejected records in" in r.stdout
    help_text = _run("rejects", "--help").stdout
    assert "Example:" in help_text and "tracehop rejects --store" in help_text


def test_a_store_inside_the_directory_ingested_is_not_read_as_input(tmp_path: Path) -> None:
    """`ingest /var/spool/cdr --store /var/spool/cdr/calls.store` on a timer: the store's own
    log and Parquet files are no input (each run warned about every one of them)."""
    cdr = tmp_path / "cdr"
    cdr.mkdir()
    (cdr / "Master.csv").write_text(GOOD_FILE.read_text())
    store = cdr / "calls.store"
    for _ in range(2):
        r = _run("ingest", str(cdr), "--store", str(store), "--tz", "America/New_York",
                 "--json")
        assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["files"] == 1 and not out.get("warnings"), out


def test_a_store_named_among_the_inputs_is_not_read_as_input(tmp_path: Path) -> None:
    """`ingest /var/spool/cdr/* --store /var/spool/cdr/calls.store`: the shell names the store
    itself among the inputs. Its log and Parquet files are no input: the run warned about each,
    and since none of the store directory's files could be ingested, it exited 1."""
    cdr = tmp_path / "cdr"
    cdr.mkdir()
    (cdr / "Master.csv").write_text(GOOD_FILE.read_text())
    store = cdr / "calls.store"
    assert _run("ingest", str(cdr), "--store", str(store), "--tz", "America/New_York"
                ).exit_code == 0
    (cdr / "Master-2.csv").write_text(GOOD_FILE.read_text().replace("DOCUMENTATION", "X"))
    r = _run("ingest", str(cdr / "Master.csv"), str(cdr / "Master-2.csv"), str(store),
             "--store", str(store), "--tz", "America/New_York", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["files"] == 2 and not out["warnings"] and not out["errors"], out
    assert (out["stored"], out["duplicates"]) == (3, 3)


def test_a_file_name_that_is_not_utf8_is_that_files_error_not_a_traceback(
        tmp_path: Path) -> None:
    """A CDR copied from a Latin-1 system keeps its name's bytes ("caf\\xe9.csv"): the whole
    run crashed with a UnicodeEncodeError, the other files unread."""
    cdr = tmp_path / "cdr"
    cdr.mkdir()
    latin = cdr / os.fsdecode(b"caf\xe9.csv")
    try:
        latin.write_text(GOOD_FILE.read_text())
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system takes UTF-8 names only")
    (cdr / "Master.csv").write_text(GOOD_FILE.read_text().replace("DOCUMENTATION", "X"))
    store = tmp_path / "s"
    r = _run("ingest", str(cdr), "--store", str(store), "--tz", "America/New_York", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["stored"] == 3
    (err,) = out["errors"]
    assert err["path"] == f"{cdr}/caf\\xe9.csv" and "not UTF-8" in err["error"]
    assert Store.open(store).snapshot().rows == 3
    # Named on its own: exit 1, one Error line, nothing stored.
    r = _run("ingest", str(latin), "--store", str(tmp_path / "s2"), "--tz", "America/New_York")
    assert "caf\\xe9.csv: the file name is not UTF-8" in _clean_error(r)
    assert r.exit_code == 1 and not (tmp_path / "s2").exists()


def test_a_store_directory_holding_other_files_is_refused_before_any_file_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--store naming the CDR directory itself: said only once the whole input was parsed
    (minutes for a large file), and as the input file's error."""
    import tracehop.ingest.run as run

    cdrs = tmp_path / "cdrs"
    cdrs.mkdir()
    (cdrs / "Master.csv").write_text(TEXT)

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a file was read")

    monkeypatch.setattr(run, "parse_file", never)
    r = _run("ingest", str(cdrs / "Master.csv"), "--store", str(cdrs), "--tz", "UTC", "--json")
    assert "directory is not empty and holds no tracehop store" in _clean_error(r)
    out = json.loads(r.stdout)
    assert [e["path"] for e in out["errors"]] == [None]  # the store's error, not the file's
    assert sorted(p.name for p in cdrs.iterdir()) == ["Master.csv"]


@pytest.mark.parametrize("option", ["--source", "--store"])
def test_a_source_or_store_that_is_not_utf8_is_one_error_line(
        tmp_path: Path, option: str) -> None:
    """Bytes that are not UTF-8 in --source or --store (a script in a Latin-1 locale) crashed
    the run with a UnicodeEncodeError traceback after the files were read."""
    latin = os.fsdecode(b"pbx\xe9")
    store = str(tmp_path / (latin if option == "--store" else "s"))
    args = ["ingest", str(GOOD_FILE), "--tz", "America/New_York", "--store", store]
    if option == "--source":
        args += ["--source", latin]
    r = _run(*args)
    assert f"Error: {option} " in _clean_error(r) and "pbx\\xe9 is not UTF-8" in _clean_error(r)
    assert r.exit_code == 1
    assert not any(tmp_path.iterdir())


def test_files_the_store_holds_unchanged_are_not_parsed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cron job ingests a whole spool directory every few minutes: the files the store
    already holds, unchanged, count as read and duplicate without being detected or parsed
    (3,000 FreeSWITCH JSON files took 14 s a run). A file that grew is still read on."""
    import tracehop.ingest.run as run

    spool = tmp_path / "spool"
    spool.mkdir()
    doc = (FIXTURES / "freeswitch_json_cdr" / "cdr.ndjson").read_text().splitlines()[0]
    for i in range(3):
        (spool / f"call{i}.cdr.json").write_text(doc.replace("00005eed0000", f"00005eed000{i}"))
    (spool / "Master.csv").write_text("\n".join(GOOD) + "\n")
    store = str(tmp_path / "s")
    first = json.loads(_run("ingest", str(spool), "--store", store, "--tz", "America/New_York",
                            "--json").stdout)
    assert first["stored"] == first["read"] > 0

    def not_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unchanged file was parsed again")

    for name in ("parse_file", "parse_documents", "detect_format"):
        monkeypatch.setattr(run, name, not_again)
    again = json.loads(_run("ingest", str(spool), "--store", store, "--tz",
                            "America/New_York", "--json").stdout)
    assert (again["read"], again["duplicates"], again["stored"]) == (first["read"],) * 2 + (0,)
    assert all(f["skipped"] for f in again["per_file"])
    assert Store.open(store).snapshot().rows == first["stored"]
    monkeypatch.undo()
    with (spool / "Master.csv").open("a") as f:  # grew: read on from the stored version
        f.write(GOOD[0].replace("1772910202.0", "1772910999.0") + "\n")
    grown = json.loads(_run("ingest", str(spool), "--store", store, "--tz",
                            "America/New_York", "--json").stdout)
    assert grown["read"] == first["read"] + 1 and grown["stored"] == 1
