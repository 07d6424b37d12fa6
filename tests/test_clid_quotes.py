"""Caller IDs whose name quotes are not escaped (research/cdr_formats.md §3, §13).

Asterisk-derived exports write clid as ``"Name" <number>`` inside a quoted field without
doubling the name's quotes: PBXware ``""Smith, John" <2025550111>"``. Read as RFC 4180, the
``""`` is an escaped quote and the name's comma splits the field: one field too many, so the
record was rejected ("found 27") and a small file was not even recognised. A line whose fields
do not count right is read again with a quote closing a field only before a delimiter or the
line end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.ingest.detect import detect_format
from tracehop.ingest.profile import Dialect
from tracehop.ingest.readers import split_lenient
from tracehop.ingest.run import parse_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
PBXWARE = FIXTURES / "pbxware_cdr" / "clid_comma.csv"


@pytest.mark.parametrize("fmt", [None, "pbxware_cdr"])
def test_pbxware_clid_with_a_comma_is_read(fmt: str | None) -> None:
    assert detect_format(PBXWARE) == "pbxware_cdr"
    res = parse_file(PBXWARE, fmt)
    assert res.rejects.num_rows == 0
    legs = res.legs.to_pylist()
    assert [r["source_record"] for r in legs] == [2, 3]
    assert [r["calling_raw"] for r in legs] == ["2025550111", "1115"]
    assert [r["ingress_trunk"] for r in legs] == ["acme_in", "1115"]
    assert [r["called_raw"] for r in legs] == ["3125550100", "13125550102"]


def test_asterisk_cdr_csv_clid_with_a_comma_is_read(tmp_path: Path) -> None:
    # The same clid in an 18-field Master.csv: RFC 4180 gives 19 fields, a width cdr_csv
    # also has (newcdrcolumns), so the record was read with the wrong columns and rejected.
    good = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()
    broken = good[0].replace('"""ROBO CALLER"" <2025550111>"', '""Smith, John" <2025550111>"')
    assert broken != good[0]
    f = tmp_path / "Master.csv"
    f.write_text("\n".join([broken, good[1]]) + "\n")
    res = parse_file(f)
    assert res.format == "asterisk_cdr_csv"
    assert res.rejects.num_rows == 0
    legs = res.legs.to_pylist()
    assert [r["source_record"] for r in legs] == [1, 2]
    assert legs[0]["ingress_trunk"] == "acme_in"
    assert legs[0]["calling_raw"] == "2025550111"


@pytest.mark.parametrize("line", [
    '"","a""b",,"x,y",3,"""N"" <1>","",""""',  # well-formed: as csv reads it
    'a"b,c',
    '"",""',
])
def test_lenient_split_agrees_with_csv_on_well_formed_lines(line: str) -> None:
    import csv

    assert split_lenient(line, Dialect()) == next(csv.reader([line]))


def test_lenient_split_of_unescaped_name_quotes() -> None:
    d = Dialect()
    assert split_lenient('""Smith, John" <2025550111>",x', d) == [
        '"Smith, John" <2025550111>', "x"]
    assert split_lenient('""Acme, Inc. "Sales"" <1115>",1115', d) == [
        '"Acme, Inc. "Sales" <1115>', "1115"]
