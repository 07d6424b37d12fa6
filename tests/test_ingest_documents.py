"""FreeSWITCH mod_json_cdr writes one JSON document per call leg (``<uuid>.cdr.json``): a
directory of them is ingested with the profile applied once to all files, and every file must
come out exactly as if it had been parsed on its own (leg_id, source_file, line numbers,
rejects, counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracehop.ingest.profile import resolve_profile
from tracehop.ingest.run import ingest_paths, parse_documents, parse_file
from tracehop.store import Store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "freeswitch_json_cdr"
DOCS = [json.loads(line) for line in (FIXTURE / "cdr.ndjson").read_text().splitlines() if line]


def _write_dir(root: Path) -> list[Path]:
    root.mkdir()
    paths = []
    for i, doc in enumerate(DOCS):
        p = root / f"{doc['variables']['uuid']}.cdr.json"
        p.write_text(json.dumps(doc, indent=1))  # pretty-printed, as mod_json_cdr writes it
        paths.append(p)
        assert i < 3
    bad = root / "zz-broken.cdr.json"  # one valid document, then a truncated one
    bad.write_text(json.dumps(DOCS[0]) + "\n" + json.dumps(DOCS[1])[:80] + "\n")
    paths.append(bad)
    return paths


def _comparable(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "rejected_at"} for r in rows]


def test_batched_documents_equal_file_by_file_parsing(tmp_path: Path) -> None:
    paths = _write_dir(tmp_path / "cdr")
    profile = resolve_profile("freeswitch_json_cdr")
    batched = parse_documents(paths, profile, None, "fs1")
    assert len(batched) == len(paths)
    for path, res in zip(paths, batched, strict=True):
        assert not isinstance(res, Exception)
        alone = parse_file(path, profile, None, "fs1")
        assert res.legs.to_pylist() == alone.legs.to_pylist()
        assert _comparable(res.rejects.to_pylist()) == _comparable(alone.rejects.to_pylist())
        assert res.file_id == alone.file_id
        assert set(res.legs.column("source_file").to_pylist()) <= {str(path)}
    broken = batched[-1]
    assert not isinstance(broken, Exception)
    assert broken.legs.num_rows == 1 and broken.rejects.num_rows == 1
    assert broken.rejects.column("source_record").to_pylist() == [2]


def test_a_directory_of_json_cdrs_in_one_ingest(tmp_path: Path) -> None:
    paths = _write_dir(tmp_path / "cdr")
    (tmp_path / "cdr" / "empty.cdr.json").write_bytes(b"")
    summary = ingest_paths([tmp_path / "cdr"], tmp_path / "store")
    assert summary.read == summary.stored + summary.rejected + summary.duplicates == 5
    assert (summary.stored, summary.rejected) == (4, 1)
    by_path = {f.path: f for f in summary.per_file}
    assert by_path[str(tmp_path / "cdr" / "empty.cdr.json")].error  # reported, not fatal
    assert all(by_path[str(p)].error is None for p in paths)
    assert [by_path[str(p)].format for p in paths] == ["freeswitch_json_cdr"] * 4
    snap = Store.open(tmp_path / "store").snapshot()
    assert snap.rows == 4
    again = ingest_paths([tmp_path / "cdr"], tmp_path / "store")
    assert again.stored == 0 and again.duplicates == 5


@pytest.mark.parametrize("batch_files", [1, 2])
def test_batch_boundaries_do_not_change_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_files: int
) -> None:
    import tracehop.ingest.run as run

    _write_dir(tmp_path / "cdr")
    monkeypatch.setattr(run, "DOCUMENT_BATCH_FILES", batch_files)
    summary = ingest_paths([tmp_path / "cdr"], tmp_path / "store")
    assert (summary.read, summary.stored, summary.rejected) == (5, 4, 1)
