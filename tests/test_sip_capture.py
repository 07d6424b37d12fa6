"""Captures -> call legs: the generated fixtures (fixtures/sip/make_fixtures.py) and their
expected legs, bad captures, HEP, the ingest registry and incremental directory reading."""

from __future__ import annotations

import json
import shutil
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tracehop.errors import CaptureError, ConfigError
from tracehop.sip import hep
from tracehop.sip.dialogs import SipConfig, disposition, parse_nets
from tracehop.sip.directory import ingest_directory
from tracehop.sip.ip import IpLayer
from tracehop.sip.linktypes import FOREIGN, network_offset
from tracehop.sip.reader import read_capture
from tracehop.sip.tcp import TcpReassembler

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
CONFIG = SipConfig(local_nets=parse_nets("192.0.2.0/24, 2001:db8:1::/48"),
                   cert_dir=FIX / "certs", tshark="never")


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return v


@pytest.mark.parametrize("name", ["calls_udp.pcap", "calls_v6_tcp.pcapng", "calls_hep.pcap",
                                  "calls.hep"])
def test_fixture_legs_match_expected(name: str) -> None:
    expected = json.loads((FIX / "expected" / f"{name}.json").read_text())
    res = read_capture(FIX / name, source="sbc-a", config=CONFIG)
    got = {r["call_id"]: r for r in res.legs.to_pylist()}
    assert sorted(got) == sorted(e["call_id"] for e in expected)
    for e in expected:
        g = got[e["call_id"]]
        mismatches = {k: (_iso(g[k]), v) for k, v in e.items() if _iso(g[k]) != v}
        assert not mismatches, f"{name} {e['call_id']}: (got, expected) {mismatches}"
        assert g["source"] == "sbc-a" and g["source_file"] == str(FIX / name)
        assert g["raw_record"].startswith("INVITE ")
    assert res.rejects.num_rows == 0


def test_udp_fixture_covers_the_cases_it_claims() -> None:
    res = read_capture(FIX / "calls_udp.pcap", config=CONFIG)
    legs = {r["call_id"].split("@")[0]: r for r in res.legs.to_pylist()}
    assert res.duplicates == 1  # acme-busy's INVITE retransmission made no second leg
    assert legs["bravo-tampered"]["stir_verified"] is False
    assert legs["bravo-via-acme"]["signer_spc"] == "1234"  # signed by Acme, handed over by Bravo
    assert legs["bravo-via-acme"]["ingress_ip"] == "203.0.113.20"
    assert legs["sbc-out"]["direction"] == "outbound"
    assert {legs[k]["disposition"] for k in legs} == {"answered", "busy", "no_answer", "failed"}
    assert len({r["ingress_ip"] for r in legs.values()} - {None}) == 2  # two carriers
    assert any("does not verify" in w for w in res.warnings)


def test_without_local_nets_every_invite_is_inbound() -> None:
    res = read_capture(FIX / "calls_udp.pcap", config=SipConfig(tshark="never"))
    assert set(res.legs.column("direction").to_pylist()) == {"inbound"}
    # and without a certificate directory nothing is verified (null, not false)
    assert set(res.legs.column("stir_verified").to_pylist()) == {None}
    assert "1234" not in res.legs.column("signer_spc").to_pylist()


def test_leg_ids_are_stable_and_shared_by_copies() -> None:
    a = read_capture(FIX / "calls_hep.pcap", config=CONFIG).legs
    b = read_capture(FIX / "calls.hep", config=CONFIG).legs
    ida = dict(zip(a.column("call_id").to_pylist(), a.column("leg_id").to_pylist(), strict=True))
    idb = dict(zip(b.column("call_id").to_pylist(), b.column("leg_id").to_pylist(), strict=True))
    assert all(ida[k] == v for k, v in idb.items())  # same INVITE, other capture: same leg


def test_hep_copies_count_as_messages_but_not_legs() -> None:
    res = read_capture(FIX / "calls_hep.pcap", config=CONFIG)
    assert res.messages == 19  # 9 HEP3 messages sent twice + one HEPv2
    assert res.legs.num_rows == 2 and res.duplicates == 1


def test_bad_captures_are_reported_by_frame_and_never_stop() -> None:
    expected = json.loads((FIX / "expected" / "bad.json").read_text())
    for name, exp in expected.items():
        res = read_capture(FIX / "bad" / name, config=CONFIG)
        assert res.legs.num_rows == exp["legs"]
        rej = {str(r["source_record"]): r["reason"] for r in res.rejects.to_pylist()}
        assert set(rej) == set(exp["rejects"])
        for frame, why in exp["rejects"].items():
            assert why in rej[frame], (name, frame, rej[frame])
        assert set(res.rejects.column("source_file").to_pylist()) == {str(FIX / "bad" / name)}


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(b"hello, this is text")
    with pytest.raises(CaptureError) as e:
        read_capture(f, config=SipConfig(tshark="never"))
    assert str(f) in str(e.value) and "tshark" in str(e.value)


def test_bad_local_net_names_the_value() -> None:
    with pytest.raises(ConfigError) as e:
        parse_nets("192.0.2.0/24, nonsense")
    assert "nonsense" in str(e.value)


def test_dispositions() -> None:
    assert [disposition(c) for c in (200, 486, 600, 487, 408, 480, 503, 403, None)] == [
        "answered", "busy", "busy", "cancelled", "no_answer", "no_answer", "failed", "failed",
        "unknown"]


# --- layers -------------------------------------------------------------------------------


def test_link_layers() -> None:
    ip = b"\x45" + b"\x00" * 19
    assert network_offset(1, b"\x00" * 12 + b"\x81\x00\x00\x64\x88\xa8\x00\x01\x08\x00" + ip) \
        == (4, 22)  # two stacked VLAN tags
    assert network_offset(113, b"\x00" * 14 + b"\x86\xdd" + b"\x60") == (6, 16)
    assert network_offset(276, b"\x08\x00" + b"\x00" * 18 + ip) == (4, 20)
    assert network_offset(0, b"\x02\x00\x00\x00" + ip) == (4, 4)  # BSD loopback, LE host
    assert network_offset(101, ip) == (4, 0)
    assert network_offset(1, b"\x00" * 12 + b"\x88\x64" + ip)[0] == FOREIGN  # PPPoE
    assert network_offset(147, ip)[0] == FOREIGN  # a link type the fast path does not know


def test_ipv4_fragments_reassemble_in_any_order() -> None:
    payload = bytes(range(256)) * 4

    def frag(off: int, chunk: bytes, more: bool) -> bytes:
        flags = (0x2000 if more else 0) | (off // 8)
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), 7, flags, 64, 17, 0,
                           b"\x01\x02\x03\x04", b"\x05\x06\x07\x08") + chunk
    parts = [frag(0, payload[:400], True), frag(400, payload[400:800], True),
             frag(800, payload[800:], False)]
    ipl = IpLayer()
    assert ipl.decode(parts[2], 0, 4, 1) is None
    assert ipl.decode(parts[0], 0, 4, 2) is None
    out = ipl.decode(parts[1], 0, 4, 3)
    assert isinstance(out, tuple) and out[3] == payload and ipl.pending_fragments() == []


def test_tcp_reassembly_drops_retransmissions_and_frames_messages() -> None:
    msg = (b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 4\r\n\r\nbody"
           b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n")

    def seg(seq: int, data: bytes, flags: int = 0x18) -> bytes:
        return struct.pack("!HHIIBBHHH", 1, 2, seq, 0, 0x50, flags, 0, 0, 0) + data
    t = TcpReassembler()
    key = (b"a", 1, b"b", 2)
    assert t.feed(key, seg(99, b"", 0x02), 1, 0) == []  # SYN: ISN 99
    assert t.feed(key, seg(100, msg[:10]), 2, 0) == []
    assert t.feed(key, seg(100, msg[:10]), 3, 0) == []  # retransmission
    assert t.feed(key, seg(130, msg[30:]), 4, 0) == []  # out of order: held
    got = t.feed(key, seg(110, msg[10:30]), 5, 7)
    cut = msg.index(b"SIP/2.0 200")
    assert [m for m, _, _ in got] == [msg[:cut], msg[cut:]]
    assert {f for _, f, _ in got} == {5} and t.retransmissions == 1


def test_hep_v3_compressed_and_v2() -> None:
    sip = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\n"
    import zlib

    def chunk(t: int, v: bytes) -> bytes:
        return struct.pack("!HHH", 0, t, 6 + len(v)) + v
    body = (chunk(3, bytes([10, 0, 0, 1])) + chunk(4, bytes([10, 0, 0, 2]))
            + chunk(7, b"\x13\xc4") + chunk(8, b"\x13\xc4") + chunk(9, struct.pack("!I", 5))
            + chunk(10, struct.pack("!I", 6)) + chunk(16, zlib.compress(sip)))
    pkt = hep.decode(b"HEP3" + struct.pack("!H", 6 + len(body)) + body)
    assert (pkt.payload, pkt.src, pkt.sport, pkt.ts_us) == (sip, bytes([10, 0, 0, 1]), 5060,
                                                          5_000_006)
    v2 = (struct.pack("!BBBBHH", 2, 28, 2, 17, 5060, 5080) + bytes([1, 2, 3, 4, 5, 6, 7, 8])
          + struct.pack("<IIHH", 1_700_000_000, 9, 1, 0) + sip)
    p2 = hep.decode(v2)
    assert (p2.version, p2.dport, p2.ts_us, p2.payload) == (2, 5080, 1_700_000_000_000_009, sip)
    with pytest.raises(hep.HepError):
        hep.decode(b"HEP3\x00\x40" + b"\x00" * 10)


# --- ingest integration -------------------------------------------------------------------


def test_registered_formats_ingest_into_the_store(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tracehop.ingest.run import ingest_paths
    from tracehop.store import Store

    monkeypatch.setenv("TRACEHOP_SIP_LOCAL_NETS", "192.0.2.0/24")
    monkeypatch.setenv("TRACEHOP_CERT_DIR", str(FIX / "certs"))
    import tracehop.sip as sip

    monkeypatch.setattr(sip, "_config", None)
    files = [FIX / "calls_udp.pcap", FIX / "calls_v6_tcp.pcapng", FIX / "calls.hep"]
    s = ingest_paths([str(f) for f in files], tmp_path / "st", source="sbc-a")  # detected
    assert s.stored == 6 + 4 + 1 and s.rejected == 0
    assert [f.format for f in s.per_file] == ["pcap", "pcapng", "hep"]
    again = ingest_paths([str(files[0])], tmp_path / "st")
    assert again.stored == 0 and again.duplicates == 6
    snap = Store.open(tmp_path / "st").snapshot()
    rows = duckdb.sql(f"select direction, count(*) from read_parquet({snap.all_files()}) "
                      "group by 1 order by 1").fetchall()
    assert rows == [("inbound", 10), ("outbound", 1)]


def test_directory_reads_new_and_grown_files_once(tmp_path: Path) -> None:
    caps = tmp_path / "caps"
    caps.mkdir()
    full = (FIX / "calls_udp.pcap").read_bytes()
    (caps / "a.pcap").write_bytes(full[: len(full) // 2])  # still being written
    shutil.copy(FIX / "calls_v6_tcp.pcapng", caps / "b.pcapng")
    (caps / "notes.txt").write_text("not a capture")
    r1 = ingest_directory(caps, tmp_path / "st", config=CONFIG)
    assert (r1.files_seen, r1.files_read, r1.rejected) == (2, 2, 0)  # cut tail: no reject
    r2 = ingest_directory(caps, tmp_path / "st", config=CONFIG)
    assert (r2.files_skipped, r2.stored) == (2, 0)
    (caps / "a.pcap").write_bytes(full)  # the capture grew
    r3 = ingest_directory(caps, tmp_path / "st", config=CONFIG)
    assert r3.files_resumed == 1 and r3.files_skipped == 1
    assert r1.stored + r3.stored == 6 + 4  # every leg once, none twice


def test_capture_dir_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tracehop.cli import cli

    caps = tmp_path / "caps"
    caps.mkdir()
    shutil.copy(FIX / "calls_udp.pcap", caps / "a.pcap")
    args = ["capture-dir", str(caps), "--store", str(tmp_path / "st"), "--sip-local-net",
            "192.0.2.0/24", "--cert-dir", str(FIX / "certs")]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert (out["files_read"], out["stored"]) == (1, 6)
    assert any("a.pcap: STIR/SHAKEN" in w for w in out["warnings"])
    bad = CliRunner().invoke(cli, [*args[:4], "--sip-local-net", "bogus"])
    assert bad.exit_code != 0 and "bogus" in bad.output


@pytest.mark.tshark
def test_tshark_path_gives_the_same_legs() -> None:
    from tracehop.sip import tshark

    if tshark.available() is None:
        pytest.skip("tshark is not installed")
    cfg = SipConfig(local_nets=CONFIG.local_nets, cert_dir=CONFIG.cert_dir, tshark="always")
    for name in ("calls_udp.pcap", "calls_v6_tcp.pcapng"):
        fast = read_capture(FIX / name, config=CONFIG)
        slow = read_capture(FIX / name, config=cfg)
        assert slow.path_used == "tshark" and fast.path_used == "fast"
        cols = [c for c in fast.legs.column_names if c != "raw_record"]  # tshark: no body
        assert slow.legs.select(cols).sort_by("call_id").equals(
            fast.legs.select(cols).sort_by("call_id")), name


def test_tshark_field_unescaping() -> None:
    from tracehop.sip.tshark import _ts, _unescape

    assert _unescape(r"Via: a\r\nTo: \\x\t\x41") == "Via: a\r\nTo: \\x\tA"
    assert _ts("1311857680.123456789") == 1311857680_123456
    assert _ts("5") == 5_000_000


def test_ingest_takes_the_sip_options_on_the_command_line(tmp_path: Path) -> None:
    # The provider's own SBC addresses and the STI certificates, as capture-dir takes them:
    # the SBC's own call is outbound and the PASSporTs are verified.
    from click.testing import CliRunner

    from tracehop.cli import cli
    from tracehop.sip import current_config

    store = tmp_path / "s"
    before = current_config()
    r = CliRunner().invoke(cli, ["ingest", str(FIX / "calls_udp.pcap"), "--store", str(store),
                                 "--sip-local-net", "192.0.2.0/24", "--cert-dir",
                                 str(FIX / "certs"), "--json"])
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    from tracehop.store import Store

    legs = {row["call_id"]: row for f in Store.open(store).snapshot().all_files()
            for row in pq.read_table(f).to_pylist()}
    want = {e["call_id"]: e for e in json.loads((FIX / "expected" / "calls_udp.pcap.json")
                                                .read_text())}
    assert {k: v["direction"] for k, v in legs.items()} == {
        k: v["direction"] for k, v in want.items()}
    assert {k: v["stir_verified"] for k, v in legs.items() if "stir_verified" in want[k]} == {
        k: v["stir_verified"] for k, v in want.items() if "stir_verified" in v}
    # the options held for that command only
    assert current_config() == before


def test_without_local_nets_an_address_that_sends_and_receives_invites_is_named() -> None:
    """Without --sip-local-net every INVITE reads as inbound, our own onward INVITE of a
    B2BUA call too (and it could answer a lookup, naming ourselves): the reading names the
    address that both received and sent INVITEs, and the option that settles it."""
    bare = read_capture(FIX / "calls_udp.pcap", config=SipConfig(tshark="never"))
    named = [w for w in bare.warnings if "both received and sent INVITEs" in w]
    assert len(named) == 1 and "--sip-local-net 192.0.2.10/32" in named[0]
    configured = read_capture(FIX / "calls_udp.pcap", config=CONFIG)
    assert not any("both received and sent INVITEs" in w for w in configured.warnings)


def _hep3(src: str, dst: str, sport: int, dport: int, ts_s: int, sip: bytes) -> bytes:
    """A HEP3 packet (chunks 2-5, 7-10, 15: proto, addresses, ports, time, payload)."""
    import socket

    def chunk(t: int, v: bytes) -> bytes:
        return struct.pack("!HHH", 0, t, 6 + len(v)) + v
    body = (chunk(1, b"\x02") + chunk(2, b"\x11") + chunk(3, socket.inet_aton(src))
            + chunk(4, socket.inet_aton(dst)) + chunk(7, struct.pack("!H", sport))
            + chunk(8, struct.pack("!H", dport)) + chunk(9, struct.pack("!I", ts_s))
            + chunk(10, struct.pack("!I", 250_000)) + chunk(15, sip))
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def _tcp_pcap(path: Path, segments: list[tuple[int, bytes, int]]) -> None:
    """A classic pcap of Ethernet/IPv4/TCP frames from an agent (10.9.9.9) to a HEP server
    (10.9.9.1:9060): (sequence number, payload, TCP flags) each."""
    import socket

    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (seq, data, flags) in enumerate(segments):
        tcp = struct.pack("!HHIIBBHHH", 40000, 9060, seq, 0, 0x50, flags, 65535, 0, 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0, 64, 6, 0,
                         socket.inet_aton("10.9.9.9"), socket.inet_aton("10.9.9.1")) + tcp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1_800_000_000 + i, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def test_hep_over_tcp_is_read_by_the_packets_own_length_and_addresses(tmp_path: Path) -> None:
    """HEP3 packets streamed over TCP (heplify -nt tcp, captagent): framed by HEP3's own
    length across segment boundaries, a retransmitted segment read once, and each SIP
    message dated and addressed by its HEP chunks, not by the agent's connection."""
    invite = (b"INVITE sip:+13125550100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP "
              b"198.51.100.7;branch=z9hG4bKhep1\r\nFrom: <sip:+12025550111@198.51.100.7>;tag=a"
              b"\r\nTo: <sip:+13125550100@192.0.2.10>\r\nCall-ID: hep-tcp-1\r\n"
              b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKhep1\r\n"
          b"From: <sip:+12025550111@198.51.100.7>;tag=a\r\nTo: <sip:+13125550100@192.0.2.10>"
          b";tag=b\r\nCall-ID: hep-tcp-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    stream = (_hep3("198.51.100.7", "192.0.2.10", 5060, 5060, 1_790_000_000, invite)
              + _hep3("192.0.2.10", "198.51.100.7", 5060, 5060, 1_790_000_001, ok))
    cut = 50  # the first packet split across two segments
    cap = tmp_path / "hep_tcp.pcap"
    _tcp_pcap(cap, [(999, b"", 0x02), (1000, stream[:cut], 0x18),
                    (1000, stream[:cut], 0x18),  # retransmitted
                    (1000 + cut, stream[cut:], 0x18)])
    res = read_capture(cap, config=SipConfig(tshark="never"), workers=1)
    (leg,) = res.legs.to_pylist()
    assert (leg["call_id"], leg["ingress_ip"], leg["called_e164"]) == (
        "hep-tcp-1", "198.51.100.7", "+13125550100")
    # dated by HEP chunks 9/10, not by the frame (2027)
    assert leg["start_utc"] == datetime.fromisoformat("2026-09-21T14:13:20.250000+00:00")
    assert leg["disposition"] == "answered"
    assert not res.rejects.num_rows


def test_hep_over_tcp_resynchronises_after_bytes_that_are_no_packet() -> None:
    sip = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n"
    pkt = _hep3("10.0.0.1", "10.0.0.2", 5060, 5060, 1_790_000_000, sip)

    def seg(seq: int, data: bytes, flags: int = 0x18) -> bytes:
        return struct.pack("!HHIIBBHHH", 1, 2, seq, 0, 0x50, flags, 0, 0, 0) + data
    t = TcpReassembler()
    key = (b"a", 1, b"b", 9060)
    got = t.feed(key, seg(100, pkt + b"garbage!" + pkt), 1, 0)
    assert [m for m, _, _ in got] == [pkt, pkt]
    assert [r for _, r in t.problems] == [
        "HEP over TCP: bytes that are not a HEP3 packet; skipped to the next packet"]


def _b2bua_capture(tmp_path: Path) -> tuple[Path, str]:
    """A capture at an SBC that carries each call on (a B2BUA: a new dialog to the next hop
    for every call it receives), as the simulator's provider captures are; and the SBC's
    address."""
    from tracehop.demo.run import build
    from tracehop.sim.network import demo_network
    from tracehop.sim.traffic import generate

    net = demo_network().with_provider("keystone", format="pcap")
    traffic = generate(net, campaign_calls=4, ordinary_calls=20, seed=3)
    b = build(tmp_path, net, traffic)["keystone"]
    (capture,) = b.records
    return capture, b.ip


def test_without_local_nets_the_sbc_that_carries_calls_on_is_found(tmp_path: Path) -> None:
    """Without --sip-local-net the reader finds the capture's own side from the calls: the
    address that sends an onward INVITE for (nearly) every call it receives. Its INVITEs
    are read as outbound, so the legs are those the option would give, leg ids included:
    a lookup answers from the upstream's leg instead of from our own onward one."""
    capture, sbc = _b2bua_capture(tmp_path)
    told = read_capture(capture, config=SipConfig(local_nets=parse_nets(f"{sbc}/32"),
                                                  tshark="never"), workers=1)
    found = read_capture(capture, config=SipConfig(tshark="never"), workers=1)
    assert found.legs.num_rows == told.legs.num_rows > 0
    assert "outbound" in told.legs.column("direction").to_pylist()
    cols = [c for c in told.legs.column_names if c != "raw_record"]
    assert found.legs.select(cols).sort_by("leg_id").equals(
        told.legs.select(cols).sort_by("leg_id"))
    (note,) = [w for w in found.warnings if "taken as your own side" in w]
    assert sbc in note and "--sip-local-net" in note
    assert not any("both received and sent INVITEs" in w for w in found.warnings)
    # the upstream peers' INVITEs, carried on by the SBC in the same microsecond, are not
    # taken for relays of the SBC's own onward ones
    assert not any("moments after" in w for w in found.warnings), found.warnings


def _invite(called: str, cid: str) -> bytes:
    """A minimal initial INVITE (RFC 3261 §8.1.1: the headers a leg is built from)."""
    return (f"INVITE sip:{called}@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{cid}\r\n"
            f"From: <sip:+12025550111@x>;tag=1\r\nTo: <sip:{called}@x>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def test_a_peer_trunk_both_ways_is_not_taken_as_ours() -> None:
    """A peer whose trunk carries calls both ways sends us calls that are not the calls we
    sent it (one routing loop aside): it must not be taken for our own side, or its calls
    would never answer. Our SBC, which carries on the calls it receives, is."""
    import socket

    from tracehop.sip.dialogs import LegBuilder

    us, peer, other = (socket.inet_aton(a) for a in ("192.0.2.10", "198.51.100.10",
                                                     "203.0.113.20"))

    b = LegBuilder("t.pcap", None, "pcap", SipConfig(tshark="never"))
    s = 1_000_000
    for i, (t, src, dst, called, cid) in enumerate([
        (0, peer, us, "+13125550101", "in1"),      # the peer hands us a call ...
        (s // 20, us, other, "3125550101", "out1"),  # ... and our SBC carries it on
        (5 * s, us, peer, "+13125550199", "out2"),   # we send the peer a call of ours
        (6 * s, peer, us, "+13125550150", "in2"),    # the peer sends us another call
        (10 * s, us, peer, "+13125550177", "out3"),  # a routing loop: the peer sends back
        (10 * s + s // 2, peer, us, "+13125550177", "in3"),  # the call we just sent it
        (11 * s, other, us, "+13125550160", "in4"),
        (11 * s + s // 10, us, peer, "+13125550160", "out4"),
    ]):
        b.add(i + 1, t, src, dst, 5060, 5060, "udp", _invite(called, cid))
    legs, _ = b.finish()
    got = dict(zip(legs.column("call_id").to_pylist(), legs.column("direction").to_pylist(),
                   strict=True))
    assert got == {"in1": "inbound", "in2": "inbound", "in3": "inbound", "in4": "inbound",
                   "out1": "outbound", "out2": "outbound", "out3": "outbound",
                   "out4": "outbound"}
    (row,) = [r for r in legs.to_pylist() if r["call_id"] == "out1"]
    assert (row["ingress_ip"], row["egress_ip"], row["egress_trunk"]) == (
        None, "203.0.113.20", "203.0.113.20:5060")
    assert [w for w in b.warnings if "taken as your own side" in w and "192.0.2.10" in w]
    assert not any("198.51.100.10 was taken" in w for w in b.warnings)


def test_an_sbc_with_two_interfaces_is_named_not_guessed() -> None:
    """Calls reach the SBC's peer side (192.0.2.10) and leave from its core side (10.1.1.1)
    moments later: nothing proves the two are one element, so nothing is read as outbound,
    but the reading names the sending side and the option to give."""
    import socket

    from tracehop.sip.dialogs import LegBuilder

    peer, pub, core_side, core = (socket.inet_aton(a) for a in (
        "198.51.100.10", "192.0.2.10", "10.1.1.1", "10.1.1.50"))

    b = LegBuilder("t.pcap", None, "pcap", SipConfig(tshark="never"))
    s = 1_000_000
    frames = []
    for i in range(3):
        called = f"+1312555010{i}"
        frames += [(60 * i * s, peer, pub, called, f"in{i}"),
                   (60 * i * s + s // 50, core_side, core, called[2:], f"out{i}")]
    for n, (t, src, dst, called, cid) in enumerate(frames, start=1):
        b.add(n, t, src, dst, 5060, 5060, "udp", _invite(called, cid))
    legs, _ = b.finish()
    assert set(legs.column("direction").to_pylist()) == {"inbound"}
    (note,) = [w for w in b.warnings if "moments after" in w]
    assert "10.1.1.1 sent 3 of its 3 INVITEs" in note and "192.0.2.10" in note
    assert "--sip-local-net 10.1.1.1/32" in note


def test_a_capture_whose_sbc_carries_no_call_on_keeps_every_invite_inbound() -> None:
    """The fixture's own SBC sends one call of its own and carries none on: named in a
    warning, not taken as our side (nothing proves it is)."""
    bare = read_capture(FIX / "calls_udp.pcap", config=SipConfig(tshark="never"))
    assert "outbound" not in bare.legs.column("direction").to_pylist()
    assert not any("taken as your own side" in w for w in bare.warnings)


def test_a_large_capture_is_weighed_by_a_sample_and_read_whole() -> None:
    """Past 20,000 INVITEs the own side is weighed on runs of consecutive INVITEs spread over
    the capture (a call's two INVITEs stay in one run); every INVITE of the address taken as
    ours is then read as outbound, not only the sample's."""
    import socket

    from tracehop.sip.dialogs import SAMPLE_BLOCK, SAMPLE_BLOCKS, LegBuilder, _sample

    assert _sample(list(range(10))) == list(range(10))
    got = _sample(list(range(100_000)))
    assert len(got) == SAMPLE_BLOCKS * SAMPLE_BLOCK and got[0] == 0 and got[-1] == 99_999
    runs = [got[j * SAMPLE_BLOCK:(j + 1) * SAMPLE_BLOCK] for j in range(SAMPLE_BLOCKS)]
    assert all(r == list(range(r[0], r[0] + SAMPLE_BLOCK)) for r in runs)  # consecutive
    peer, sbc, down = (socket.inet_aton(a) for a in ("198.51.100.10", "192.0.2.10",
                                                     "203.0.113.20"))
    b = LegBuilder("t.pcap", None, "pcap", SipConfig(tshark="never"))
    calls = 12_000
    for i in range(calls):
        called = f"+1312{i:07d}"
        b.add(2 * i + 1, i * 10_000, peer, sbc, 5060, 5060, "udp", _invite(called, f"in{i}"))
        b.add(2 * i + 2, i * 10_000, sbc, down, 5060, 5060, "udp", _invite(called, f"out{i}"))
    legs, _ = b.finish()
    directions = legs.column("direction").to_pylist()
    assert directions.count("outbound") == calls and directions.count("inbound") == calls
    (note,) = [w for w in b.warnings if "taken as your own side" in w]
    assert "a sample of the capture" in note
