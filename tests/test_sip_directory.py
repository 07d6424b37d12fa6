"""Capture directories read run after run: a call that spans a rotation (its INVITE read by one
run, its 200 OK, failure or BYE by a later one) is one complete leg, written once.

The captures are real pcap files written with the fixture writer (fixtures/sip/
make_fixtures.py: struct only, independent of tracehop's reader), and the expected legs come
from the same call definitions (``make_fixtures.expected_leg``), never from tracehop.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tracehop.errors import StoreConflictError
from tracehop.sip.dialogs import SipConfig, parse_nets
from tracehop.sip.directory import DirectoryResult, ingest_directory, state_key
from tracehop.sip.reader import read_capture
from tracehop.store import Store, read_rejects
from tracehop.store.compact import ORPHAN_MIN_AGE_S
from tracehop.store.log import TransactionLog

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
sys.path.insert(0, str(FIX))
import make_fixtures as mf  # noqa: E402

CONFIG = SipConfig(local_nets=parse_nets("192.0.2.0/24"), cert_dir=FIX / "certs",
                   tshark="never")
ACME = ("198.51.100.10", 5060)
HOUR = 3600.0


def _call(name: str, at_s: float, outcome: str, duration_s: float = 30.0,
          signed: bool = False) -> mf.Call:
    n = 100 + int(at_s) % 900
    return mf.Call(name, *ACME, f"+1312555{n:04d}", f"+1202555{n:04d}", at_s, outcome,
                   duration_s=duration_s, identity_by="acme" if signed else None)


def _frames(calls: list[mf.Call]) -> list[tuple[int, bytes, str]]:
    """(capture time µs, Ethernet frame, label) of every message of the calls, in time order."""
    keys = mf.load_keys()
    out = []
    ident = 1
    for c in calls:
        for off, fwd, data, what in mf.call_messages(c, keys):
            src, dst, sp, dp = ((c.carrier_ip, mf.SBC4, c.carrier_port, 5060) if fwd
                                else (mf.SBC4, c.carrier_ip, 5060, c.carrier_port))
            pkt = mf.ipv4(src, dst, 17, mf.udp(sp, dp, data), ident)[0]
            ident += 1
            out.append((c.ts0 + int(off * 1_000_000), mf.eth(pkt, False), f"{c.name}/{what}"))
    out.sort(key=lambda f: f[0])
    return out


def _write(path: Path, frames: list[tuple[int, bytes, str]]) -> mf.Capture:
    cap = mf.Capture((1,))
    for ts, data, label in frames:
        cap.add(ts, data, label=label)
    cap.write_pcap(path)
    return cap


def _at(seconds: float) -> int:
    return int((mf.BASE.timestamp() + seconds) * 1_000_000)


def _split(frames: list[tuple[int, bytes, str]], *cuts: float
           ) -> list[list[tuple[int, bytes, str]]]:
    """The frames in rotation files: file i holds what was captured before cut i."""
    edges = [_at(c) for c in cuts]
    parts: list[list[tuple[int, bytes, str]]] = [[] for _ in range(len(cuts) + 1)]
    for f in frames:
        parts[sum(f[0] >= e for e in edges)].append(f)
    return parts


def _legs(store: Path) -> list[dict[str, Any]]:
    snap = Store.open(store).snapshot()
    files = snap.all_files()
    if not files:
        return []
    rows = duckdb.sql(f"select * from read_parquet({files})").to_arrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r["start_utc"], r["call_id"]))


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return v


def _check(leg: dict[str, Any], call: mf.Call, frame: int, **override: Any) -> None:
    n = call.called.lstrip("+")
    want = mf.expected_leg(call, frame, {"called": "+" + n, "calling": "+" + call.calling[1:]})
    want.update(override)
    bad = {k: (_iso(leg[k]), v) for k, v in want.items() if _iso(leg[k]) != v}
    assert not bad, f"{call.name}: (got, expected) {bad}"


def _add_up(r: DirectoryResult) -> None:
    """The per-run identities the summary promises."""
    assert r.legs == r.dialogs_carried + r.legs_new - r.dialogs_held
    assert r.legs == r.stored + r.duplicates


def test_bye_in_the_next_run_completes_the_leg(tmp_path: Path) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    call = _call("span-bye", 0, "answered", duration_s=60, signed=True)
    first, second = _split(_frames([call]), 10)  # INVITE, 100, 180, 200, ACK | BYE, 200
    cap1 = _write(caps / "cap-0001.pcap", first)
    r1 = ingest_directory(caps, store, config=CONFIG)
    assert (r1.files_read, r1.legs_new, r1.legs, r1.stored, r1.dialogs_held) == (1, 1, 0, 0, 1)
    assert _legs(store) == []  # nothing half-written: the leg waits for its BYE
    _add_up(r1)

    _write(caps / "cap-0002.pcap", second)
    r2 = ingest_directory(caps, store, config=CONFIG)
    assert (r2.files_read, r2.files_skipped, r2.dialogs_carried, r2.legs_new) == (1, 1, 1, 0)
    assert (r2.legs, r2.stored, r2.dialogs_held) == (1, 1, 0)
    _add_up(r2)
    [leg] = _legs(store)
    # start, answer, end, and the STIR/SHAKEN decoded in run 1 (the headers are not kept)
    _check(leg, call, cap1.frame_of("span-bye/INVITE"))
    assert leg["source_file"] == str(caps / "cap-0001.pcap")  # evidence: the INVITE's file
    assert leg["stir_verified"] is True and leg["signer_spc"] == "1234"
    assert leg["duration_s"] == pytest.approx(63.0) and leg["billsec_s"] == pytest.approx(60.0)


def test_invite_then_failure_and_200_then_bye_over_three_runs(tmp_path: Path) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    busy = _call("span-busy", 0, "busy")  # INVITE at 0, 486 at 2 s
    slow = _call("span-slow", 0.5, "answered", duration_s=30)  # 200 at 3.5 s, BYE at 33.5 s
    parts = _split(_frames([busy, slow]), 1, 10)
    caps1 = _write(caps / "a-1.pcap", parts[0])
    results = []
    for i, part in enumerate(parts):
        if i:
            _write(caps / f"a-{i + 1}.pcap", part)
        results.append(ingest_directory(caps, store, config=CONFIG))
    assert [r.dialogs_held for r in results] == [2, 1, 0]
    assert [r.stored for r in results] == [0, 1, 1]
    for r in results:
        _add_up(r)
    legs = {leg["call_id"]: leg for leg in _legs(store)}
    _check(legs[busy.call_id], busy, caps1.frame_of("span-busy/INVITE"))
    _check(legs[slow.call_id], slow, caps1.frame_of("span-slow/INVITE"))


def test_a_rerun_with_nothing_new_adds_nothing(tmp_path: Path) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    first, _ = _split(_frames([_call("open", 0, "answered", duration_s=600)]), 10)
    _write(caps / "c1.pcap", first)
    r1 = ingest_directory(caps, store, config=CONFIG)
    version = Store.open(store).version
    blob = Store.open(store).state(state_key(caps))
    assert blob is not None and r1.dialogs_held == 1
    r2 = ingest_directory(caps, store, config=CONFIG)
    assert (r2.files_skipped, r2.legs, r2.stored, r2.dialogs_held) == (1, 0, 0, 1)
    assert r2.version is None and Store.open(store).version == version
    again = Store.open(store).state(state_key(caps))
    assert again is not None and again.id == blob.id


def test_a_dialog_open_past_the_horizon_is_written_with_a_warning(tmp_path: Path) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    lost_bye = _call("lost-bye", 0, "answered", duration_s=10 * HOUR)  # BYE never captured
    later = _call("later", 5 * HOUR, "busy")
    frames = [f for f in _frames([lost_bye, later]) if not f[2].startswith("lost-bye/")
              or "BYE" not in f[2]]
    parts = _split(frames, HOUR, 4.5 * HOUR)
    cap1 = _write(caps / "r1.pcap", parts[0])
    r1 = ingest_directory(caps, store, config=CONFIG)
    _write(caps / "r2.pcap", parts[1])  # empty rotation: capture time does not move
    r2 = ingest_directory(caps, store, config=CONFIG, horizon_s=4 * HOUR)
    assert (r1.dialogs_held, r2.dialogs_held, r2.dialogs_expired) == (1, 1, 0)
    # "later" moves capture time past 4 h after the INVITE: the default horizon writes it
    _write(caps / "r3.pcap", parts[2])
    r3 = ingest_directory(caps, store, config=CONFIG)
    assert (r3.dialogs_expired, r3.dialogs_held, r3.stored) == (1, 0, 2)
    _add_up(r3)
    assert any("1 dialogs open for longer than the 4 h horizon" in w and lost_bye.call_id in w
               for w in r3.warnings)
    legs = {leg["call_id"]: leg for leg in _legs(store)}
    _check(legs[lost_bye.call_id], lost_bye, cap1.frame_of("lost-bye/INVITE"),
           end_utc=None)  # answered, never hung up as far as the capture knows
    assert legs[lost_bye.call_id]["duration_s"] is None


def test_horizon_is_configurable(tmp_path: Path) -> None:
    caps = tmp_path / "caps"
    caps.mkdir()
    frames = [f for f in _frames([_call("long", 0, "answered", duration_s=9 * HOUR),
                                  _call("tick", 5 * HOUR, "busy")])
              if not f[2].startswith("long/") or "BYE" not in f[2]]
    parts = _split(frames, HOUR)
    _write(caps / "h1.pcap", parts[0])
    ingest_directory(caps, tmp_path / "st", config=CONFIG)
    _write(caps / "h2.pcap", parts[1])
    r = ingest_directory(caps, tmp_path / "st", config=CONFIG, horizon_s=6 * HOUR)
    assert (r.dialogs_held, r.dialogs_expired, r.stored) == (1, 0, 1)  # "tick" only
    with pytest.raises(Exception, match="horizon must be a positive"):
        ingest_directory(caps, tmp_path / "st", config=CONFIG, horizon_s=0)


def test_flush_writes_open_dialogs_from_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracehop.cli import cli

    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    call = _call("campaign-end", 0, "answered", duration_s=120)
    first, second = _split(_frames([call]), 10)
    _write(caps / "f1.pcap", first)
    args = ["capture-dir", str(caps), "--store", str(store), "--sip-local-net", "192.0.2.0/24"]
    r1 = CliRunner().invoke(cli, args)
    assert r1.exit_code == 0, r1.output
    assert "1 open dialogs held for the next run" in r1.output
    r2 = CliRunner().invoke(cli, [*args, "--flush", "--json"])
    assert r2.exit_code == 0, r2.output
    out = json.loads(r2.output[r2.output.index("{"):])
    assert (out["dialogs_carried"], out["dialogs_flushed"], out["dialogs_held"]) == (1, 1, 0)
    assert (out["legs"], out["stored"]) == (1, 1)
    assert out["read"] == out["stored"] + out["rejected"] + out["duplicates"] == 1
    assert any("written as they stood (flush)" in w for w in out["warnings"])
    [leg] = _legs(store)
    assert leg["answer_utc"] is not None and leg["end_utc"] is None
    assert Store.open(store).state(state_key(caps)) is None  # nothing held any more
    # the BYE read later finds nothing open: the leg was written once, and stays as written
    _write(caps / "f2.pcap", second)
    r3 = ingest_directory(caps, store, config=CONFIG)
    assert (r3.dialogs_carried, r3.legs, r3.stored) == (0, 0, 0)
    assert len(_legs(store)) == 1


def test_a_crash_inside_the_commit_loses_nothing_and_doubles_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    a = _call("crash-a", 0, "answered", duration_s=20)  # BYE in file 2
    b = _call("crash-b", 5, "answered", duration_s=40)  # 200 in file 1, BYE in file 3
    c = _call("crash-c", 25, "no_answer")  # INVITE in file 2, 480 in file 3
    parts = _split(_frames([a, b, c]), 10, 30)
    cap1 = _write(caps / "x1.pcap", parts[0])
    ingest_directory(caps, store, config=CONFIG)
    cap2 = _write(caps / "x2.pcap", parts[1])
    before = Store.open(store)
    version, blob = before.version, before.state(state_key(caps))
    real_write = TransactionLog.write

    def dying_write(self: TransactionLog, v: int, actions: list[dict[str, Any]]) -> None:
        # the state blob and the day files are on disk, the log version is not: a crash
        assert list((store / "_state").iterdir())
        raise OSError("simulated crash before the log version")

    monkeypatch.setattr(TransactionLog, "write", dying_write)
    with pytest.raises(OSError, match="simulated crash"):
        ingest_directory(caps, store, config=CONFIG)
    monkeypatch.setattr(TransactionLog, "write", real_write)
    after = Store.open(store)
    assert after.version == version and _legs(store) == []
    assert after.state(state_key(caps)) == blob  # the state the crashed run started from

    # A harder crash: the process dies before cleaning up, leaving an unreferenced blob.
    monkeypatch.setattr("tracehop.store.writer.remove_state_files", lambda root, files: None)
    monkeypatch.setattr(TransactionLog, "write", dying_write)
    with pytest.raises(OSError):
        ingest_directory(caps, store, config=CONFIG)
    monkeypatch.undo()
    assert len(list((store / "_state").iterdir())) == 2  # the live blob and the orphan

    r2 = ingest_directory(caps, store, config=CONFIG)
    assert (r2.files_read, r2.files_skipped, r2.dialogs_carried, r2.legs_new) == (1, 1, 2, 1)
    assert (r2.stored, r2.dialogs_held) == (1, 2)
    _write(caps / "x3.pcap", parts[2])
    r3 = ingest_directory(caps, store, config=CONFIG)
    assert (r3.stored, r3.duplicates, r3.dialogs_held) == (2, 0, 0)
    legs = {leg["call_id"]: leg for leg in _legs(store)}
    assert len(legs) == 3 and len(_legs(store)) == 3  # each once
    _check(legs[a.call_id], a, cap1.frame_of("crash-a/INVITE"))
    _check(legs[b.call_id], b, cap1.frame_of("crash-b/INVITE"))
    _check(legs[c.call_id], c, cap2.frame_of("crash-c/INVITE"))
    # the superseded blobs go with vacuum; the orphan (a blob no version named: it may be
    # one a commit in flight is about to name) waits ORPHAN_MIN_AGE_S, as orphan day files do
    Store.open(store).vacuum(retention_hours=0)
    [orphan] = list((store / "_state").iterdir())
    old = time.time() - ORPHAN_MIN_AGE_S - 60
    os.utime(orphan, (old, old))
    Store.open(store).vacuum(retention_hours=0)
    assert list((store / "_state").iterdir()) == []


@pytest.mark.parametrize("cuts", [(), (4.0,), (2.5, 9.0, 31.0), (0.2, 1.5, 3.02, 6.0, 40.0)])
def test_rotated_runs_give_the_legs_of_one_whole_capture(tmp_path: Path,
                                                         cuts: tuple[float, ...]) -> None:
    """However the capture is cut into rotation files, run by run, the stored legs are those
    of the whole capture read at once, and the counts add up."""
    calls = [_call(f"mix-{i}", i * 1.3, outcome, duration_s=5 + i * 3, signed=i % 3 == 0)
             for i, outcome in enumerate(["answered", "busy", "cancelled", "answered",
                                          "no_answer", "failed", "answered", "answered"])]
    frames = _frames(calls)
    whole = tmp_path / "whole.pcap"
    _write(whole, frames)
    expect = {r["call_id"]: r for r in read_capture(whole, config=CONFIG).legs.to_pylist()}
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    totals = {"legs": 0, "stored": 0, "new": 0}
    held = 0
    for i, part in enumerate(_split(frames, *cuts)):
        _write(caps / f"rot-{i:03d}.pcap", part)
        r = ingest_directory(caps, store, config=CONFIG)
        _add_up(r)
        assert r.dialogs_carried == held  # what one run holds, the next takes over
        held = r.dialogs_held
        totals["legs"] += r.legs
        totals["stored"] += r.stored
        totals["new"] += r.legs_new
    assert held == 0 and totals == {"legs": 8, "stored": 8, "new": 8}
    rows = _legs(store)
    assert len(rows) == 8
    for row in rows:
        want = expect[row["call_id"]]
        diff = {k: (row[k], want[k]) for k in want
                if k not in ("source_file", "source_record") and row[k] != want[k]}
        assert not diff, f"{row['call_id']}: (rotated, whole) {diff}"
    recs = Store.open(store).ingested_files()
    assert sum(r.rows_read for r in recs) == 8  # each leg counted in its INVITE's file


def test_rejects_keep_their_own_file(tmp_path: Path) -> None:
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    bad = (b"INVITE sip:+13125550100@sbc.example.net SIP/2.0\r\nVia: SIP/2.0/UDP "
           b"198.51.100.10:5060;branch=z9hG4bK-bad\r\nFrom: <sip:+12025550111@x>;tag=1\r\n"
           b"To: <sip:+13125550100@y>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    for i in (1, 2):
        pkt = mf.ipv4(ACME[0], mf.SBC4, 17, mf.udp(5060, 5060, bad), i)[0]
        _write(caps / f"bad-{i}.pcap", [(_at(i), mf.eth(pkt, False), "bad")])
    r = ingest_directory(caps, store, config=CONFIG)
    assert r.rejected == 2
    files = Store.open(store).snapshot().reject_files()
    rows = duckdb.sql(f"select source_file, source_record, reason from read_parquet({files}) "
                      "order by source_file").fetchall()
    assert [(Path(f).name, n) for f, n, _ in rows] == [("bad-1.pcap", 1), ("bad-2.pcap", 1)]
    assert all("missing Call-ID" in reason for *_, reason in rows)


def test_a_single_capture_still_writes_every_dialog(tmp_path: Path) -> None:
    """`tracehop ingest FILE` has no next run: an open dialog is a leg at the end of the read."""
    call = _call("single", 0, "answered", duration_s=60)
    first, _ = _split(_frames([call]), 10)
    cap = _write(tmp_path / "one.pcap", first)
    [leg] = read_capture(tmp_path / "one.pcap", config=CONFIG).legs.to_pylist()
    _check(leg, call, cap.frame_of("single/INVITE"), end_utc=None)


def test_two_overlapping_runs_are_refused(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A second run that committed while this one read would make this one's held dialogs
    stale: the commit is refused, and running again gives the right legs."""
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    call = _call("overlap", 0, "answered", duration_s=60)
    first, second = _split(_frames([call]), 10)
    _write(caps / "o1.pcap", first)
    ingest_directory(caps, store, config=CONFIG)
    _write(caps / "o2.pcap", second)
    real_commit = Store.commit

    def racing_commit(self: Store, *a: Any, **kw: Any) -> Any:
        monkeypatch.setattr(Store, "commit", real_commit)
        ingest_directory(caps, store, config=CONFIG)  # the other run, finishing first
        return real_commit(self, *a, **kw)

    monkeypatch.setattr(Store, "commit", racing_commit)
    with pytest.raises(StoreConflictError, match="Run again"):
        ingest_directory(caps, store, config=CONFIG)
    assert len(_legs(store)) == 1
    r = ingest_directory(caps, store, config=CONFIG)
    assert (r.files_skipped, r.stored, r.dialogs_held) == (2, 0, 0)
    assert len(_legs(store)) == 1


def test_unchanged_files_are_not_hashed_again_but_rewritten_ones_are_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import tracehop.sip.directory as directory

    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    one = _split(_frames([_call("hash-a", 0, "busy")]), 100)[0]
    two = _split(_frames([_call("hash-b", 1, "busy")]), 100)[0]
    _write(caps / "k1.pcap", one)
    ingest_directory(caps, store, config=CONFIG)
    size = (caps / "k1.pcap").stat().st_size
    hashed: list[Path] = []
    real = directory._sha256

    def counting(path: Path, limit: int | None = None) -> str:
        hashed.append(path)
        return real(path, limit)

    monkeypatch.setattr(directory, "_sha256", counting)
    r = ingest_directory(caps, store, config=CONFIG)
    assert (r.files_skipped, hashed) == (1, [])  # the steady state reads no old capture
    # the same name and size, other content, written later: read as a new capture
    _write(caps / "k1.pcap", two)
    assert (caps / "k1.pcap").stat().st_size == size
    later = (caps / "k1.pcap").stat().st_mtime_ns + 5_000_000_000  # coarse mtime clocks
    os.utime(caps / "k1.pcap", ns=(later, later))
    r2 = ingest_directory(caps, store, config=CONFIG)
    assert (r2.files_read, r2.stored) == (1, 1)
    assert {leg["call_id"].split("@")[0] for leg in _legs(store)} == {"hash-a", "hash-b"}


def test_files_that_are_no_capture_are_named_not_skipped_silently(tmp_path: Path) -> None:
    """A capture rotated with `tcpdump -z gzip` is compressed, and a stray file is no
    capture: capture-dir reads the others and says what it passed over, and why."""
    import gzip

    caps = tmp_path / "caps"
    caps.mkdir()
    (caps / "a.pcap").write_bytes((FIX / "calls_udp.pcap").read_bytes())
    (caps / "b.pcap.gz").write_bytes(gzip.compress((FIX / "calls_udp.pcap").read_bytes()))
    (caps / "notes.txt").write_text("rotation log\n")
    res = ingest_directory(caps, tmp_path / "st", config=CONFIG)
    assert res.files_seen == 1 and res.stored > 0
    gz = [w for w in res.warnings if "b.pcap.gz" in w]
    assert len(gz) == 1 and "gzip" in gz[0] and "gunzip" in gz[0]
    assert any("notes.txt" in w and "not a pcap, pcapng or HEP capture" in w
               for w in res.warnings)


def test_a_corrupt_capture_is_rejected_once_not_on_every_later_run(tmp_path: Path) -> None:
    """A pcap whose record header is impossible is read up to it, rejected, and done with:
    later runs (each with a new rotation file) neither read it again nor store its reject
    again."""
    caps, store = tmp_path / "caps", tmp_path / "st"
    caps.mkdir()
    header = (FIX / "calls_udp.pcap").read_bytes()[:24]
    (caps / "bad.pcap").write_bytes(header + b"\xff" * 16 + b"garbage" * 100)
    for i in range(3):
        part = _split(_frames([_call(f"rot-{i}", i, "busy")]), 100)[0]
        _write(caps / f"cap-{i}.pcap", part)
        ingest_directory(caps, store, config=CONFIG)
    rejects = read_rejects(store, file="bad.pcap").rejects
    assert len(rejects) == 1 and "corrupt pcap record header" in rejects[0].reason
    r = ingest_directory(caps, store, config=CONFIG)
    assert (r.files_skipped, r.rejected) == (4, 0)


def test_an_infinite_horizon_never_writes_a_dialog_open(tmp_path: Path) -> None:
    """`--horizon inf` is "wait for every BYE": the long call stays held, no traceback."""
    from click.testing import CliRunner

    from tracehop.cli import cli

    caps = tmp_path / "caps"
    caps.mkdir()
    frames = [f for f in _frames([_call("long", 0, "answered", duration_s=9 * HOUR),
                                  _call("tick", 8 * HOUR, "busy")])
              if not f[2].startswith("long/") or "BYE" not in f[2]]
    _write(caps / "i1.pcap", frames)
    r = CliRunner().invoke(cli, ["capture-dir", str(caps), "--store", str(tmp_path / "st"),
                                 "--sip-local-net", "192.0.2.0/24", "--horizon", "inf",
                                 "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["dialogs_held"], d["dialogs_expired"], d["stored"]) == (1, 0, 1)


def test_a_grown_capture_is_read_on_from_any_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The directory named relative to two different working directories (a run by hand,
    then one from cron): the second run reads on where the first stopped."""
    (tmp_path / "a" / "caps").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    store = tmp_path / "st"
    frames = _frames([_call("grown", 0, "answered", duration_s=60)])
    first, _ = _split(frames, 10)
    _write(tmp_path / "a" / "caps" / "g.pcap", first)
    monkeypatch.chdir(tmp_path / "a")
    ingest_directory(Path("caps"), store, config=CONFIG)
    _write(tmp_path / "a" / "caps" / "g.pcap", frames)  # the BYE written since
    monkeypatch.chdir(tmp_path / "b")
    r = ingest_directory(Path("../a/caps"), store, config=CONFIG)
    assert (r.files_resumed, r.files_read, r.messages, r.stored) == (1, 0, 2, 1)
    assert [f.path for f in Store.open(store).ingested_files()] == [
        str(tmp_path / "a" / "caps" / "g.pcap")] * 2
