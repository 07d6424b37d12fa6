"""`respond` refuses --out / --audit naming one of its own input files (or each other).

QA: `--out audit.jsonl --audit audit.jsonl` appended the audit entries and then replaced the
file with the answers, destroying the append-only audit log; `--out inquiries.csv` replaced
the inquiry file being answered; `--audit inquiries.csv` appended audit entries to it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_respond import LEGS, make_store

from tracehop.cli import cli
from tracehop.respond.audit import verify

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("qa_paths") / "store"
    make_store(d, LEGS)
    return str(d)


def _run(store_dir: str, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["respond", *args, "--store", store_dir,
                                 "--peers", str(FIX / "peers.toml")])
    return r.exit_code, r.output


def test_out_same_as_audit_is_refused_and_the_log_kept(store_dir: str, tmp_path: Path) -> None:
    inq = tmp_path / "inq.csv"
    shutil.copy(FIX / "inquiries.csv", inq)
    log = tmp_path / "audit.jsonl"
    code, _ = _run(store_dir, str(inq), "--audit", str(log))
    assert code == 0 and verify(log).ok
    before = log.read_bytes()
    code, out = _run(store_dir, str(inq), "--out", str(log), "--audit", str(log))
    assert code != 0
    assert "--out" in out and "--audit" in out
    assert log.read_bytes() == before  # nothing appended, nothing replaced


def test_out_same_as_the_inquiry_file_is_refused(store_dir: str, tmp_path: Path) -> None:
    inq = tmp_path / "inq.csv"
    shutil.copy(FIX / "inquiries.csv", inq)
    before = inq.read_bytes()
    # a different spelling of the same path
    code, out = _run(store_dir, str(inq), "--out", str(tmp_path / "." / "inq.csv"))
    assert code != 0 and "--out" in out
    assert inq.read_bytes() == before


def test_audit_same_as_the_inquiry_file_is_refused(store_dir: str, tmp_path: Path) -> None:
    inq = tmp_path / "inq.csv"
    shutil.copy(FIX / "inquiries.csv", inq)
    before = inq.read_bytes()
    code, out = _run(store_dir, str(inq), "--audit", str(inq))
    assert code != 0 and "--audit" in out
    assert inq.read_bytes() == before


def test_out_same_as_peers_is_refused(store_dir: str, tmp_path: Path) -> None:
    peers = tmp_path / "peers.toml"
    shutil.copy(FIX / "peers.toml", peers)
    before = peers.read_bytes()
    r = CliRunner().invoke(cli, ["respond", str(FIX / "inquiries.csv"), "--store", store_dir,
                                 "--peers", str(peers), "--out", str(peers)])
    assert r.exit_code != 0 and "--out" in r.output
    assert peers.read_bytes() == before
