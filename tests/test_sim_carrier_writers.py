"""The carrier-format and SIP-capture writers of the simulation write what the real switches
write (bytes-level), and tracehop's own readers give the simulated legs back."""

from __future__ import annotations

import csv
import ipaddress
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from tracehop.sim.network import demo_network
from tracehop.sim.traffic import Leg, Traffic, generate
from tracehop.sim.writers import WRITERS, write_records
from tracehop.sim.writers.cisco_cucm_cdr import COLUMNS, TYPES, int_ip
from tracehop.sim.writers.sip_capture import cert_dir


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return generate(demo_network(), campaign_calls=8, ordinary_calls=60, seed=5)


def _stored(files: list[Path], store: Path, fmt: str, tz: str, key: str) -> pl.DataFrame:
    from tracehop.ingest import ingest_paths
    from tracehop.store import Store

    summary = ingest_paths([str(f) for f in files], store, format=fmt, tz=tz, source=key)
    assert summary.rejected == 0 and not summary.failed
    return pl.read_parquet(Store.open(store).snapshot().all_files(), hive_partitioning=False)


def _skewed(t: datetime, skew_s: float) -> datetime:
    return t.astimezone(UTC) + timedelta(seconds=skew_s)


def test_new_writers_register_under_ingest_format_names() -> None:
    from tracehop.ingest.formats import registered_formats
    from tracehop.ingest.profile import known_format_names

    assert {"cisco_cucm_cdr", "ribbon_sbc_act", "pcap"} <= set(WRITERS)
    assert "pcap" in registered_formats()
    assert {"cisco_cucm_cdr", "ribbon_sbc_act"} <= set(known_format_names())


# --- Cisco CUCM ---------------------------------------------------------------------------------


def test_cucm_files_have_two_header_lines_epoch_utc_and_signed_int_ips(
        traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["atlas"]
    legs = traffic.legs("atlas")
    files = write_records(p, legs, tmp_path)
    assert len(files) > 1  # one file per minute of disconnect time
    rows: list[list[str]] = []
    for f in files:
        assert re.fullmatch(r"cdr_StandAloneCluster_01_\d{12}_\d{6}", f.name)
        text = f.read_text("utf-8")
        assert text.endswith("\n") and "\r" not in text
        lines = text.splitlines()
        assert lines[0] == ",".join(f'"{c}"' for c in COLUMNS)
        assert lines[1] == ",".join(TYPES) and lines[1].startswith("INTEGER,INTEGER")
        for line in lines[2:]:
            fields = next(csv.reader([line]))
            assert len(fields) == 133
            # integers bare, text quoted: re-quote by type and get the line back
            assert ",".join(v if t == "INTEGER" else f'"{v}"'
                            for v, t in zip(fields, TYPES, strict=True)) == line
            rows.append(fields)
    assert len(rows) == len(legs)  # one record per leg
    col = {c: i for i, c in enumerate(COLUMNS)}
    by_ref = {lg.call_id: lg for lg in legs}
    for r in rows:
        lg = by_ref[r[col["IncomingProtocolCallRef"]]]
        assert lg.ingress is not None
        assert int(r[col["dateTimeOrigination"]]) == int(_skewed(lg.setup_utc, p.skew_s)
                                                          .timestamp())
        assert (r[col["dateTimeConnect"]] == "0") == (lg.answer_utc is None)
        assert r[col["origDeviceName"]] == lg.ingress.trunk
        assert r[col["origIpv4v6Addr"]] == lg.ingress.ip
        # signed little-endian int32 of the same address
        packed = struct.pack("<i", int(r[col["origIpAddr"]]))
        assert str(ipaddress.IPv4Address(packed)) == lg.ingress.ip
        assert r[col["IncomingProtocolID"]] == "1" and r[col["origSpan"]] != "0"
    # file name minute = the UTC minute of its records' disconnect times
    for f in files:
        minute = f.name.split("_")[3]
        for line in f.read_text().splitlines()[2:]:
            end = int(next(csv.reader([line]))[col["dateTimeDisconnect"]])
            assert datetime.fromtimestamp(end, UTC).strftime("%Y%m%d%H%M") == minute


def test_cucm_int_ip_matches_the_documented_example() -> None:
    # Cisco CDR Administration Guide / research note: -1006518518 is 10.191.1.196
    assert int_ip("10.191.1.196") == -1006518518
    assert int_ip("") == 0


def test_cucm_round_trip_through_ingest(traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["atlas"]
    legs = traffic.legs("atlas")
    files = write_records(p, legs, tmp_path / "rec")
    got = _stored(files, tmp_path / "store", "cisco_cucm_cdr", p.tz, "atlas")
    assert got.height == len(legs)
    _assert_legs_back(got, legs, p.skew_s, tolerance_s=1.0)


def _assert_legs_back(got: pl.DataFrame, legs: list[Leg], skew_s: float,
                      tolerance_s: float) -> None:
    rows = {r["call_id"]: r for r in got.iter_rows(named=True)}
    for lg in legs:
        r = rows[lg.call_id]
        assert lg.ingress is not None
        assert r["called_e164"] == lg.called and r["calling_e164"] == lg.calling
        assert r["direction"] == "inbound"
        assert r["ingress_ip"] == lg.ingress.ip
        true_start = _skewed(lg.setup_utc, skew_s)
        assert abs((r["start_utc"].replace(tzinfo=UTC) - true_start).total_seconds()) \
            < tolerance_s
        assert r["disposition"] == ("answered" if lg.answer_utc else "cancelled")


# --- Ribbon .ACT --------------------------------------------------------------------------------


def test_ribbon_act_start_stop_attempt_layout(traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["keystone"]
    legs = traffic.legs("keystone")
    [path] = write_records(p, legs, tmp_path)
    assert path.suffix == ".ACT"
    lines = path.read_text("utf-8").splitlines()
    assert lines[0].startswith("SBC5K,V09.02") and lines[0].endswith(path.name)
    assert lines[-1] == "File administratively closed."
    recs = [next(csv.reader([x])) for x in lines[1:-1]]
    kinds = [r[0] for r in recs]
    answered = [lg for lg in legs if lg.answer_utc is not None]
    assert kinds.count("START") == kinds.count("STOP") == len(answered)
    assert kinds.count("ATTEMPT") == len(legs) - len(answered)
    width = {"START": 178, "STOP": 235, "ATTEMPT": 167}
    assert all(len(r) == width[r[0]] for r in recs)
    by_id: dict[str, list[list[str]]] = {}
    for r in recs:
        assert re.fullmatch(r"0x[0-9A-F]{16}", r[2])
        assert r[4] == "GMT-05:00-Eastern"  # Keystone's node is on New York time
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", r[5]) and re.fullmatch(r"\d\d:\d\d:\d\d\.\d",
                                                                        r[6])
        by_id.setdefault(r[2], []).append(r)
    assert all([x[0] for x in v] in (["START", "STOP"], ["ATTEMPT"]) for v in by_id.values())
    # a STOP: its start is the true setup on the skewed clock in local time, to the tenth;
    # field 10 is setup->answer and field 14 answer->release, in 10 ms ticks
    lg = answered[0]
    stop = next(r for r in recs if r[0] == "STOP" and lg.call_id in r[51])
    local = datetime.strptime(f"{stop[5]} {stop[6]}", "%m/%d/%Y %H:%M:%S.%f").replace(
        tzinfo=ZoneInfo(p.tz))
    assert abs((local - _skewed(lg.setup_utc, p.skew_s)).total_seconds()) < 0.1
    assert lg.answer_utc is not None
    assert int(stop[9]) == int((lg.answer_utc - lg.setup_utc).total_seconds() * 100)
    assert int(stop[13]) == int((lg.end_utc - lg.answer_utc).total_seconds() * 100)
    assert lg.ingress is not None and stop[33] == lg.ingress.trunk
    assert stop[125] == lg.ingress.ip
    assert stop[51].startswith(f"SIP,{lg.call_id},")
    # records are in event order: a START when answered, its STOP at release
    assert kinds.index("STOP") > kinds.index("START")


def test_ribbon_round_trip_through_ingest(traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["keystone"]
    legs = traffic.legs("keystone")
    files = write_records(p, legs, tmp_path / "rec")
    # no --tz: the Node Time Zone in each record names the zone
    got = _stored(files, tmp_path / "store", "ribbon_sbc_act", "UTC", "keystone")
    assert got.height == len(legs)  # START folded into its STOP: one leg per call
    assert set(got["source_tz"].to_list()) == {"America/New_York"}
    _assert_legs_back(got, legs, p.skew_s, tolerance_s=0.1)
    rows = {r["call_id"]: r for r in got.iter_rows(named=True)}
    for lg in legs:
        if lg.answer_utc is not None:
            assert abs(rows[lg.call_id]["billsec_s"]
                       - (lg.end_utc - lg.answer_utc).total_seconds()) < 0.011
            assert lg.ingress is not None and rows[lg.call_id]["ingress_trunk"] == lg.ingress.trunk


def test_ribbon_names_zones_outside_the_us_by_offset(traffic: Traffic, tmp_path: Path) -> None:
    p = replace(traffic.network.providers["keystone"], tz="Asia/Kolkata")
    [path] = write_records(p, traffic.legs("keystone")[:3], tmp_path)
    assert ",GMT+05:30-Kolkata," in path.read_text()


# --- SIP capture --------------------------------------------------------------------------------


def _frames(path: Path) -> list[tuple[int, bytes]]:
    data = path.read_bytes()
    magic, major, minor, _, _, snap, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)  # µs pcap, Ethernet
    out, off = [], 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        assert incl == orig <= snap
        out.append((sec * 1_000_000 + usec, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def _sip(frame: bytes) -> tuple[str, str, bytes]:
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:34]
    assert ip[9] == 17  # UDP
    src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
    return src, dst, frame[42:]


def test_pcap_holds_each_calls_sip_exchange_from_the_upstream_peer(
        traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["harbor"]
    legs = traffic.legs("harbor")
    [path] = write_records(p, legs, tmp_path / "records")
    frames = _frames(path)
    assert [t for t, _ in frames] == sorted(t for t, _ in frames)
    by_call: dict[str, list[tuple[int, str, str, bytes]]] = {}
    for ts, fr in frames:
        src, dst, msg = _sip(fr)
        cid = re.search(rb"\r\nCall-ID: ([^\r]+)", msg)
        assert cid is not None
        by_call.setdefault(cid.group(1).decode(), []).append((ts, src, dst, msg))
    for lg in legs:
        msgs = by_call[lg.call_id]
        firsts = [m[3].split(b"\r\n", 1)[0] for m in msgs]
        if lg.answer_utc is not None:
            assert [f.split(b" ")[0] if not f.startswith(b"SIP/") else f.split(b" ")[1]
                    for f in firsts] == [b"INVITE", b"100", b"180", b"200", b"ACK", b"BYE",
                                         b"200"]
        else:
            assert b"CANCEL" in firsts[3] and b"487" in firsts[5]
        assert lg.ingress is not None
        ts, src, dst, invite = msgs[0]
        assert (src, dst) == (lg.ingress.ip, p.ip)  # source address = the upstream peer's
        assert ts == int(_skewed(lg.setup_utc, p.skew_s).timestamp() * 1_000_000)
        has_identity = b"\r\nIdentity: " in invite
        assert has_identity == (lg.passport is not None and lg.passport.signer != "harbor")
        assert invite.endswith(b"a=sendrecv\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", invite).group(1))  # type: ignore[union-attr]
        assert len(invite.split(b"\r\n\r\n", 1)[1]) == length
    assert (cert_dir(tmp_path / "records") / "sti-ca.pem").is_file()


def test_pcap_round_trip_with_stir_verified_and_signer_spc(traffic: Traffic,
                                                            tmp_path: Path) -> None:
    from tracehop.sip.dialogs import SipConfig, parse_nets
    from tracehop.sip.reader import read_capture

    net = traffic.network
    p = net.providers["harbor"]
    legs = traffic.legs("harbor")
    [path] = write_records(p, legs, tmp_path / "records")
    cfg = SipConfig(local_nets=parse_nets(f"{p.ip}/32"), cert_dir=cert_dir(tmp_path / "records"))
    res = read_capture(path, "harbor", cfg)
    got = pl.from_arrow(res.legs)
    assert isinstance(got, pl.DataFrame)
    inbound = got.filter(pl.col("direction") == "inbound")
    outbound = got.filter(pl.col("direction") == "outbound")
    assert inbound.height == len(legs) and outbound.height == len(legs)
    _assert_legs_back(inbound, legs, p.skew_s, tolerance_s=0.001)
    rows = {r["call_id"]: r for r in inbound.iter_rows(named=True)}
    signed = 0
    for lg in legs:
        r = rows[lg.call_id]
        pp = lg.passport
        if pp is None:
            assert r["attest"] is None and r["signer_spc"] is None
            continue
        signed += 1
        assert r["attest"] == pp.attest and r["signer_spc"] == net.providers[pp.signer].ocn
        assert r["stir_verified"] is True and r["orig_tn"] == lg.calling.lstrip("+")
    assert signed > 0
    # without the certificates nothing is verified, but the PASSporT is still read
    bare = pl.from_arrow(read_capture(path, "harbor", SipConfig(local_nets=cfg.local_nets)).legs)
    assert isinstance(bare, pl.DataFrame)
    assert bare.filter(pl.col("attest").is_not_null())["stir_verified"].null_count() == \
        bare.filter(pl.col("attest").is_not_null()).height


def test_captures_are_byte_for_byte_reproducible(traffic: Traffic, tmp_path: Path) -> None:
    p = traffic.network.providers["harbor"]
    [a] = write_records(p, traffic.legs("harbor"), tmp_path / "a")
    [b] = write_records(p, traffic.legs("harbor"), tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()


# --- bulk (benchmark-size) generators -----------------------------------------------------------


@pytest.mark.parametrize(("fmt", "tz"), [("cisco_cucm_cdr", "UTC"),
                                         ("ribbon_sbc_act", "America/New_York")])
def test_bulk_carrier_files_ingest_whole(fmt: str, tz: str, tmp_path: Path) -> None:
    from tracehop.ingest import ingest_paths
    from tracehop.sim.bulk import FILE_NAMES, write_bulk
    from tracehop.store import Store

    path = write_bulk(tmp_path / FILE_NAMES[fmt], fmt, 3000, chunk=1100)  # 3 chunks
    lines = path.read_text("utf-8").splitlines()
    if fmt == "cisco_cucm_cdr":
        assert lines[:2] == [",".join(f'"{c}"' for c in COLUMNS), ",".join(TYPES)]
        assert len(lines) == 3002 and all(len(next(csv.reader([x]))) == 133 for x in lines[2:50])
    else:
        assert lines[-1] == "File administratively closed."
        kinds = [x.split(",", 1)[0] for x in lines[1:-1]]
        assert kinds.count("START") == kinds.count("STOP")
        assert kinds.count("STOP") + kinds.count("ATTEMPT") == 3000
    summary = ingest_paths([path], tmp_path / "store", format=fmt, tz=tz, source="bulk")
    assert (summary.read, summary.stored, summary.rejected) == (3000, 3000, 0)
    got = pl.read_parquet(Store.open(tmp_path / "store").snapshot().all_files(),
                          hive_partitioning=False)
    inbound = got.filter(pl.col("direction") == "inbound")
    assert 0.7 < inbound.height / got.height < 0.9  # the generator's 80 % inbound
    # peer addresses 10.1.x.y come back from CUCM's signed ints / Ribbon's remote IP field
    assert inbound["ingress_ip"].str.starts_with("10.1.").all()
    assert got["called_e164"].null_count() == 0 and got["start_utc"].null_count() == 0
    assert set(got["disposition"].unique().to_list()) >= {"answered"}


# --- Kamailio acc syslog ------------------------------------------------------------------------


def test_kamailio_acc_lines_and_round_trip(traffic: Traffic, tmp_path: Path) -> None:
    p = replace(traffic.network.providers["keystone"], format="kamailio_acc_syslog")
    legs = traffic.legs("keystone")
    [path] = write_records(p, legs, tmp_path / "rec")
    lines = path.read_text("utf-8").splitlines()
    line_re = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d keystone-proxy1 "
                         r"/usr/sbin/kamailio\[\d+\]: NOTICE: acc \[acc\.c:281\]: ACC: "
                         r"(transaction answered|call missed): timestamp=(\d+);method=(\w+);")
    stamps = []
    for line in lines:
        m = line_re.match(line)
        assert m, line
        stamps.append(int(m.group(2)))
    assert stamps == sorted(stamps)  # logged as each transaction completes
    answered = [lg for lg in legs if lg.answer_utc is not None]
    assert sum(";method=BYE;" in x for x in lines) == len(answered)
    assert sum(x.count("ACC: call missed:") for x in lines) == len(legs) - len(answered)
    got = _stored([path], tmp_path / "store", "kamailio_acc_syslog", p.tz, "keystone")
    assert got.height == len(legs)  # INVITE and BYE paired into one leg per call
    rows = {r["call_id"]: r for r in got.iter_rows(named=True)}
    for lg in legs:
        r = rows[lg.call_id]
        assert lg.ingress is not None and r["ingress_ip"] == lg.ingress.ip
        assert r["called_e164"] == lg.called and r["direction"] == "inbound"
        # acc times the INVITE at its final reply: the answer (or the cancel), not the setup
        at = lg.answer_utc or lg.end_utc
        assert int(r["start_utc"].replace(tzinfo=UTC).timestamp()) == int(
            _skewed(at, p.skew_s).timestamp())
        assert r["disposition"] == ("answered" if lg.answer_utc else "cancelled")
