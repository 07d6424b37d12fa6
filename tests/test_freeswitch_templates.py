"""The other templates of FreeSWITCH's shipped cdr_csv.conf.xml, and its unescaped values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import UnknownFormatError
from tracehop.ingest.run import ingest_paths, parse_file

_SQL = ('INSERT INTO cdr VALUES ("Caller {i}","+1202555000{i}","312555000{i}","public",'
        '"2025-07-04 09:0{i}:00","2025-07-04 09:0{i}:03","2025-07-04 09:0{i}:33","33","30",'
        '"NORMAL_CLEARING","000000ab-cdef-1234-5678-12345678123{i}",'
        '"000000ab-cdef-1234-5678-12345678129{i}", "ACME");')


def test_the_sql_template_is_refused_with_the_fix(tmp_path: Path) -> None:
    # It used to be read as the 13-field default, the account code as `ACME");`.
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(_SQL.format(i=i) for i in range(3)) + "\n")
    with pytest.raises(UnknownFormatError, match="'sql' template") as e:
        parse_file(f, None, "UTC")
    assert str(f) in str(e.value) and "example" in str(e.value)
    s = ingest_paths([f], tmp_path / "store", tz="UTC")
    assert s.stored == 0 and s.per_file[0].error
