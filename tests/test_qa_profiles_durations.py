"""QA of user-written profiles: durations written as H:MM:SS (European billing exports)."""

from __future__ import annotations

from pathlib import Path

from tracehop.ingest.run import parse_file

CSV = (
    "# Abrechnungsexport\n"
    "Datum;Richtung;B-Nummer;Dauer;Talk\n"
    "20.11.2026 15:03:22;IN;0049691234567;0:01:05;1:00\n"
    "20.11.2026 15:05:00;OUT;004930555123;0:00:00;0\n"
    "20.11.2026 15:07:10;IN;0049691234567;1:02:03.5;62:00\n"
    "20.11.2026 15:08:00;IN;0049691234567;n/a;\n"
)

PROFILE = """name = "eu_billing"
numbers_region = "DE"
[csv]
delimiter = ";"
header = true
skip_lines = 1
[time]
start = "Datum"
formats = ["%d.%m.%Y %H:%M:%S"]
zone = "utc"
duration = "Dauer"
billsec = "Talk"
[fields]
called_raw = "B-Nummer"
duration_s = "Dauer"
billsec_s = "Talk"
[direction]
column = "Richtung"
map = { "IN" = "inbound", "OUT" = "outbound" }
"""


def test_clock_durations_give_seconds_and_the_end(tmp_path: Path) -> None:
    # Before: H:MM:SS was cast to a float, failed silently, and left duration_s, end_utc
    # and answer_utc empty on every record, without a warning.
    f, p = tmp_path / "eu.csv", tmp_path / "eu.toml"
    f.write_text(CSV)
    p.write_text(PROFILE)
    legs = parse_file(f, str(p)).legs.sort_by("source_record")
    assert legs.column("duration_s").to_pylist() == [65.0, 0.0, 3723.5, None]
    assert legs.column("billsec_s").to_pylist() == [60.0, 0.0, 3720.0, None]
    ends = [t.isoformat() if t else None for t in legs.column("end_utc").to_pylist()]
    assert ends == ["2026-11-20T15:04:27+00:00", "2026-11-20T15:05:00+00:00",
                    "2026-11-20T16:09:13.500000+00:00", None]
    answer = legs.column("answer_utc").to_pylist()[0]
    assert answer.isoformat() == "2026-11-20T15:03:27+00:00"
    assert legs.column("called_e164").to_pylist()[0] == "+49691234567"
