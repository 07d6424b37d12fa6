"""The audit log: append-only, hash-chained; verify names the first entry that breaks."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from tracehop.errors import AuditError
from tracehop.respond.audit import GENESIS_HASH, AuditLog, AuditRecord, entry_hash, verify


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        who="itg-portal",
        asked={"called": f"+1312555{i:04d}", "time_utc": "2026-11-20T14:03:22Z"},
        searched={"from_utc": "2026-11-20T14:01:22Z", "to_utc": "2026-11-20T14:05:22Z",
                  "step": "±120s"},
        answered={"status": "upstream", "upstream": "Acme Transit", "leg_id": f"leg{i}"},
    )


@pytest.fixture
def log5(tmp_path: Path) -> Path:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(1, 6):
        log.append(_record(i))
    return log.path


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines(keepends=True)


def test_a_fresh_log_chains_from_genesis_and_verifies(log5: Path) -> None:
    entries = [json.loads(x) for x in _lines(log5)]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for a, b in itertools.pairwise(entries):
        assert b["prev_hash"] == a["hash"]
    assert all(entry_hash(e) == e["hash"] for e in entries)
    assert entries[2]["who"] == "itg-portal"
    assert entries[2]["answered"]["leg_id"] == "leg3"
    rep = verify(log5)
    assert rep.ok and rep.entries == 5 and rep.head_hash == entries[-1]["hash"]


def test_an_edited_entry_is_detected_at_its_line(log5: Path) -> None:
    lines = _lines(log5)
    e = json.loads(lines[2])
    e["answered"]["upstream"] = "Someone Else"  # the hash is left as it was
    lines[2] = json.dumps(e) + "\n"
    log5.write_text("".join(lines))
    rep = verify(log5)
    assert not rep.ok
    assert rep.first_bad_line == 3 and rep.first_bad_seq == 3
    assert "modified" in (rep.reason or "")
    assert rep.entries == 2


def test_a_key_written_twice_is_an_edit_even_when_the_last_copy_is_true(log5: Path) -> None:
    """A forged `"upstream": "Someone Else"` put *before* the real key leaves the parsed
    entry (last copy wins) and so its hash unchanged: verify said OK while a reader of the
    line saw the forged value first."""
    lines = _lines(log5)
    lines[2] = lines[2].replace('"answered": {', '"answered": {"upstream": "Someone Else", ', 1)
    assert '"Someone Else"' in lines[2]
    log5.write_text("".join(lines))
    rep = verify(log5)
    assert not rep.ok and rep.first_bad_line == 3 and rep.entries == 2
    assert "'upstream' twice" in (rep.reason or "")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log5: Path) -> None:
    lines = _lines(log5)
    e = json.loads(lines[1])
    e["answered"]["status"] = "not_found"
    e["hash"] = entry_hash(e)  # a careful forger re-hashes the entry
    lines[1] = json.dumps(e) + "\n"
    log5.write_text("".join(lines))
    rep = verify(log5)
    assert not rep.ok and rep.first_bad_line == 3 and rep.first_bad_seq == 3
    assert "prev_hash" in (rep.reason or "")


def test_a_deleted_entry_is_detected(log5: Path) -> None:
    lines = _lines(log5)
    del lines[2]
    log5.write_text("".join(lines))
    rep = verify(log5)
    assert not rep.ok
    assert rep.first_bad_line == 3 and rep.first_bad_seq == 4
    assert "deleted" in (rep.reason or "")


def test_a_reordered_entry_is_detected(log5: Path) -> None:
    lines = _lines(log5)
    lines[1], lines[3] = lines[3], lines[1]
    log5.write_text("".join(lines))
    rep = verify(log5)
    assert not rep.ok
    assert rep.first_bad_line == 2 and rep.first_bad_seq == 4
    assert "reordered" in (rep.reason or "")


def test_a_truncated_tail_is_caught_with_the_recorded_head(log5: Path) -> None:
    head = verify(log5).head_hash
    lines = _lines(log5)
    log5.write_text("".join(lines[:-1]))
    assert verify(log5).ok  # a prefix of a chain is a chain...
    rep = verify(log5, expected_head=head)  # ...but not the one recorded
    assert not rep.ok and rep.first_bad_seq is None and rep.first_bad_line is None
    assert "ends at seq 4" in (rep.reason or "") and "removed from the end" in (rep.reason or "")


def test_appends_continue_the_chain_after_reopening(log5: Path) -> None:
    AuditLog(log5).append_many([_record(6), _record(7)])
    rep = verify(log5)
    assert rep.ok and rep.entries == 7


def test_a_cut_short_last_line_is_refused_for_append(log5: Path) -> None:
    with log5.open("ab") as f:
        f.write(b'{"seq": 6, "ti')
    with pytest.raises(AuditError, match="not terminated"):
        AuditLog(log5).append(_record(6))
    assert not verify(log5).ok


def _writer(path: str, n: int) -> None:
    log = AuditLog(path)
    for i in range(n):
        log.append(_record(i))


def test_two_processes_appending_never_interleave_or_fork(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, 40)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    rep = verify(path)
    assert rep.ok, rep.reason
    assert rep.entries == 80


def test_verify_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit log"):
        verify(tmp_path / "nope.jsonl")
