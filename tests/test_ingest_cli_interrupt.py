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
