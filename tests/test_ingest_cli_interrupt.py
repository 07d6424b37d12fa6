"""Ctrl-C during `tracehop ingest`: a short message, a non-zero exit, and the store exactly as it
was (no day file of the interrupted run left behind in it)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.store import Store
from tracehop.store.writer import Store as WriterStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="SIGINT is handled in the main thread")
def test_ctrl_c_while_the_day_files_are_written_leaves_no_file_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "calls.store"
    first = tmp_path / "first.csv"
    first.write_text(GOOD[0] + "\n")
    assert CliRunner().invoke(cli, ["ingest", str(first), "--store", str(store),
                                    "--tz", "America/New_York"]).exit_code == 0
    before = _files(store)
    version = Store.open(store).version

    # Records on three UTC days: the commit writes the days in parallel threads.
    f = tmp_path / "Master.csv"
    f.write_text("\n".join([GOOD[1], GOOD[2].replace("2026-03-07", "2026-03-08"),
                            GOOD[2].replace("2026-03-07", "2026-03-09")]) + "\n")
    real = WriterStore._write_day_rows
    sent = threading.Event()

    def slow_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The user presses Ctrl-C while the main thread waits for the day files' writes.
        if not sent.is_set():
            sent.set()
            threading.Timer(0.15, os.kill, (os.getpid(), signal.SIGINT)).start()
        time.sleep(0.5)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(WriterStore, "_write_day_rows", slow_write)
    r = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                 "--tz", "America/New_York"])
    assert sent.is_set()
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    # Nothing committed, and no unreferenced day file left for a vacuum to find days later.
    assert Store.open(store).version == version
    assert _files(store) == before


_CHILD = """
import sys, time
import tracehop.ingest.run as run

real = run.parse_file

def slow(*args, **kwargs):
    print("reading", flush=True)  # the .gz file is decompressed by now
    time.sleep(30)
    return real(*args, **kwargs)

run.parse_file = slow
from tracehop.cli import main

sys.argv = ["tracehop", "ingest", sys.argv[1], "--store", sys.argv[2], "--tz", "America/New_York"]
main()
"""


def test_sigterm_ends_the_run_as_ctrl_c_does_and_leaves_no_temporary_copy(
        tmp_path: Path) -> None:
    # systemctl stop, a timer's timeout, `timeout 1h tracehop ingest ...`: the default action
    # killed the process at once, leaving the decompressed copy of each .gz in $TMPDIR.
    import gzip
    import subprocess
    import sys

    gz = tmp_path / "Master.csv.1.gz"
    gz.write_bytes(gzip.compress(("\n".join(GOOD) + "\n").encode()))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    store = tmp_path / "s"
    env = {**os.environ, "TMPDIR": str(tmp),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(gz), str(store)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "reading"
        assert any(tmp.iterdir())  # the plain copy being read
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    # Not killed by the signal: the clean-ups ran, and the exit is a shell's for an interrupt.
    assert child.returncode == 130, (child.returncode, err)
    assert "Traceback" not in err and "Aborted!" not in err
    assert "Error: interrupted. Nothing is half written: the store holds this ingest whole" in err
    assert list(tmp.iterdir()) == []
    assert not store.exists()


def test_ctrl_c_after_the_version_is_linked_keeps_the_committed_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The interrupt lands while the log directory is synced, after the link that commits:
    # the clean-up for an uncommitted run deleted the day files the new version names.
    import pyarrow.parquet as pq

    import tracehop.store.log as log

    real = log.fsync_dir

    def interrupted(path: Path) -> None:
        if path.name == "_delta_log" and (path / f"{1:020d}.json").exists():
            raise KeyboardInterrupt
        real(path)

    monkeypatch.setattr(log, "fsync_dir", interrupted)
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(GOOD) + "\n")
    store = tmp_path / "s"
    r = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                 "--tz", "America/New_York"])
    assert r.exit_code != 0
    monkeypatch.setattr(log, "fsync_dir", real)
    snap = Store.open(store).snapshot()
    assert snap.version == 1 and snap.rows == 3
    assert pq.read_table(snap.all_files()).num_rows == 3  # every file it names is there
    again = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                     "--tz", "America/New_York", "--json"])
    assert again.exit_code == 0 and '"duplicates": 3' in again.stdout


def test_ctrl_c_after_forget_linked_its_version_keeps_the_rewritten_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    import tracehop.store.log as log

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("\n".join(GOOD) + "\n")
    b.write_text("\n".join(GOOD).replace("DOCUMENTATION", "X") + "\n")
    store = tmp_path / "s"
    assert CliRunner().invoke(cli, ["ingest", str(a), str(b), "--store", str(store),
                                    "--tz", "America/New_York"]).exit_code == 0
    target = Store.open(store).log.version_path(Store.open(store).version + 1)
    real = log.fsync_dir

    def interrupted(path: Path) -> None:
        if target.exists():
            raise KeyboardInterrupt
        real(path)

    monkeypatch.setattr(log, "fsync_dir", interrupted)
    r = CliRunner().invoke(cli, ["forget", str(a), "--store", str(store)])
    assert r.exit_code != 0 and target.exists()
    monkeypatch.setattr(log, "fsync_dir", real)
    snap = Store.open(store).snapshot()
    assert pq.read_table(snap.all_files()).num_rows == 3 == snap.rows  # b's legs, readable
