"""The log directory's fsync fails (EIO) after the link that commits a version: the version is
in the log and every file it names is kept (TransactionLog.holds). The ingest printed a raw
Python traceback; it must be one `Error:` line saying the version was committed."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()


def test_a_failed_sync_after_the_link_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    import tracehop.store.log as log

    real = log.fsync_dir

    def failing(path: Path) -> None:
        if path.name == "_delta_log" and (path / f"{1:020d}.json").exists():
            raise OSError(errno.EIO, "Input/output error")
        real(path)

    monkeypatch.setattr(log, "fsync_dir", failing)
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(GOOD) + "\n")
    store = tmp_path / "s"
    r = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                 "--tz", "America/New_York"])
    monkeypatch.setattr(log, "fsync_dir", real)
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Error: " in r.output and "version 1 was committed" in r.output
    assert "nothing was committed" not in r.output
    snap = Store.open(store).snapshot()
    assert snap.version == 1 and snap.rows == 3
    assert pq.read_table(snap.all_files()).num_rows == 3  # every file it names is there
