"""Asterisk cdr_csv in every column variant (16-21 fields): which optional columns a line holds
depends on three independent cdr.conf options (cdr_csv.c build_csv_record): loguniqueid adds
uniqueid, loguserfield adds userfield, newcdrcolumns adds peeraccount, linkedid and sequence.
So 17 and 20 fields are ambiguous (uniqueid or userfield) and 19 fields are base + the three
new columns, not a prefix of the 21-column layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import ZoneError
from tracehop.ingest.run import parse_file

# 2026-11-20 09:03:40 in New York (UTC-05:00) = 14:03:40Z = epoch 1795183420
BASE = ['""', '"2025550111"', '"3125550100"', '"from-trunk"', '"""X"" <2025550111>"',
        '"PJSIP/acme_in-0000001a"', '"PJSIP/200-0000002a"', '"Dial"', '"PJSIP/200,60"',
        '"2026-11-20 09:03:40"', '"2026-11-20 09:03:45"', '"2026-11-20 09:04:40"', "60", "55",
        '"ANSWERED"', '"DOCUMENTATION"']
UNIQUEID = '"1795183420.7"'
USERFIELD = '"campaign-42"'
NEW = ['"peer-acct"', '"1795183419.6"', "3"]  # peeraccount, linkedid, sequence


def _file(tmp_path: Path, extra: list[str]) -> Path:
    p = tmp_path / "Master.csv"
    p.write_text(",".join(BASE + extra) + "\n" + ",".join(BASE + extra) + "\n")
    return p


@pytest.mark.parametrize(
    ("extra", "correlation"),
    [
        ([UNIQUEID], "1795183420.7"),  # loguniqueid
        ([UNIQUEID, USERFIELD], "1795183420.7"),  # loguniqueid + loguserfield (18)
        (NEW, "1795183419.6"),  # newcdrcolumns alone (19): linkedid
        ([UNIQUEID, *NEW], "1795183419.6"),  # loguniqueid + newcdrcolumns (20)
        ([UNIQUEID, USERFIELD, *NEW], "1795183419.6"),  # all three (21)
    ],
    ids=["17-uniqueid", "18", "19-newcdr", "20-uniqueid-newcdr", "21"],
)
def test_each_variant_reads_its_own_columns(tmp_path: Path, extra: list[str],
                                            correlation: str) -> None:
    res = parse_file(_file(tmp_path, extra), "asterisk_cdr_csv")
    assert res.rejects.num_rows == 0
    leg = res.legs.to_pylist()[0]
    assert leg["correlation_id"] == correlation
    # The offset comes from uniqueid, or from linkedid when the layout has no uniqueid.
    assert leg["source_tz"] == "UTC-05:00 (inferred from uniqueid)"
    assert leg["start_utc"].isoformat() == "2026-11-20T14:03:40+00:00"


@pytest.mark.parametrize("extra", [[USERFIELD], [USERFIELD, *NEW]],
                         ids=["17-userfield", "20-userfield-newcdr"])
def test_a_userfield_is_not_read_as_a_uniqueid(tmp_path: Path, extra: list[str]) -> None:
    path = _file(tmp_path, extra)
    if extra == [USERFIELD]:
        # No uniqueid and no linkedid: the zone must be given, and is then used.
        with pytest.raises(ZoneError, match="cannot be inferred"):
            parse_file(path, "asterisk_cdr_csv")
        res = parse_file(path, "asterisk_cdr_csv", tz="America/New_York")
        leg = res.legs.to_pylist()[0]
        assert leg["correlation_id"] is None
    else:
        res = parse_file(path, "asterisk_cdr_csv")
        leg = res.legs.to_pylist()[0]
        assert leg["correlation_id"] == "1795183419.6"
    assert res.rejects.num_rows == 0
    assert leg["start_utc"].isoformat() == "2026-11-20T14:03:40+00:00"


def test_a_file_whose_width_changed_midway_keeps_every_record(tmp_path: Path) -> None:
    # cdr.conf changed while Master.csv was being written: 16 fields, then 18 (loguniqueid
    # and loguserfield switched on), then the 3 newcdrcolumns as well. Every record is one
    # of the allowed widths and is read with that width's own columns, none rejected.
    p = tmp_path / "Master.csv"
    lines = [",".join(BASE)] * 3 + [",".join([*BASE, UNIQUEID, USERFIELD])] * 2 \
        + [",".join([*BASE, UNIQUEID, USERFIELD, *NEW])]
    p.write_text("\n".join(lines) + "\n")
    res = parse_file(p, "asterisk_cdr_csv", tz="America/New_York")
    assert res.rejects.num_rows == 0
    legs = sorted(res.legs.to_pylist(), key=lambda r: r["source_record"])
    assert [r["source_record"] for r in legs] == [1, 2, 3, 4, 5, 6]
    assert [r["correlation_id"] for r in legs] == [None, None, None, "1795183420.7",
                                                   "1795183420.7", "1795183419.6"]
    assert {r["start_utc"].isoformat() for r in legs} == {"2026-11-20T14:03:40+00:00"}


def _dump_row(calldate: str, epoch: int, i: int) -> str:
    # A FreePBX cdr table dump (freepbx_cdr_dump: 25 columns, calldate first, no header).
    return (f'"{calldate}","""Caller"" <2025550111>","2025550111","3125550100","from-trunk",'
            f'"SIP/acme_in-0000000{i}",,"Dial","SIP/200","30","25","ANSWERED","3",,'
            f'"{epoch}.{i}",,,"3125550100","2025550111","Caller",,,,"{i}",')


def test_a_us_spreadsheets_month_first_calldate_is_read_by_its_uniqueid(tmp_path: Path) -> None:
    # 2026-03-02 10:00 in New York = 15:00Z = epoch 1772463600; one call a day to 7 March.
    # Re-saved by a US spreadsheet: 3/2/2026 ... 3/7/2026. The day-first reading put them in
    # February to July (3/3/2026 alone read right), months off and without a word.
    rows = [_dump_row(f"3/{2 + i}/2026 10:0{i}:00", 1772463600 + 86400 * i + 60 * i, i)
            for i in range(6)]
    f = tmp_path / "cdr.csv"
    f.write_text("\n".join(rows) + "\n")
    res = parse_file(f, "freepbx_cdr_dump")
    assert res.rejects.num_rows == 0
    starts = [t.strftime("%Y-%m-%dT%H:%M:%S") for t in res.legs.column("start_utc").to_pylist()]
    assert starts == [f"2026-03-0{2 + i}T15:0{i}:00" for i in range(6)]
    # ... and a day-first file (the Portuguese sample's 1/9/2017: 1 September) still reads so.
    day_first = tmp_path / "pt.csv"
    day_first.write_text(_dump_row("1/9/2017 16:33:01", 1504279981, 1) + "\n")
    pt = parse_file(day_first, "freepbx_cdr_dump").legs.column("start_utc").to_pylist()
    assert pt[0].strftime("%Y-%m-%dT%H:%M:%S") == "2017-09-01T15:33:01"


def test_a_us_spreadsheets_short_report_is_read_month_first(tmp_path: Path) -> None:
    # FreePBX's 6-column report saved by a US Excel: 03/15/26 is no date day-first, and its
    # 03/07/26 was stored as 3 July beside that reject. No uniqueid: the file decides.
    f = tmp_path / "report.csv"
    f.write_text("calldate,src,dst,duration,billsec,disposition\n"
                 "03/07/26 09:32,2025550111,3125550100,20,10,ANSWERED\n"
                 "03/15/26 09:28,2025550122,3125550100,331,328,ANSWERED\n")
    res = parse_file(f, "freepbx_cdr_short", "America/New_York")
    assert res.rejects.num_rows == 0
    starts = [t.strftime("%Y-%m-%dT%H:%M") for t in res.legs.column("start_utc").to_pylist()]
    assert starts == ["2026-03-07T14:32", "2026-03-15T13:28"]
    assert any("month-first" in w and str(f) in w for w in res.warnings)
    # A day-first file (the reduced report's own 24/08/17) is left as it is, without a word.
    g = tmp_path / "pt.csv"
    g.write_text("calldate,src,dst,duration,billsec,disposition\n"
                 "24/08/17 09:32,41000,4502,20,0,NO ANSWER\n"
                 "03/08/17 09:28,4003,300010001,331,328,ANSWERED\n")
    pt = parse_file(g, "freepbx_cdr_short", "Europe/Lisbon")
    got = [t.strftime("%Y-%m-%d") for t in pt.legs.column("start_utc").to_pylist()]
    assert got == ["2017-08-24", "2017-08-03"] and not pt.warnings
