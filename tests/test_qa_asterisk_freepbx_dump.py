"""A headerless dump of FreePBX's asteriskcdrdb.cdr table as current FreePBX creates it:
calldate ... userfield, did, recordingfile, cnum, cnam, outbound_cnum, outbound_cnam,
dst_cnam, linkedid, peeraccount, sequence (26 columns; the cdr module's install.php adds did
and then recordingfile, and Asterisk 12+'s cdr_adaptive_odbc fills linkedid, peeraccount and
sequence). The 24-column layout of the saved sample (recordingfile before did, no linkedid)
was the only one read: this dump was "no known CDR layout", and with --format every record
was rejected."""

from __future__ import annotations

from pathlib import Path

from tracehop.ingest.detect import detect_format
from tracehop.ingest.run import parse_file

# 2025-11-20 04:03:22 in New York = 09:03:22Z = epoch 1763629402
LINES = [
    # An inbound call to a DID, recorded: did 3125550100, dst the extension the DID rang.
    '"2025-11-20 04:03:22","""Doe, John"" <2025550111>","2025550111","200","from-trunk",'
    '"PJSIP/acme-00000001","PJSIP/200-00000002","Dial",'
    '"PJSIP/200/sip:200@10.0.0.5:5060,,HhtrM(auto-blkvm)","65","60","ANSWERED","3",,'
    '"1763629402.12",,"3125550100","external-200-2025550111-20251120-040322-1763629402.12.wav",'
    '"2025550111","Doe, John",,,,"1763629402.12",,"1"',
    # Unanswered, not recorded.
    '"2025-11-20 04:03:32","""Robo"" <2025550112>","2025550112","s","from-trunk",'
    '"PJSIP/acme-0000000a",,"Hangup",,"30","0","NO ANSWER","3",,"1763629412.13",,"3125550101",,'
    '"2025550112","Robo",,,,"1763629412.13",,"2"',
    # An extension's outbound international call: no did.
    '"2025-11-20 04:04:12","""Alice"" <200>","200","01144201234567","from-internal",'
    '"PJSIP/200-00000021","PJSIP/acme_out-00000022","Dial",'
    '"PJSIP/01144201234567@acme_out,300,Tb(func-apply-sipheaders^s^1,(2))","50","45",'
    '"ANSWERED","3",,"1763629452.50",,,"out-01144201234567-200-20251120-040412-1763629452.50.wav",'
    '"200","Alice","3125550100","ACME Inc",,"1763629452.50",,"3"',
]


def test_a_current_freepbx_cdr_dump_is_read_by_its_own_columns(tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text("\n".join(LINES) + "\n")
    assert detect_format(path) == "freepbx_cdr_dump"
    res = parse_file(path, "freepbx_cdr_dump")
    assert res.rejects.num_rows == 0, res.rejects.to_pylist()
    legs = sorted(res.legs.to_pylist(), key=lambda r: r["start_utc"])
    assert [leg["called_raw"] for leg in legs] == ["3125550100", "3125550101", "01144201234567"]
    assert [leg["calling_raw"] for leg in legs] == ["2025550111", "2025550112", "200"]
    assert [leg["start_utc"].isoformat() for leg in legs] == [
        "2025-11-20T09:03:22+00:00", "2025-11-20T09:03:32+00:00", "2025-11-20T09:04:12+00:00"]
    assert [leg["ingress_trunk"] for leg in legs] == ["acme", "acme", "200"]
    assert [leg["direction"] for leg in legs] == ["inbound"] * 3
    assert [leg["correlation_id"] for leg in legs] == [
        "1763629402.12", "1763629412.13", "1763629452.50"]
    assert [leg["disposition"] for leg in legs] == ["answered", "no_answer", "answered"]


def test_the_same_dump_with_a_trailing_separator(tmp_path: Path) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text("\n".join(line + "," for line in LINES) + "\n")
    assert detect_format(path) == "freepbx_cdr_dump"
    res = parse_file(path, "freepbx_cdr_dump")
    assert res.rejects.num_rows == 0, res.rejects.to_pylist()
    assert sorted(leg["called_raw"] for leg in res.legs.to_pylist()) == [
        "01144201234567", "3125550100", "3125550101"]
