"""Fixes from a review of the SIP capture reader: each test builds its capture bytes here.

1. a raw HEP file that grew is read on from where the last run stopped (capture-dir);
2. pcapng ``if_tsoffset`` (IDB option 14) and ``if_tsresol`` (option 9) date the packets;
3. a raw HEP packet without a timestamp is a reject naming it, never a 1970 leg;
4. a HEP payload captured from a stream holding two SIP messages gives both;
5. a capture of a link type nothing reads is a clear error naming the file and the type;
6. a response whose top Via is compact (``v:``) above a long ``Via:`` matches its INVITE;
7. a PASSporT ``iat`` with a fraction (a NumericDate, RFC 7519 §2) is read;
8. capture errors speak of frames, and a non-capture named ``.pcap`` says so.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.errors import CaptureError
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.directory import ingest_directory
from tracehop.sip.message import invite_response_key, quick_fields
from tracehop.sip.passport import decode_identity
from tracehop.sip.reader import read_capture
from tracehop.sip.tcp import split_messages
from tracehop.store import Store

T0 = 1795000000  # 2026-11-19T06:13:20Z
A, B = "198.51.100.7", "203.0.113.5"
NEVER = SipConfig(tshark="never")


# --- capture builders ---------------------------------------------------------------------

def _sip(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _invite(cid: str, to: str, branch: str, transport: str = "UDP",
            extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    return _sip(f"INVITE sip:{to}@b.example SIP/2.0", [
        ("Via", f"SIP/2.0/{transport} {A}:5060;branch={branch}"),
        ("From", "<sip:+12025550111@a.example>;tag=f1"),
        ("To", f"<sip:{to}@b.example>"), ("Call-ID", cid), ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:+12025550111@{A}>"), *extra])


def _response(code: int, reason: str, cid: str, to: str, branch: str) -> bytes:
    return _sip(f"SIP/2.0 {code} {reason}", [
        ("Via", f"SIP/2.0/UDP {A}:5060;branch={branch}"),
        ("From", "<sip:+12025550111@a.example>;tag=f1"),
        ("To", f"<sip:{to}@b.example>;tag=t1"), ("Call-ID", cid), ("CSeq", "1 INVITE")])


def _udp_frame(src: str, dst: str, payload: bytes, sport: int = 5060,
               dport: int = 5060) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + udp
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def _pcap(frames: list[tuple[float, bytes]], linktype: int = 1) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for ts, data in frames:
        sec = int(ts)
        out += struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(data), len(data)) + data
    return out


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _block(btype: int, body: bytes) -> bytes:
    body = _pad4(body)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _pcapng(ifaces: list[bytes], packets: list[tuple[int, int, bytes]]) -> bytes:
    """``ifaces``: the options of each Ethernet interface; ``packets``: (interface, raw
    timestamp in the interface's ticks, frame)."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for opts in ifaces:
        out += _block(1, struct.pack("<HHI", 1, 0, 65535) + opts + _option(0, b""))
    for iface, t, data in packets:
        out += _block(6, struct.pack("<IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(data),
                                     len(data)) + data)
    return out


def _chunk(ctype: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, ctype, 6 + len(value)) + value


def _hep3(payload: bytes, ts: float | None, proto: int = 17, src: str = A,
          dst: str = B) -> bytes:
    c = (_chunk(1, b"\x02") + _chunk(2, bytes([proto])) + _chunk(3, socket.inet_aton(src))
         + _chunk(4, socket.inet_aton(dst)) + _chunk(7, struct.pack("!H", 5060))
         + _chunk(8, struct.pack("!H", 5060)))
    if ts is not None:
        c += _chunk(9, struct.pack("!I", int(ts))) + _chunk(10, struct.pack("!I", 0))
    c += _chunk(11, b"\x01") + _chunk(12, struct.pack("!I", 2001)) + _chunk(15, payload)
    return b"HEP3" + struct.pack("!H", 6 + len(c)) + c


def _legs(store: Path) -> dict[str, dict[str, Any]]:
    snap = Store.open(store).snapshot()
    files = snap.all_files()
    rows = pq.read_table(files).to_pylist() if files else []
    return {r["call_id"]: r for r in rows}


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout + r.stderr


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- 1. a raw HEP file that grows ---------------------------------------------------------

def _busy_call(cid: str, to: str, at: float) -> bytes:
    br = "z9hG4bK" + cid.split("@")[0]
    return (_hep3(_invite(cid, to, br), at)
            + _hep3(_response(486, "Busy Here", cid, to, br), at + 1))


def test_a_grown_raw_hep_file_is_read_on_from_its_next_packet(tmp_path: Path) -> None:
    d, store = tmp_path / "homer", tmp_path / "s"
    d.mkdir()
    f = d / "homer.hep"
    f.write_bytes(_busy_call("hg1@x", "+13125550200", T0))
    first = ingest_directory(d, store, config=NEVER)
    assert (first.files_read, first.legs_new, first.stored) == (1, 1, 1)

    second_call = _busy_call("hg2@x", "+13125550201", T0 + 10)
    with f.open("ab") as fh:  # the collector goes on writing: half a packet so far
        fh.write(second_call[:30])
    mid = ingest_directory(d, store, config=NEVER)
    assert mid.rejected == 0 and mid.stored == 0 and mid.files_skipped == 1
    assert not mid.warnings

    with f.open("ab") as fh:
        fh.write(second_call[30:])
    grown = ingest_directory(d, store, config=NEVER)
    assert (grown.files_resumed, grown.files_read) == (1, 0)
    assert (grown.legs_new, grown.stored, grown.duplicates, grown.rejected) == (1, 1, 0, 0)
    assert not grown.warnings
    legs = _legs(store)
    assert set(legs) == {"hg1@x", "hg2@x"}
    assert legs["hg2@x"]["disposition"] == "busy"
    assert legs["hg2@x"]["source_record"] == 3  # packet numbers of the whole file
    assert legs["hg2@x"]["start_utc"] == _utc(T0 + 10)

    again = ingest_directory(d, store, config=NEVER)
    assert again.files_skipped == 1 and again.version is None


# --- 2. pcapng if_tsoffset / if_tsresol ---------------------------------------------------

def test_pcapng_if_tsoffset_and_if_tsresol_date_the_packets(tmp_path: Path) -> None:
    f = tmp_path / "offset.pcapng"
    offset = _option(14, struct.pack("<q", T0))
    nano = _option(9, b"\x09")
    pow2 = _option(9, b"\x83")  # 2^3 ticks per second
    f.write_bytes(_pcapng(
        [offset, nano + offset, pow2],
        [(0, 5_000_000, _udp_frame(A, B, _invite("off@x", "+13125550300", "z9hG4bKo"))),
         (1, 7_250_000_000, _udp_frame(A, B, _invite("offns@x", "+13125550301", "z9hG4bKn"))),
         (2, (T0 + 9) * 8 + 4, _udp_frame(A, B, _invite("p2@x", "+13125550302",
                                                          "z9hG4bKp")))]))
    legs = {r["call_id"]: r for r in read_capture(f, config=NEVER).legs.to_pylist()}
    assert legs["off@x"]["start_utc"] == _utc(T0 + 5)
    assert legs["offns@x"]["start_utc"] == _utc(T0 + 7.25)
    assert legs["p2@x"]["start_utc"] == _utc(T0 + 9.5)


# --- 3. and 4. raw HEP: no timestamp; two messages in one payload -------------------------

def _hep_packets() -> list[bytes]:
    two = (_invite("tcpA@x", "+13125550182", "z9hG4bKa", "TCP")
           + _invite("tcpB@x", "+13125550183", "z9hG4bKb", "TCP"))
    return [_hep3(_invite("dated@x", "+13125550180", "z9hG4bKd"), T0),
            _hep3(_invite("undated@x", "+13125550181", "z9hG4bKu"), None),
            _hep3(two, T0 + 50, proto=6)]


def test_a_raw_hep_packet_without_timestamp_is_a_reject_not_a_1970_leg(
        tmp_path: Path) -> None:
    f = tmp_path / "raw.hep"
    f.write_bytes(b"".join(_hep_packets()))
    res = read_capture(f, config=NEVER)
    legs = {r["call_id"]: r for r in res.legs.to_pylist()}
    assert "undated@x" not in legs
    assert all(r["start_utc"].year == 2026 for r in legs.values())
    rejects = res.rejects.to_pylist()
    assert [r["source_record"] for r in rejects] == [2]
    assert "HEP packet 2" in rejects[0]["reason"]
    assert "no timestamp" in rejects[0]["reason"]

    zero = tmp_path / "zero.hep"  # a timestamp chunk of 0 seconds: not set either
    zero.write_bytes(_hep3(_invite("zero@x", "+13125550184", "z9hG4bKz"), 0.0))
    res = read_capture(zero, config=NEVER)
    assert res.legs.num_rows == 0
    assert "no timestamp" in res.rejects.to_pylist()[0]["reason"]


def test_a_hep_payload_from_a_stream_gives_every_sip_message_in_it(tmp_path: Path) -> None:
    raw = tmp_path / "raw.hep"
    raw.write_bytes(b"".join(_hep_packets()))
    in_udp = tmp_path / "hep_in_udp.pcap"  # the same packets sent to a collector on UDP 9060
    in_udp.write_bytes(_pcap([(T0 + 3600 + i, _udp_frame("10.0.0.50", "10.0.0.60", p, 47000,
                                                          9060))
                              for i, p in enumerate(_hep_packets())]))
    for f in (raw, in_udp):
        legs = {r["call_id"]: r for r in read_capture(f, config=NEVER).legs.to_pylist()}
        assert {"tcpA@x", "tcpB@x"} <= set(legs), f
        assert legs["tcpB@x"]["start_utc"] == _utc(T0 + 50)
        assert legs["tcpB@x"]["raw_record"].startswith("INVITE sip:+13125550183")
        assert "tcpB@x" not in legs["tcpA@x"]["raw_record"]


def test_split_messages_keeps_what_does_not_start_a_message() -> None:
    one = _invite("x@x", "+13125550100", "z9hG4bKx", "TCP")
    assert split_messages(one) == [one]
    assert split_messages(one + b"\r\n\r\n" + one) == [one, one]  # CRLF keep-alives between
    assert split_messages(one + b"garbage") == [one + b"garbage"]
    cut = one + one[:60]  # the second message cut after its start line: a message of its own
    assert split_messages(cut) == [one, one[:60]]
    lf = one.replace(b"\r\n", b"\n")
    assert split_messages(lf + one) == [lf, one]


# --- 5. unknown link type -----------------------------------------------------------------

def test_an_unknown_link_type_is_a_clear_error_naming_file_and_type(tmp_path: Path) -> None:
    f = tmp_path / "user147.pcap"
    frames = [(T0 + i, _udp_frame(A, B, _invite(f"u{i}@x", "+13125550400", f"z9hG4bKu{i}")))
              for i in range(3)]
    f.write_bytes(_pcap(frames, linktype=147))
    with pytest.raises(CaptureError) as e:
        read_capture(f, config=NEVER)
    assert str(f) in str(e.value) and "147 (USER0)" in str(e.value)

    store = tmp_path / "s"
    code, out = _run("ingest", str(f), "--store", str(store))
    assert code != 0
    assert str(f) in out and "link type 147" in out and "nothing could be ingested" in out
    assert not store.exists()


def test_an_unknown_link_type_beside_a_known_one_is_a_warning(tmp_path: Path) -> None:
    f = tmp_path / "mixed.pcapng"
    good = _udp_frame(A, B, _invite("eth@x", "+13125550401", "z9hG4bKe"))
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += _block(1, struct.pack("<HHI", 1, 0, 65535))
    out += _block(1, struct.pack("<HHI", 147, 0, 65535))
    for iface in (0, 1):
        t = (T0 + iface) * 1_000_000
        out += _block(6, struct.pack("<IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(good),
                                     len(good)) + good)
    f.write_bytes(out)
    res = read_capture(f, config=NEVER)
    assert res.legs.column("call_id").to_pylist() == ["eth@x"]
    assert any("147 (USER0)" in w for w in res.warnings)


# --- 6. compact top Via above a long Via --------------------------------------------------

_MIXED_HEAD = (b"SIP/2.0 486 Busy Here\r\n"
               b"v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtop\r\n"
               b"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKbottom\r\n"
               b"From: <sip:+12025550116@a.example>;tag=x\r\n"
               b"To: <sip:+13125550114@b.example>;tag=q\r\n"
               b"Call-ID: mixvia@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0")


def test_the_top_via_is_the_first_via_line_in_either_form() -> None:
    assert invite_response_key(_MIXED_HEAD) == ("mixvia@x", "z9hG4bKtop")
    assert quick_fields(_MIXED_HEAD) == ("mixvia@x", "1 INVITE", "z9hG4bKtop")
    spaced = _MIXED_HEAD.replace(b"v: SIP", b"Via : SIP")  # LWS before the colon
    assert invite_response_key(spaced) == ("mixvia@x", "z9hG4bKtop")
    assert quick_fields(spaced)[2] == "z9hG4bKtop"
    usual = _MIXED_HEAD.replace(b"v: SIP", b"Via: SIP")
    assert invite_response_key(usual) == ("mixvia@x", "z9hG4bKtop")


def test_a_response_with_a_compact_top_via_completes_its_leg(tmp_path: Path) -> None:
    invite = (b"INVITE sip:+13125550114@b.example SIP/2.0\r\n"
              b"v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtop\r\n"
              b"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKbottom\r\n"
              b"From: <sip:+12025550116@a.example>;tag=x\r\n"
              b"To: <sip:+13125550114@b.example>\r\n"
              b"Call-ID: mixvia@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    f = tmp_path / "forms.pcap"
    f.write_bytes(_pcap([(T0, _udp_frame(A, B, invite)),
                         (T0 + 1, _udp_frame(B, A, _MIXED_HEAD + b"\r\n\r\n"))]))
    leg = read_capture(f, config=NEVER).legs.to_pylist()[0]
    assert (leg["disposition"], leg["cause_raw"]) == ("busy", "486")


# --- 7. PASSporT iat with a fraction ------------------------------------------------------

def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _identity(iat: Any) -> str:
    header = {"alg": "ES256", "ppt": "shaken", "typ": "passport",
              "x5u": "https://cr.example/a.pem"}
    claims = {"attest": "A", "dest": {"tn": ["13125550500"]}, "iat": iat,
              "orig": {"tn": "12025550111"}, "origid": "0f6f0f6f-0000-4000-8000-000000000001"}
    jws = ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                    _b64url(b"\x01" * 64)))
    return f"{jws};info=<https://cr.example/a.pem>;alg=ES256;ppt=shaken"


def test_a_passport_iat_with_a_fraction_is_read(tmp_path: Path) -> None:
    assert decode_identity(_identity(float(T0))).iat == T0
    assert decode_identity(_identity(T0 + 0.75)).iat == T0
    assert decode_identity(_identity(T0)).iat == T0
    assert decode_identity(_identity(True)).iat is None  # JSON true is no NumericDate
    f = tmp_path / "stir.pcap"
    inv = _invite("stir-floatiat@x", "+13125550500", "z9hG4bKs",
                  extra=(("Identity", _identity(float(T0))),))
    f.write_bytes(_pcap([(T0 + 1, _udp_frame(A, B, inv))]))
    leg = read_capture(f, config=NEVER).legs.to_pylist()[0]
    assert leg["iat_utc"] == _utc(T0) and leg["attest"] == "A"


# --- 8. error wording for captures --------------------------------------------------------

def test_a_capture_with_every_frame_rejected_names_the_frame(tmp_path: Path) -> None:
    f = tmp_path / "cut.pcap"
    f.write_bytes(_pcap([])[:24] + struct.pack("<IIII", T0, 0, 500, 500) + b"\0" * 100)
    code, out = _run("ingest", str(f), "--store", str(tmp_path / "s"))
    assert code != 0
    assert "nothing could be ingested" in out and "(frame 1: truncated capture" in out
    assert "line 1" not in out and "--format" not in out


def test_a_text_file_named_pcap_is_said_not_to_be_a_capture(tmp_path: Path) -> None:
    for name, data in (("notcap.pcap", b"hello, this is not a capture\nsecond line\n"),
                       ("binary.pcapng", bytes(range(256)) * 4)):
        f = tmp_path / name
        f.write_bytes(data)
        code, out = _run("ingest", str(f), "--store", str(tmp_path / "s"))
        assert code != 0
        assert str(f) in out and "not a pcap, pcapng or HEP capture" in out
        assert "no known CDR layout" not in out


def test_a_capture_without_sip_says_so(tmp_path: Path) -> None:
    # RTP alone (UDP frames that are no SIP): frames, but nothing to ingest. It must be an
    # error naming the file, not a silent "0 read" recorded as if it continued another file.
    rtp = bytes([0x80, 0x00]) + b"\x00" * 170
    cap = tmp_path / "rtp.pcap"
    cap.write_bytes(_pcap([(1795000000.0 + i / 50, _udp_frame("192.0.2.1", "192.0.2.2", rtp,
                                                              sport=10000, dport=20000))
                           for i in range(5)]))
    r = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout)
    assert out["stored"] == 0
    assert "no SIP messages in the capture" in out["per_file"][0]["error"]


def _forked_2xx(cid: str, to: str, tag: str) -> bytes:
    return _sip("SIP/2.0 200 OK", [
        ("Via", f"SIP/2.0/UDP {A}:5060;branch=z9hG4bKfork"),
        ("From", "<sip:+12025550111@a.example>;tag=f1"),
        ("To", f"<sip:{to}@b.example>;tag={tag}"), ("Call-ID", cid), ("CSeq", "1 INVITE")])


def _bye(cid: str, to: str, to_tag: str, branch: str) -> bytes:
    return _sip(f"BYE sip:{to}@b.example SIP/2.0", [
        ("Via", f"SIP/2.0/UDP {A}:5060;branch={branch}"),
        ("From", "<sip:+12025550111@a.example>;tag=f1"),
        ("t", f"<sip:{to}@b.example>;tag={to_tag}"), ("Call-ID", cid), ("CSeq", "2 BYE")])


def test_a_bye_to_an_extra_fork_does_not_end_the_call(tmp_path: Path) -> None:
    # A forked INVITE answered by two forks: the first 2xx (tag fb) is the call, the caller
    # hangs up the late fork (tag fa) at once (RFC 3261 §13.2.2.4) and the call 38 s later.
    t0, to, cid = 1795000000.0, "+13125550103", "fork@x"
    frames = [
        (t0, _udp_frame(A, B, _invite(cid, to, "z9hG4bKfork"))),
        (t0 + 2.0, _udp_frame(B, A, _forked_2xx(cid, to, "fb"))),
        (t0 + 2.1, _udp_frame(B, A, _forked_2xx(cid, to, "fa"))),
        (t0 + 2.2, _udp_frame(A, B, _bye(cid, to, "fa", "z9hG4bKbye1"))),  # compact To: "t"
        (t0 + 40.0, _udp_frame(A, B, _bye(cid, to, "fb", "z9hG4bKbye2"))),
    ]
    cap = tmp_path / "fork.pcap"
    cap.write_bytes(_pcap(frames))
    res = read_capture(cap, None, NEVER)
    (leg,) = res.legs.to_pylist()
    assert leg["duration_s"] == pytest.approx(40.0)
    assert leg["end_utc"].timestamp() == pytest.approx(t0 + 40.0)


def test_a_simple_packet_block_is_reported_not_stored_in_1970(tmp_path: Path) -> None:
    # pcapng's Simple Packet Block has no timestamp (pcapng §4.4): its INVITE cannot give a
    # call time, so the frame is a reject with the reason, never a leg at epoch 0.
    frame = _udp_frame(A, B, _invite("spb@x", "+13125550104", "z9hG4bKspb"))
    spb = _block(3, struct.pack("<I", len(frame)) + frame)
    cap = tmp_path / "spb.pcapng"
    cap.write_bytes(_pcapng([b""], []) + spb)
    res = read_capture(cap, None, NEVER)
    assert res.legs.num_rows == 0
    assert any("Simple Packet Block" in r for r in res.rejects.column("reason").to_pylist())
