"""A big capture read with a worker process (tracehop.sip.parallel) gives exactly what the
single-process reader gives: the same legs, rejects, warnings and counts, on captures mixing
UDP (VLAN-tagged and fragmented), IPv6 with fragments, TCP split across segments and HEP, and
on damaged captures; and a failing worker changes nothing but a warning."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tracehop.sip import parallel
from tracehop.sip.dialogs import SipConfig, parse_nets
from tracehop.sip.pcap import CaptureInfo, iter_frames
from tracehop.sip.reader import CaptureResult, read_capture

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
CONFIG = SipConfig(local_nets=parse_nets("192.0.2.0/24, 2001:db8:1::/48"),
                   cert_dir=FIX / "certs", tshark="never")


def _mixed_pcapng(path: Path) -> None:
    """The frames of the UDP, IPv6/TCP and HEP fixtures in one pcapng, interleaved by time:
    one Interface Description Block per link type (pcapng draft §4.2, §4.3)."""
    frames: list[tuple[int, int, bytes]] = []
    for name in ("calls_udp.pcap", "calls_v6_tcp.pcapng", "calls_hep.pcap"):
        frames += [(ts, lt, data) for _, ts, lt, data, _ in
                   iter_frames(FIX / name, CaptureInfo())]
    frames.sort(key=lambda f: f[0])  # stable: each file's own order kept on equal times
    linktypes = sorted({lt for _, lt, _ in frames})

    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack(
            "<I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    out += [block(1, struct.pack("<HHI", lt, 0, 0)) for lt in linktypes]  # microseconds
    for ts, lt, data in frames:
        out.append(block(6, struct.pack("<IIIII", linktypes.index(lt), ts >> 32,
                                        ts & 0xFFFFFFFF, len(data), len(data)) + data))
    path.write_bytes(b"".join(out))


def _view(res: CaptureResult) -> dict[str, Any]:
    return {
        "legs": res.legs.to_pylist(),
        "rejects": res.rejects.drop_columns(["rejected_at"]).to_pylist(),
        "warnings": res.warnings,
        "counts": (res.frames, res.messages, res.invites, res.duplicates, res.end_offset),
    }


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, workers: int = 1,
          batch: int = 3) -> tuple[CaptureResult, CaptureResult]:
    single = read_capture(path, source="s", config=CONFIG, workers=0)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)  # the fixtures are small
    monkeypatch.setattr(parallel, "BATCH", batch)  # many batches, so answers interleave
    multi = read_capture(path, source="s", config=CONFIG, workers=workers)
    assert single.path_used == "fast" and multi.path_used == "fast-parallel"
    return single, multi


@pytest.mark.parametrize("name", ["calls_udp.pcap", "calls_v6_tcp.pcapng", "calls_hep.pcap",
                                  "bad/corrupt.pcap", "bad/truncated.pcap"])
def test_worker_reading_equals_single_reading(name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    single, multi = _both(FIX / name, monkeypatch)
    assert _view(multi) == _view(single)


def test_mixed_capture_with_two_workers_equals_single_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mixed.pcapng"
    _mixed_pcapng(path)
    for batch in (1, 7, 4096):
        single, multi = _both(path, monkeypatch, workers=2, batch=batch)
        assert _view(multi) == _view(single)
    legs = single.legs.to_pylist()
    # the mix is what the test claims: fragments, IPv6, TCP, HEP copies, signed INVITEs
    assert single.duplicates >= 1 and single.messages > single.invites > 10
    assert any(":" in (r["ingress_ip"] or r["egress_ip"] or "") for r in legs)  # IPv6
    assert any(r["stir_verified"] is True for r in legs)
    assert any(r["stir_verified"] is False for r in legs)


def _broken(*args: Any) -> Any:
    raise RuntimeError("worker broke")


def test_a_failing_worker_changes_nothing_but_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIX / "calls_udp.pcap"
    single = read_capture(path, source="s", config=CONFIG, workers=0)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "prepare_batch", _broken)  # the forked worker inherits it
    multi = read_capture(path, source="s", config=CONFIG, workers=1)
    assert _view(multi)["legs"] == _view(single)["legs"]
    failed = [w for w in multi.warnings if "worker process failed" in w]
    assert len(failed) == 1 and "(RuntimeError: worker broke)" in failed[0]
    assert [w for w in multi.warnings if w not in failed] == single.warnings


def test_only_big_captures_use_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    small = FIX / "calls_udp.pcap"
    assert not parallel.use_parallel(small, "pcap", 2)  # under MIN_BYTES
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    assert parallel.use_parallel(small, "pcap", 1)
    assert not parallel.use_parallel(small, "pcap", 0)
    assert not parallel.use_parallel(FIX / "calls.hep", "hep", 2)
    monkeypatch.setenv("TRACEHOP_SIP_WORKERS", "0")
    assert not parallel.use_parallel(small, "pcap")
    monkeypatch.setenv("TRACEHOP_SIP_WORKERS", "2")
    assert parallel.workers_wanted() == 2
    assert read_capture(small, config=CONFIG).path_used == "fast-parallel"
    # unasked, a worker starts only with a core to spare
    monkeypatch.delenv("TRACEHOP_SIP_WORKERS")
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (3.5, 0.0, 0.0))
    assert not parallel.use_parallel(small, "pcap")
    assert parallel.use_parallel(small, "pcap", workers=1)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert parallel.use_parallel(small, "pcap")


REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "sip"


@pytest.mark.realworld
def test_real_captures_read_the_same_with_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world captures not present at {REALWORLD}")
    from tracehop.sip.reader import detect_kind

    paths = [p for p in sorted(REALWORLD.rglob("*")) if p.is_file()
             and detect_kind(p.read_bytes()[:64]) in ("pcap", "pcapng")]
    assert len(paths) >= 40
    config = SipConfig(tshark="never")
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "BATCH", 5)
    for path in paths:
        single = read_capture(path, source="r", config=config, workers=0)
        multi = read_capture(path, source="r", config=config, workers=1)
        assert multi.path_used == "fast-parallel"
        assert _view(multi) == _view(single), path
