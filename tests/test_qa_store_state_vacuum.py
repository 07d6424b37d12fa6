"""A state blob (the open SIP dialogs of `tracehop capture-dir`) is written at the start of the
commit, before the day files: a vacuum run meanwhile, with a short retention, deleted it as
unreferenced, and the commit then named a blob that was gone (the next run failed on it).
Like the early day files of an ingest in flight, a blob no version has referenced yet waits
ORPHAN_MIN_AGE_S whatever the retention; a superseded one still goes with the retention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_sip_directory_state import _legs

from tracehop.schema import empty_rejects
from tracehop.store import Store


def test_vacuum_during_a_commit_keeps_its_state_blob(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    st.commit(_legs("a"), empty_rejects(), [], state_blobs={"k": b"old"})
    real = Store._write_sorted

    def vacuum_meanwhile(self: Store, *args: Any, **kwargs: Any) -> Any:
        # `tracehop compact --vacuum-hours 0` in another process while the day files of
        # this commit are written (its state blob is on disk already)
        Store(root).vacuum(retention_hours=0)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "_write_sorted", vacuum_meanwhile)
    st.commit(_legs("b"), empty_rejects(), [], state_blobs={"k": b"new"})
    monkeypatch.undo()
    Store._cache.pop(str(root), None)
    blob = Store.open(root).state("k")  # raised "cannot be read": the blob was deleted
    assert blob is not None and blob.data == b"new"
    # The superseded blob still goes with the retention alone.
    res = Store.open(root).vacuum(retention_hours=0)
    assert sum(p.startswith("_state/") for p in res.deleted) == 1
    assert len(list((root / "_state").iterdir())) == 1
