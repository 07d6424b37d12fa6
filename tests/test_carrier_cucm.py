"""Cisco Unified CM CDR flat files: the real samples in ../shared/realworld/cdr (CUCM 10/11
129-column with headers, 12.5/14 133-column, a header-less concatenation of 824 records, and a
CMR file), plus the header-less detection and the CMR refusal on our own fixtures."""

from __future__ import annotations

import csv
import shutil
import socket
import struct
from pathlib import Path

import pytest

from tracehop.errors import UnknownFormatError
from tracehop.ingest.detect import detect_format
from tracehop.ingest.run import ingest_paths, parse_file

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "cdr"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "cisco_cucm_cdr"
CUCM = REALWORLD / "cisco_cucm_cdr"
CMR = REALWORLD / "cisco_cucm_cmr" / "sieteunoseis_cmr.txt"

realworld = pytest.mark.skipif(not CUCM.is_dir(),
                               reason=f"real-world CUCM samples not present at {CUCM}")


@realworld
@pytest.mark.realworld
@pytest.mark.parametrize(
    ("name", "fmt", "records"),
    [
        ("cdr_StandAloneCluster_04_201601141231_120716.csv", "cisco_cucm_cdr", 2),
        ("sieteunoseis_cdr.txt", "cisco_cucm_cdr", 3),
        ("gefot_temp_cdr.txt", "cisco_cucm_cdr_headerless", 824),
    ],
)
def test_real_cucm_files(name: str, fmt: str, records: int) -> None:
    path = CUCM / name
    assert detect_format(path) == fmt
    res = parse_file(path)
    assert res.rejects.num_rows == 0
    assert res.legs.num_rows == records
    assert res.legs.column("start_utc").null_count == 0
    assert set(res.legs.column("source_tz").to_pylist()) == {"UTC"}


@realworld
@pytest.mark.realworld
def test_real_gateway_call_is_inbound_with_its_ingress() -> None:
    # CUCM 10/11: an H.323 gateway named by its IP (origSpan = the gateway's leg id).
    res = parse_file(CUCM / "cdr_StandAloneCluster_04_201601141231_120716.csv")
    first = res.legs.to_pylist()[0]
    assert first["direction"] == "inbound"
    assert first["ingress_trunk"] == "172.16.11.1"
    assert first["ingress_ip"] == "172.16.11.1"
    assert first["calling_raw"] == "3365585309"
    assert first["called_raw"] == "3091"
    assert first["start_utc"].isoformat() == "2016-01-14T12:29:50+00:00"
    assert first["billsec_s"] == 15.0 and first["duration_s"] == 67.0


@realworld
@pytest.mark.realworld
def _le(v: str) -> str | None:
    n = int(v)
    return None if n == 0 else socket.inet_ntoa(struct.pack("<i", n))


@realworld
@pytest.mark.realworld
def test_signed_little_endian_ips_match_the_text_columns(tmp_path: Path) -> None:
    """Every origIpAddr/destIpAddr of the 824 real records, converted, equals the dotted text
    CUCM wrote beside it (origIpv4v6Addr, destIpv4v6Addr) where it wrote one."""
    rows = list(csv.reader((CUCM / "gefot_temp_cdr.txt").read_text().splitlines()))
    # 0-based, 129-column order: origIpAddr 7, destIpAddr 28, origIpv4v6Addr 80, dest... 81.
    assert sum(1 for r in rows if r[7].startswith("-") or r[28].startswith("-")) > 0
    # The profile prefers the text columns: blank them so that the signed ints are read.
    ints = tmp_path / "cdr_ints.txt"
    ints.write_text("\n".join(
        ",".join(f'"{v}"' if i in (80, 81) or not v.lstrip("-").isdigit() else v
                 for i, v in enumerate([*r[:80], "", "", *r[82:]]))
        for r in rows) + "\n")
    res = parse_file(ints, "cisco_cucm_cdr_headerless")
    assert res.rejects.num_rows == 0
    got = res.legs.column("ingress_ip").to_pylist()
    assert got == [_le(r[7]) for r in rows]
    texts = [(g, r[80]) for g, r in zip(got, rows, strict=True) if r[80] not in ("", "::")]
    assert len(texts) > 800 and all(g == t for g, t in texts)
    # As shipped, "::" (no text form) falls back to the int column.
    shipped = parse_file(CUCM / "gefot_temp_cdr.txt").legs.column("ingress_ip").to_pylist()
    assert shipped == [r[80] if r[80] not in ("", "::") else _le(r[7]) for r in rows]


@pytest.mark.skipif(not CMR.is_file(), reason=f"real-world CMR sample not present at {CMR}")
@pytest.mark.realworld
def test_cmr_file_is_recognised_and_refused() -> None:
    with pytest.raises(UnknownFormatError) as err:
        parse_file(CMR)
    text = str(err.value)
    assert str(CMR) in text and "CMR" in text and "cdr_*" in text


@pytest.mark.skipif(not CMR.is_file(), reason=f"real-world CMR sample not present at {CMR}")
@pytest.mark.realworld
def test_directory_with_cdr_and_cmr_stores_the_cdrs(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(FIXTURES / "cdr_TracehopCluster_01_202603071900_000001", batch / "cdr_1")
    # our own CMR-shaped file: the header names of the CMR layout, one record
    (batch / "cmr_1").write_text(
        '"cdrRecordType","globalCallID_callManagerId","globalCallID_callId","nodeId",'
        '"directoryNum","callIdentifier","dateTimeStamp","numberPacketsSent",'
        '"numberOctetsSent","varVQMetrics"\n'
        "INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(50),INTEGER,INTEGER,INTEGER,INTEGER,"
        "VARCHAR(600)\n"
        '2,1,700101,1,"200",31000002,1772910267,3000,480000,"MLQK=4.5;ICR=0.0"\n'
    )
    s = ingest_paths([batch], tmp_path / "store")
    assert s.stored == 3
    (failed,) = s.failed
    assert failed.path.endswith("cmr_1") and "CMR" in (failed.error or "")
    assert not s.failed_named  # found by walking the directory: a warning, not a failure
    assert any("CMR" in w for w in s.warnings)


def test_headerless_file_detected_by_column_count() -> None:
    assert detect_format(FIXTURES / "cdr_concatenated_129.txt") == "cisco_cucm_cdr_headerless"
    assert detect_format(FIXTURES / "cdr_TracehopCluster_01_202603071900_000001") == (
        "cisco_cucm_cdr")


def test_headerless_record_of_another_width_is_rejected(tmp_path: Path) -> None:
    lines = (FIXTURES / "cdr_concatenated_129.txt").read_text().splitlines()
    f = tmp_path / "cdr_mixed.txt"
    f.write_text("\n".join([*lines, ",".join(lines[0].split(",")[:100])]) + "\n")
    res = parse_file(f, "cisco_cucm_cdr_headerless")
    assert res.legs.num_rows == 3
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "found 100" in reason


def test_type_line_is_not_a_record() -> None:
    res = parse_file(FIXTURES / "cdr_TracehopCluster_01_202603071900_000001")
    assert res.rejects.num_rows == 0
    assert res.legs.column("source_record").to_pylist() == [3, 4, 5]


def test_older_release_with_fewer_columns_is_read_by_header_name(tmp_path: Path) -> None:
    """An older release (fewer columns: no origIpv4v6Addr, no IncomingProtocolID) with its two
    header lines still reads by name: the ingress address comes from the signed-int column."""
    src = (FIXTURES / "cdr_TracehopCluster_01_202603071900_000001").read_text().splitlines()
    rows = [next(csv.reader([ln])) for ln in src]
    keep = 94  # up to OutgoingProtocolCallRef's predecessors: a 9.x-sized record
    names = rows[0][:keep]
    assert "origIpv4v6Addr" not in names[:60] and "origIpAddr" in names
    f = tmp_path / "cdr_old"
    out = []
    for r in rows:
        cut = [v for i, v in enumerate(r[:keep]) if rows[0][i] not in (
            "origIpv4v6Addr", "destIpv4v6Addr", "IncomingProtocolID")]
        out.append(",".join(f'"{v}"' if not v.lstrip("-").isdigit() else v for v in cut))
    f.write_text("\n".join(out) + "\n")
    assert detect_format(f) == "cisco_cucm_cdr"
    legs = parse_file(f).legs.to_pylist()
    assert [r["ingress_ip"] for r in legs] == ["198.51.100.7", "10.0.0.21", "198.51.100.7"]
    assert [r["direction"] for r in legs] == ["inbound", "outbound", "inbound"]
    assert legs[0]["ingress_trunk"] == "ACME_IN"


def test_the_outpulsed_number_is_the_called_number_of_a_call_sent_out(tmp_path: Path) -> None:
    # A phone dials 9 + the number; CUCM's called-party transformation strips the access
    # code, and outpulsedCalledPartyNumber (written only on the egress side) holds what went
    # to the trunk: that is the number a traceback names. Inbound calls keep the DID.
    src = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "cisco_cucm_cdr" / \
        "cdr_TracehopCluster_01_202603071900_000001"
    with src.open(newline="") as fh:
        rows = list(csv.reader(fh))
    head = rows[0]
    rows[3][head.index("originalCalledPartyNumber")] = "912025550199"
    rows[3][head.index("finalCalledPartyNumber")] = "912025550199"
    rows[3][head.index("outpulsedCalledPartyNumber")] = "12025550199"
    out = tmp_path / src.name
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    legs = parse_file(out, "cisco_cucm_cdr").legs.to_pylist()
    assert [leg["called_e164"] for leg in legs] == ["+13125550100", "+12025550199",
                                                    "+13125550100"]
