"""Ctrl-C during `tracehop compact`, right after a compacted day file was written: the file
must go with the interrupted run, not stay on disk unreferenced until a vacuum >= 6 h later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_qa_store_vacuumed_under_reader import ingest_in_two_parts

from tracehop.cli import cli
from tracehop.store import Store


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_ctrl_c_right_after_compact_wrote_a_day_file_removes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The interrupt lands after the day file is written, before compaction has recorded it
    # (while its statistics are computed): the clean-up did not know of it.
    import tracehop.store.compact as compact

    store = ingest_in_two_parts(tmp_path)
    before = _files(store)
    version = Store.open(store).version
    real = compact.write_parquet

    def interrupted(*args: Any, **kwargs: Any) -> int:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(compact, "write_parquet", interrupted)
    r = CliRunner().invoke(cli, ["compact", "--store", str(store)])
    assert r.exit_code == 130, r.output
    assert Store.open(store).version == version
    assert _files(store) == before
