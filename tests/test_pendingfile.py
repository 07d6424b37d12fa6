"""A file written whole or not at all (tracehop.pendingfile): what `respond --out` and the
token file rely on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracehop.pendingfile import PendingFile


def test_the_file_is_replaced_only_when_the_block_ends_well(tmp_path: Path) -> None:
    target = tmp_path / "answers.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), PendingFile(target) as f:
        f.write("half")
        raise RuntimeError("the run failed")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["answers.jsonl"]  # no temporary file left behind
    with PendingFile(target) as f:
        f.write("new\n")
    assert target.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["answers.jsonl"]


def test_mode_is_what_open_would_give_unless_set(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        with PendingFile(tmp_path / "a") as f:
            f.write("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640
    with PendingFile(tmp_path / "b", mode=0o600) as f:
        f.write("x")
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600


def test_an_unwritable_place_fails_at_creation(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        PendingFile(tmp_path / "missing" / "answers.jsonl")
