"""SQL NULL in exports of a switch's database table: `\\N` (SELECT ... INTO OUTFILE, mysqldump
--tab) and `NULL` (phpMyAdmin, the mysql client's --batch) are no value, never a number.

A FreePBX report CSV whose `did` was `\\N` stored called_raw `\\N` and no called_e164 (the
profile takes did before dst), and account `\\N`: the called number was lost. The files the
switch writes itself (Asterisk Master.csv) keep `NULL` as text: there it can be a real value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracehop.cli import cli
from tracehop.ingest.detect import detect_format
from tracehop.ingest.profile import BUILTIN_DIR
from tracehop.ingest.run import parse_file

REPORT_HEADER = ("calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,"
                 "billsec,disposition,amaflags,accountcode,uniqueid,userfield,did,cnum,"
                 "outbound_cnum,linkedid")

# 2026-03-07 14:03:22 and 14:05:00 in UTC-05:00: the uniqueids give the zone.
REPORT = REPORT_HEADER + "\n" + "\n".join([
    '2026-03-07 14:03:22,"""ROBO CALLER"" <2025550111>",2025550111,3125550100,from-trunk,'
    'SIP/acme_in-0000001a,SIP/200-0000002a,Dial,"SIP/200,60,tT",65,60,ANSWERED,3,\\N,'
    '1772910202.0,\\N,\\N,\\N,\\N,1772910202.0',
    '2026-03-07 14:05:00,"""Front Desk"" <1001>",1001,2025550199,from-internal,'
    'SIP/1001-0000001b,SIP/acme_out-0000002b,Dial,"SIP/200,60,tT",20,0,NO ANSWER,3,NULL,'
    '1772910300.1,NULL,NULL,NULL,NULL,1772910300.1',
]) + "\n"


def _dump_row(did: str, account: str, sep: str = ",", quote: bool = True) -> str:
    """One record of the 24-column FreePBX cdr table dump (freepbx_cdr_dump's order)."""
    values = ["2026-03-07 14:03:22", '"ROBO CALLER" <2025550111>', "2025550111", "3125550100",
              "from-trunk", "SIP/acme_in-0000001a", "SIP/200-0000002a", "Dial", "SIP/200,60,tT",
              "65", "60", "ANSWERED", "3", account, "1772910202.0", "\\N", "\\N", did,
              "2025550111", "ROBO CALLER", "\\N", "\\N", "\\N", "0"]
    if quote:
        values = [v if v in ("\\N", "NULL") else '"' + v.replace('"', '""') + '"'
                  for v in values]
    return sep.join(values)


def _legs(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    res = parse_file(path, fmt, None, "t")
    assert res.rejects.num_rows == 0, res.rejects.to_pylist()
    return res.legs.to_pylist()


def test_report_null_did_falls_back_to_dst(tmp_path: Path) -> None:
    path = tmp_path / "cdr_report.csv"
    path.write_text(REPORT)
    assert detect_format(path) == "freepbx_cdr_report"
    legs = _legs(path)
    assert [(r["called_raw"], r["called_e164"], r["account"]) for r in legs] == [
        ("3125550100", "+13125550100", None),  # did and accountcode \N
        ("2025550199", "+12025550199", None),  # did and accountcode NULL
    ]
    assert [r["dialed_raw"] for r in legs] == ["3125550100", "2025550199"]


@pytest.mark.parametrize("null", ["\\N", "NULL"])
def test_dump_null_did_falls_back_to_dst(tmp_path: Path, null: str) -> None:
    path = tmp_path / "cdr.csv"
    path.write_text(_dump_row(null, null) + "\n" + _dump_row("3125550177", "acct7") + "\n")
    assert detect_format(path) == "freepbx_cdr_dump"
    legs = _legs(path)
    assert [(r["called_raw"], r["called_e164"], r["account"]) for r in legs] == [
        ("3125550100", "+13125550100", None),
        ("3125550177", "+13125550177", "acct7"),  # a did that is there still wins
    ]


def test_pbxware_backslash_n_did_falls_back_to_dst(tmp_path: Path) -> None:
    src = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "pbxware_cdr" / "cdr.csv")
    lines = src.read_text().splitlines()
    # The first record's did (3125550100, the same as its dst) written as a MySQL dump does.
    assert lines[1].count(",3125550100,") == 2
    head, _, tail = lines[1].rpartition(",3125550100,")
    lines[1] = f"{head},\\N,{tail}"
    path = tmp_path / "cdr.csv"
    path.write_text("\n".join(lines) + "\n")
    assert detect_format(path) == "pbxware_cdr"
    first = _legs(path)[0]
    assert (first["called_raw"], first["called_e164"]) == ("3125550100", "+13125550100")


ACC_HEADER = ("id\tmethod\tfrom_tag\tto_tag\tcallid\tsip_code\tsip_reason\ttime\tsrc_user\t"
              "src_domain\tsrc_ip\tdst_ouser\tdst_user\tdst_domain")


def test_kamailio_acc_reader_reads_both_null_spellings(tmp_path: Path) -> None:
    # mysqldump --tab / INTO OUTFILE writes \N; phpMyAdmin and mysql --batch write NULL.
    path = tmp_path / "acc.tsv"
    path.write_text("\n".join([
        ACC_HEADER,
        "1\tINVITE\tfa1\tas7d1f\ta84b@198.51.100.7\t200\tOK\t2026-03-07 14:03:27\t2025550111\t"
        "198.51.100.7\t198.51.100.7\t3125550100\t\\N\t203.0.113.5",
        "2\tBYE\tas7d1f\tfa1\ta84b@198.51.100.7\t200\tOK\t2026-03-07 14:04:27\t3125550100\t"
        "203.0.113.5\t10.0.0.200\t2025550111\t2025550111\t198.51.100.7",
        "3\tINVITE\tfb2\tNULL\t77f1@10.0.0.21\t480\tTemporarily Unavailable\t2026-03-07 14:05:20\t"
        "1001\tpbx.example.net\t10.0.0.21\t2025550199\t2025550199\t\\N",
    ]) + "\n")
    assert detect_format(path) == "kamailio_acc_db"
    legs = parse_file(path, None, "America/New_York", "t").legs.to_pylist()
    assert [(r["called_raw"], r["ruri_raw"], r["egress_trunk"]) for r in legs] == [
        ("3125550100", None, "203.0.113.5"),  # dst_user \N: the To user is the number
        ("2025550199", "2025550199", None),  # dst_domain \N
    ]
    assert legs[0]["end_utc"] is not None  # the BYE still ends the call


def test_master_csv_keeps_null_as_text(tmp_path: Path) -> None:
    # Asterisk writes Master.csv itself: a NULL there is what the dialplan set, not SQL NULL.
    src = (Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "asterisk_cdr_csv"
           / "Master_18col.csv")
    lines = src.read_text().splitlines()
    assert lines[0].startswith('"",')
    lines[0] = '"NULL",' + lines[0][3:]
    path = tmp_path / "Master.csv"
    path.write_text("\n".join(lines) + "\n")
    assert detect_format(path) == "asterisk_cdr_csv"
    assert _legs(path)[0]["account"] == "NULL"


def _outfile(tmp_path: Path) -> Path:
    """SELECT * FROM cdr INTO OUTFILE: tab-separated, no header, no quoting, \\N for NULL."""
    path = tmp_path / "cdr_outfile.txt"
    rows = [_dump_row("\\N", "\\N", "\t", quote=False),
            _dump_row("3125550177", "acct7", "\t", quote=False)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("given", [["--format", "freepbx_cdr_dump"], []])
def test_mysql_outfile_fails_naming_the_file_and_the_profile_to_write(
    tmp_path: Path, given: list[str]
) -> None:
    path, store = _outfile(tmp_path), tmp_path / "store"
    r = CliRunner().invoke(cli, ["ingest", str(path), "--store", str(store), *given, "--json"])
    assert r.exit_code != 0
    error = json.loads(r.stdout)["errors"][0]["error"]
    assert error.startswith(f"{path}: ")
    assert "MySQL text dump" in error and 'delimiter = "\\t"' in error
    assert "freepbx_cdr_dump.toml" in error
    assert "Export it again" not in error  # ',' would be escaped as '\,': not a way out
    assert not store.exists() or not any(store.rglob("*.parquet"))


def test_mysql_outfile_read_by_the_profile_copy_the_error_names(tmp_path: Path) -> None:
    text = (BUILTIN_DIR / "freepbx_cdr_dump.toml").read_text()
    text = text.replace('name = "freepbx_cdr_dump"', 'name = "my_outfile"')
    text = text.replace("[csv]\n", '[csv]\ndelimiter = "\\t"\n', 1)
    profile = tmp_path / "my_outfile.toml"
    profile.write_text(text)
    legs = _legs(_outfile(tmp_path), str(profile))
    assert [(r["called_raw"], r["called_e164"], r["account"]) for r in legs] == [
        ("3125550100", "+13125550100", None),
        ("3125550177", "+13125550177", "acct7"),
    ]
