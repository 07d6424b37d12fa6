"""QA of SIP-capture ingestion as a transit carrier captures it at its SBC; each test builds
its capture here (no file from realworld is copied).

An INVITE challenged for credentials (407, or 401) and sent again with them (same Call-ID,
CSeq + 1, new branch: RFC 3261 §22.2, §22.3) is one call, one leg, not a failed leg and an
answered one. (And a capture with no SIP at all: its error says what to check.)
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.sip.dialogs import SipConfig
from tracehop.sip.reader import read_capture

T0 = 1_795_183_800  # 2026-11-20T14:10:00Z
PEER, SBC = "203.0.113.9", "10.20.0.5"
NEVER = SipConfig(tshark="never")


def _msg(start: str, cid: str, cseq: str, src: str, branch: str, to_tag: str | None = None,
         extra: tuple[tuple[str, str], ...] = (), called: str = "+13125550104") -> bytes:
    to = f"<sip:{called}@{SBC};user=phone>" + (f";tag={to_tag}" if to_tag else "")
    head = [("Via", f"SIP/2.0/UDP {src}:5060;branch={branch}"), ("Max-Forwards", "70"),
            ("From", f"<sip:+12025550111@{src};user=phone>;tag=f-{cid}"), ("To", to),
            ("Call-ID", cid), ("CSeq", cseq), *extra]
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head)
            + "Content-Length: 0\r\n\r\n").encode()


def _frame(src: str, dst: str, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + udp
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def _pcap(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, data in frames:
        sec = int(ts)
        out.append(struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(data), len(data))
                   + data)
    path.write_bytes(b"".join(out))
    return path


def _challenged(code: int, reason: str, header: str) -> list[tuple[float, bytes]]:
    cid, ruri = "auth-1@peer", f"sip:+13125550104@{SBC};user=phone"
    inv = f"INVITE {ruri} SIP/2.0"
    creds = ((header.replace("Authenticate", "Authorization"),
              f'Digest username="peer", realm="sbc", nonce="n1", uri="{ruri}", '
              'response="0123456789abcdef0123456789abcdef"'),)
    return [
        (T0, _frame(PEER, SBC, _msg(inv, cid, "1 INVITE", PEER, "z9hG4bKa1"))),
        (T0 + 0.01, _frame(SBC, PEER, _msg(f"SIP/2.0 {code} {reason}", cid, "1 INVITE", PEER,
                                           "z9hG4bKa1", "ch1",
                                           ((header, 'Digest realm="sbc", nonce="n1"'),)))),
        (T0 + 0.02, _frame(PEER, SBC, _msg(f"ACK {ruri} SIP/2.0", cid, "1 ACK", PEER,
                                           "z9hG4bKa1", "ch1"))),
        # RFC 3261 §22.2: the same request again, same Call-ID and From tag, CSeq + 1
        (T0 + 0.05, _frame(PEER, SBC, _msg(inv, cid, "2 INVITE", PEER, "z9hG4bKa2",
                                           extra=creds))),
        (T0 + 0.06, _frame(SBC, PEER, _msg("SIP/2.0 100 Trying", cid, "2 INVITE", PEER,
                                           "z9hG4bKa2"))),
        (T0 + 4.0, _frame(SBC, PEER, _msg("SIP/2.0 200 OK", cid, "2 INVITE", PEER,
                                          "z9hG4bKa2", "t2"))),
        (T0 + 4.02, _frame(PEER, SBC, _msg(f"ACK {ruri} SIP/2.0", cid, "2 ACK", PEER,
                                           "z9hG4bKa3", "t2"))),
        (T0 + 34.0, _frame(PEER, SBC, _msg(f"BYE {ruri} SIP/2.0", cid, "3 BYE", PEER,
                                           "z9hG4bKa4", "t2"))),
    ]


def test_a_407_challenged_invite_sent_again_with_credentials_is_one_leg(
        tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "auth.pcap",
                _challenged(407, "Proxy Authentication Required", "Proxy-Authenticate"))
    res = read_capture(cap, config=NEVER, workers=1)
    legs = res.legs.to_pylist()
    assert len(legs) == 1, [(x["source_record"], x["disposition"]) for x in legs]
    (leg,) = legs
    assert leg["call_id"] == "auth-1@peer" and leg["direction"] == "inbound"
    assert leg["ingress_ip"] == PEER and leg["called_e164"] == "+13125550104"
    assert leg["disposition"] == "answered" and leg["cause_raw"] == "200"
    assert leg["source_record"] == 4  # the INVITE the call went on with
    assert abs(leg["duration_s"] - 33.95) < 1e-6  # from the INVITE sent again


def test_a_401_challenge_from_the_far_end_is_one_leg_too(tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "auth401.pcap",
                _challenged(401, "Unauthorized", "WWW-Authenticate"))
    legs = read_capture(cap, config=NEVER, workers=1).legs.to_pylist()
    assert [(x["source_record"], x["disposition"]) for x in legs] == [(4, "answered")]


def test_a_new_attempt_on_the_same_call_id_from_another_address_stays_its_own_leg(
        tmp_path: Path) -> None:
    # Not a retry with credentials: the second INVITE comes from another address (a failover
    # of the peer, say); both attempts are kept.
    frames = _challenged(407, "Proxy Authentication Required", "Proxy-Authenticate")
    other = "203.0.113.10"
    ts, _ = frames[3]
    frames[3] = (ts, _frame(other, SBC, _msg(f"INVITE sip:+13125550104@{SBC};user=phone SIP/2.0",
                                             "auth-1@peer", "2 INVITE", other, "z9hG4bKa2")))
    cap = _pcap(tmp_path / "two.pcap", frames)
    legs = read_capture(cap, config=NEVER, workers=1).legs.to_pylist()
    assert sorted((x["source_record"], x["ingress_ip"]) for x in legs) == [
        (1, PEER), (4, other)]


def test_a_challenged_call_ingests_and_reingests_as_one_leg(tmp_path: Path) -> None:
    cap = _pcap(tmp_path / "auth.pcap",
                _challenged(407, "Proxy Authentication Required", "Proxy-Authenticate"))
    for stored in (1, 0):
        r = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "st"),
                                     "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        assert out["stored"] == stored, out
        assert out["read"] == out["stored"] + out["rejected"] + out["duplicates"] == 1


def test_a_capture_without_sip_says_what_to_check(tmp_path: Path) -> None:
    # DESIGN §7: the error names the file and says how to fix it (a capture filter or an
    # interface that left the signalling out), not only that there is no SIP.
    dns = struct.pack("!HHHH", 5353, 53, 8 + 12, 0) + b"\x12\x34" + b"\x00" * 10
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(dns), 1, 0, 64, 17, 0,
                     socket.inet_aton(PEER), socket.inet_aton(SBC)) + dns
    cap = _pcap(tmp_path / "dns.pcap", [(T0, b"\x00" * 12 + b"\x08\x00" + ip)])
    r = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(tmp_path / "st"),
                                 "--json"])
    assert r.exit_code == 1, r.output
    err = json.loads(r.stdout)["per_file"][0]["error"]
    assert err.startswith(f"{cap}: no SIP messages in the capture"), err
    assert "port 5060" in err and "-i any" in err, err
    assert not (tmp_path / "st" / "legs").exists()
