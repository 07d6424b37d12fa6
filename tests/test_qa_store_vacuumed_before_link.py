"""A day file an ingest wrote early, deleted by a vacuum before the commit names it: the ingest
had been stopped (SIGSTOP, a suspended machine) or ran long enough for its first day files to
pass ORPHAN_MIN_AGE_S, and `tracehop compact --vacuum-hours 1` deleted them as a crashed run's
orphans. The commit then linked a version naming a file that was gone (exit 0, a damaged
store). It must fail with nothing committed, and a commit must refresh its files' age before
the link, so that a vacuum run then leaves them alone."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.store import Store
from tracehop.store.compact import ORPHAN_MIN_AGE_S

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()


def _ingest(tmp_path: Path, store: Path) -> Any:
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(GOOD) + "\n")
    return CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                    "--tz", "America/New_York"])


def test_a_file_gone_before_the_link_fails_the_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s"
    real = Store._commit_actions

    def vacuumed(self: Store, written: Any, *args: Any) -> Any:
        rel = next(w[0] for ws in written.values() for w in ws)
        (self.root / rel).unlink()  # a vacuum took it for a crashed run's orphan
        return real(self, written, *args)

    monkeypatch.setattr(Store, "_commit_actions", vacuumed)
    r = _ingest(tmp_path, store)
    monkeypatch.undo()
    assert r.exit_code == 1, r.output
    assert "nothing was committed" in r.output
    snap = Store.open(store).snapshot()
    assert snap.version == 0 and snap.rows == 0
    assert _ingest(tmp_path, store).exit_code == 0  # and the run again stores it


def test_the_commit_refreshes_its_files_age_before_the_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s"
    real = Store._commit_actions

    def aged(self: Store, written: Any, *args: Any) -> Any:
        old = time.time() - ORPHAN_MIN_AGE_S - 3600  # written hours ago, early in a long run
        for ws in written.values():
            for w in ws:
                os.utime(self.root / w[0], (old, old))
        return real(self, written, *args)

    monkeypatch.setattr(Store, "_commit_actions", aged)
    assert _ingest(tmp_path, store).exit_code == 0
    monkeypatch.undo()
    for f in Store.open(store).snapshot().all_files():
        assert time.time() - os.stat(f).st_mtime < 600
