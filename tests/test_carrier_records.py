"""Records the carrier readers lost or stored incompletely (black-box findings 6-8):

6. Acme: a comma inside the quoted display name of Calling-Station-Id (Acme does not escape
   the inner quotes) broke the field count; the value is now kept whole, and a record whose
   count is still wrong says when its quoting is the cause.
7. Genband G6: a fixed-width record whose trailing blanks were stripped is read, its missing
   columns empty, when it reaches the fields tracehop needs (through CallDirection).
8. Ribbon: an ATTEMPT record keeps its egress side (Egress Trunk Group Name, field 58; Route
   Selected, 28; Egress Remote Signaling IP, 30), as a STOP does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.ingest.carrier_records import split_unescaped_quotes
from tracehop.ingest.genband import read_g6
from tracehop.ingest.readers import REASON
from tracehop.ingest.ribbon import POSITIONS
from tracehop.ingest.run import parse_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
ACME = FIXTURES / "acme_sbc_cdr" / "cdr20260307.csv"
G6 = FIXTURES / "genband_g6_cdr" / "g6_20260307.cdr"


# --- 6. Acme: quoted display names with commas ----------------------------------------------


@pytest.mark.parametrize(("line", "fields"), [
    ('a,"b,c",,d', ["a", "b,c", "", "d"]),
    ('1,""Doe, John" <sip:+12025550111@x>;tag=9f8e",2',
     ["1", '"Doe, John" <sip:+12025550111@x>;tag=9f8e', "2"]),
    ('"",x,', ["", "x", ""]),
    ('x,"unterminated, value', ["x", "unterminated, value"]),
])
def test_split_unescaped_quotes(line: str, fields: list[str]) -> None:
    assert split_unescaped_quotes(line) == fields


def test_acme_display_name_with_a_comma_keeps_the_record(tmp_path: Path) -> None:
    f = tmp_path / "cdr.csv"
    f.write_text(ACME.read_text().replace('""ROBO CALLER"', '""CALLER, ROBO"'))
    res = parse_file(f)
    assert res.rejects.num_rows == 0
    same = ["source_record", "start_utc", "calling_e164", "called_e164", "ingress_trunk"]
    assert res.legs.select(same).to_pylist() == parse_file(ACME).legs.select(same).to_pylist()
    assert "CALLER, ROBO" in str(res.legs.column("raw_record")[0])


def test_acme_broken_quoting_is_named_in_the_reason(tmp_path: Path) -> None:
    lines = ACME.read_text().splitlines()
    broken = lines[2].replace('""ROBO CALLER"', '""CALLER, ROBO"') + ",extra"
    f = tmp_path / "cdr.csv"
    f.write_text("\n".join([*lines, broken.replace("0001@", "0009@")]) + "\n")
    res = parse_file(f)
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "quot" in reason and "fields as CSV" in reason


# --- 7. Genband G6: trailing blanks stripped ------------------------------------------------


def test_g6_record_with_trailing_blanks_stripped_is_read(tmp_path: Path) -> None:
    f = tmp_path / "g6.cdr"
    f.write_text("\n".join(line.rstrip() for line in G6.read_text().splitlines()) + "\n")
    assert any(len(line) < 629 for line in f.read_text().splitlines())
    res = parse_file(f, "genband_g6_cdr", "America/New_York")
    assert res.rejects.num_rows == 0
    full = parse_file(G6, "genband_g6_cdr", "America/New_York").legs
    cols = [c for c in full.column_names if c not in ("leg_id", "source_file", "raw_record")]
    assert res.legs.select(cols).to_pylist() == full.select(cols).to_pylist()


def test_g6_record_cut_before_the_direction_is_rejected(tmp_path: Path) -> None:
    line = G6.read_text().splitlines()[0]
    f = tmp_path / "g6.cdr"
    f.write_text(line[:403] + "\n")
    rows, rejects = read_g6(f, frozenset())
    assert rows.height == 0
    (reason,) = rejects.get_column(REASON).to_list()
    assert "found 403" in reason and "CallDirection" in reason


# --- 8. Ribbon: the egress side of an ATTEMPT -----------------------------------------------


def test_ribbon_attempt_keeps_its_egress_trunk(tmp_path: Path) -> None:
    fields = [""] * 167  # release 9.2 ATTEMPT width
    values = {
        "gateway": "SBC1", "accounting_id": "0x1", "node_tz": "GMT-05:00-Eastern",
        "start_date": "11/20/2026", "start_clock": "09:03:22.1", "disconnect_clock": "09:03:40.0",
        "disconnect_date": "11/20/2026", "disconnect_reason": "19", "calling_number": "2025550111",
        "called_number": "3125550100", "ingress_tg": "TG_CARRA", "route_selected": "SBC1:TG_OUT",
        "egress_tg": "TG_OUT", "egress_remote_ip": "203.0.113.50", "final_attempt": "1",
    }
    fields[0] = "ATTEMPT"
    for k, v in values.items():
        fields[POSITIONS["ATTEMPT"][k] - 1] = v
    f = tmp_path / "sbc1.ACT"
    f.write_text("SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED\n" + ",".join(fields) + "\n")
    (leg,) = parse_file(f, "ribbon_sbc_act").legs.to_pylist()
    assert (leg["egress_trunk"], leg["egress_ip"]) == ("TG_OUT", "203.0.113.50")
    assert POSITIONS["ATTEMPT"]["egress_tg"] == 58 and POSITIONS["ATTEMPT"]["route_selected"] == 28
