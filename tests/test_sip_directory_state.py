"""The store's per-key state blobs (tracehop/store/state.py), which the capture-directory
reader keeps its open SIP dialogs in: committed with the legs or not at all, the latest per
key, checked on read, refused when stale, vacuumed when superseded, invisible to Delta readers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tracehop.errors import StoreConflictError, StoreError
from tracehop.schema import UTC_US, empty_rejects
from tracehop.store import FileRecord, Store

T0_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)


def _legs(*ids: str) -> pa.Table:
    return pa.table({
        "leg_id": list(ids),
        "start_utc": pa.array([T0_US + i for i in range(len(ids))], pa.int64()).cast(UTC_US),
        "called_e164": ["+13125550100"] * len(ids),
    })


def _fresh(root: Path) -> Store:
    """The store as another process opens it: replayed from the log, not from this cache."""
    Store._cache.pop(str(root), None)
    return Store.open(root)


def _rec(name: str) -> list[FileRecord]:
    return [FileRecord(file_id=name * 8, path=name, size=1, rows_read=1)]


def test_state_commits_with_the_legs_and_the_latest_per_key_wins(tmp_path: Path) -> None:
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    assert st.state("k") is None
    st.commit(_legs("a"), empty_rejects(), _rec("1"), state_blobs={"k": b"one", "j": b"jay"},
              state_base={"k": None})
    one = _fresh(root).state("k")
    assert one is not None and one.data == b"one"
    st.commit(_legs("b"), empty_rejects(), _rec("2"), state_blobs={"k": b"two"},
              state_base={"k": one.id})
    st.compact()  # a commit without state keeps every key as it was
    again = _fresh(root)
    two, jay = again.state("k"), again.state("j")
    assert two is not None and two.data == b"two" and jay is not None and jay.data == b"jay"
    st.commit(_legs(), empty_rejects(), [], state_blobs={"k": None}, state_base={"k": two.id})
    assert _fresh(root).state("k") is None and _fresh(root).state("j") is not None


def test_a_stale_base_is_refused_and_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    st.commit(_legs("a"), empty_rejects(), _rec("1"), state_blobs={"k": b"one"})
    version = st.version
    with pytest.raises(StoreConflictError, match="another run committed new state for 'k'"):
        st.commit(_legs("b"), empty_rejects(), _rec("2"), state_blobs={"k": b"two"},
                  state_base={"k": None})  # computed as if no state had been committed
    assert st.version == version
    assert len(list((root / "_state").iterdir())) == 1
    assert [f.path for f in st.ingested_files()] == ["1"]


def test_a_corrupt_or_missing_blob_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    st.commit(_legs("a"), empty_rejects(), [], state_blobs={"k": b"dialogs"})
    [blob] = list((root / "_state").iterdir())
    blob.write_bytes(b"dialogz")
    with pytest.raises(StoreError, match=rf"{blob}: the state committed for 'k' is corrupt"):
        st.state("k")
    blob.unlink()
    with pytest.raises(StoreError, match=rf"{blob}: the state committed for 'k' cannot be read"):
        st.state("k")


def test_vacuum_keeps_the_live_blob_only(tmp_path: Path) -> None:
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    for i in range(3):
        st.commit(_legs(f"l{i}"), empty_rejects(), [], state_blobs={"k": f"v{i}".encode()})
    assert len(list((root / "_state").iterdir())) == 3
    st.vacuum(retention_hours=1)  # young files stay: a reader may still be on them
    assert len(list((root / "_state").iterdir())) == 3
    res = st.vacuum(retention_hours=0)
    assert sum(p.startswith("_state/") for p in res.deleted) == 2
    live = st.state("k")
    assert live is not None and live.data == b"v2"


def test_delta_readers_see_the_legs_and_not_the_state(tmp_path: Path) -> None:
    deltalake = pytest.importorskip("deltalake",
                                    reason="deltalake (the [delta] extra) is not installed")
    root = tmp_path / "s"
    st = Store.open(root, create=True)
    st.commit(_legs("a", "b"), empty_rejects(), [], state_blobs={"k": b"x" * 100})
    t = deltalake.DeltaTable(str(root)).to_pyarrow_table()
    assert sorted(t.column("leg_id").to_pylist()) == ["a", "b"]
