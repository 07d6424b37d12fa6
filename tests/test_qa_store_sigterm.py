"""SIGTERM (systemctl stop, a timer's timeout, `timeout 1h tracehop compact`) during
`tracehop compact` and `tracehop forget`: the run ends as Ctrl-C ends it. With the default action
the process died at once and the day files it had written (a whole store's worth for
`compact --rewrite`) stayed on disk, unreferenced, until a vacuum at least 6 h later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()

# Runs the CLI with the store's file writer of MODULE slowed down: once the first new file
# is written it says so and sleeps, so that the parent can send SIGTERM at that point.
_CHILD = """
import sys, time
import importlib
mod = importlib.import_module(sys.argv[1])
real = mod.write_parquet

def slow(*args, **kwargs):
    size = real(*args, **kwargs)
    print("written", flush=True)
    time.sleep(30)
    return size

mod.write_parquet = slow
from tracehop.cli import main

sys.argv = ["tracehop", *sys.argv[2:]]
main()
"""


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _store_with_two_files_a_day(tmp_path: Path) -> Path:
    store = tmp_path / "s"
    for i, lines in enumerate((GOOD[:2], GOOD[2:])):
        f = tmp_path / f"part{i}.csv"
        f.write_text("\n".join(lines) + "\n")
        r = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(store),
                                     "--tz", "America/New_York"])
        assert r.exit_code == 0, r.output
    return store


def _term_after_first_write(module: str, args: list[str]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, module, *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode, err


def test_sigterm_during_compact_leaves_no_file_behind(tmp_path: Path) -> None:
    store = _store_with_two_files_a_day(tmp_path)
    before = _files(store)
    version = Store.open(store).version
    rc, err = _term_after_first_write("tracehop.store.compact",
                                      ["compact", "--store", str(store)])
    assert rc == 130, (rc, err)
    assert "Traceback" not in err
    assert "Error: interrupted. Nothing is half written: the store is as before" in err
    assert Store.open(store).version == version
    assert _files(store) == before  # the compacted day file written before the signal: gone


def test_sigterm_during_forget_leaves_no_file_behind(tmp_path: Path) -> None:
    store = _store_with_two_files_a_day(tmp_path)
    # One file per day holding both files' legs: forgetting one rewrites it.
    assert CliRunner().invoke(cli, ["compact", "--store", str(store)]).exit_code == 0
    before = _files(store)
    version = Store.open(store).version
    rc, err = _term_after_first_write("tracehop.store.forget",
                                      ["forget", str(tmp_path / "part0.csv"),
                                       "--store", str(store)])
    assert rc == 130, (rc, err)
    assert "Traceback" not in err
    assert "Error: interrupted. Nothing is half written" in err
    assert Store.open(store).version == version
    assert _files(store) == before

