"""`tracehop ingest DIR` (and `ingest a.pcap b.pcap`) over rotated captures: the files of one
directory are read as one capture, so a call whose INVITE and BYE sit in two files is one
complete leg, attributed to its INVITE's file; per-file counts still add up.

Captures are written with the fixture writer (fixtures/sip/make_fixtures.py); the expected legs
come from the call definitions (``make_fixtures.expected_leg``) or from reading the unsplit
capture, never from the code under test alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_sip_directory import CONFIG, _call, _check, _frames, _legs, _split, _write

import tracehop.sip
from tracehop.cli import cli
from tracehop.ingest.run import ingest_paths
from tracehop.sip.reader import read_capture
from tracehop.store import Store


@pytest.fixture(autouse=True)
def _configured() -> Iterator[None]:
    """The reader options the CLI would set; put back afterwards (they are process-wide)."""
    tracehop.sip.configure(local_nets="192.0.2.0/24", cert_dir=CONFIG.cert_dir, tshark="never")
    yield
    tracehop.sip._config = None


def test_ingest_of_a_directory_joins_a_call_across_two_files(tmp_path: Path) -> None:
    caps = tmp_path / "caps"
    caps.mkdir()
    call = _call("span", 0, "answered", duration_s=60, signed=True)
    first, second = _split(_frames([call]), 10)  # INVITE .. ACK | BYE, 200
    cap1 = _write(caps / "cap-0001.pcap", first)
    _write(caps / "cap-0002.pcap", second)
    summary = ingest_paths([caps], tmp_path / "st")
    assert (summary.read, summary.stored, summary.rejected) == (1, 1, 0)
    [leg] = _legs(tmp_path / "st")
    _check(leg, call, cap1.frame_of("span/INVITE"))  # end_utc from the second file's BYE
    assert leg["source_file"] == str(caps / "cap-0001.pcap")
    recs = {Path(r.path).name: r.rows_read for r in Store.open(tmp_path / "st").ingested_files()}
    assert recs == {"cap-0001.pcap": 1, "cap-0002.pcap": 0}
    again = ingest_paths([caps], tmp_path / "st")
    assert (again.stored, again.duplicates) == (0, 1)


def test_rotated_files_give_the_legs_of_the_whole_capture(tmp_path: Path) -> None:
    calls = [_call(f"mix-{i}", i * 1.3, outcome, duration_s=5 + i * 3, signed=i % 3 == 0)
             for i, outcome in enumerate(["answered", "busy", "cancelled", "answered",
                                          "no_answer", "failed", "answered", "answered"])]
    frames = _frames(calls)
    _write(tmp_path / "whole.pcap", frames)
    expect = {r["call_id"]: r for r in
              read_capture(tmp_path / "whole.pcap", config=CONFIG).legs.to_pylist()}
    caps = tmp_path / "caps"
    caps.mkdir()
    for i, part in enumerate(_split(frames, 3.0, 7.5, 12.0, 20.0)):
        _write(caps / f"rot-{i:03d}.pcap", part)
    res = CliRunner().invoke(cli, ["ingest", str(caps), "--store", str(tmp_path / "st"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["stored"] == 8 and out["read"] == out["stored"] + out["rejected"]
    rows = _legs(tmp_path / "st")
    assert len(rows) == 8
    for row in rows:
        want = expect[row["call_id"]]
        diff = {k: (row[k], want[k]) for k in want
                if k not in ("source_file", "source_record", "leg_id") and row[k] != want[k]}
        assert not diff, f"{row['call_id']}: (rotated, whole) {diff}"


def test_named_files_of_one_directory_are_joined_too(tmp_path: Path) -> None:
    call = _call("named", 0, "answered", duration_s=40)
    first, second = _split(_frames([call]), 10)
    cap1 = _write(tmp_path / "a.pcap", first)
    _write(tmp_path / "b.pcap", second)
    summary = ingest_paths([tmp_path / "a.pcap", tmp_path / "b.pcap"], tmp_path / "st")
    assert summary.stored == 1
    [leg] = _legs(tmp_path / "st")
    _check(leg, call, cap1.frame_of("named/INVITE"))


def test_an_unreadable_capture_in_the_directory_is_that_files_error_alone(
        tmp_path: Path) -> None:
    """A file that looks like a capture but cannot be read: the others are still ingested,
    each on its own, and the summary names the bad file."""
    caps = tmp_path / "caps"
    caps.mkdir()
    call = _call("ok", 0, "answered", duration_s=5)
    _write(caps / "a.pcap", _frames([call]))
    bad = caps / "b.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1")  # a pcap magic number and nothing else
    summary = ingest_paths([caps], tmp_path / "st")
    assert (summary.stored, summary.rejected, summary.read) == (1, 1, 2)
    good, broken = summary.per_file
    assert (good.legs, good.error) == (1, None)
    assert broken.rejected == 1 and broken.error is not None
    assert "b.pcap" in broken.error and "truncated pcap global header" in broken.error


@pytest.mark.parametrize("how", ["ingest", "capture-dir"])
def test_tcpdump_counter_names_are_read_in_the_order_written(tmp_path: Path, how: str) -> None:
    """`tcpdump -C` names rotated files sip.pcap, sip.pcap1 .. sip.pcap9, sip.pcap10: the
    10th follows the 9th (tracehop/ingest/fileorder.py), not the 1st as plain name order has
    it, so a call that crossed from the 9th file to the 10th is read INVITE first."""
    from tracehop.sip.directory import ingest_directory

    caps = tmp_path / "caps"
    caps.mkdir()
    call = _call("span", 0, "answered", duration_s=60, signed=True)
    first, second = _split(_frames([call]), 10)  # INVITE .. ACK | BYE, 200
    cap9 = _write(caps / "sip.pcap9", first)
    _write(caps / "sip.pcap10", second)
    if how == "ingest":
        assert ingest_paths([caps], tmp_path / "st").stored == 1
    else:
        res = ingest_directory(caps, tmp_path / "st", config=CONFIG)
        assert (res.legs, res.dialogs_held) == (1, 0)
    [leg] = _legs(tmp_path / "st")
    _check(leg, call, cap9.frame_of("span/INVITE"))  # complete: end_utc from the 10th file


def test_natural_order() -> None:
    from tracehop.ingest.fileorder import natural_sorted

    names = ["sip.pcap10", "sip.pcap", "sip.pcap2", "sip.pcap1", "cap-20261120-0900.pcap"]
    assert [p.name for p in natural_sorted([Path(n) for n in names])] == [
        "cap-20261120-0900.pcap", "sip.pcap", "sip.pcap1", "sip.pcap2", "sip.pcap10"]
