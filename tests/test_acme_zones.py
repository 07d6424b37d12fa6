"""Acme Packet (Oracle SBC) local CDRs: the zone of the h323 times (tracehop/ingest/acme_zones.py).

The times carry a zone abbreviation (``15:54:56.868 CST DEC 18 2017``) that names different
zones in different places. Acme-Local-Time-Zone, then --tz, decide it when their abbreviation at
that time is the record's; a US abbreviation nothing decides keeps its US meaning with a
warning when it has others; any other abbreviation rejects the record with the fix.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracehop.ingest.acme import LAYOUTS
from tracehop.ingest.run import parse_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "acme_sbc_cdr" / (
    "cdr20260307.csv")
STOP = LAYOUTS[("Stop", 175)]


def _stop(tmp_path: Path, times: tuple[str, str, str], local: str = "") -> Path:
    """The fixture's last record (a 175-field C6.4 Stop) with other times and local zone."""
    fields = next(csv.reader([FIXTURE.read_text().splitlines()[4]]))
    assert len(fields) == 175
    for col, value in zip(("setup_time", "connect_time", "disconnect_time"), times, strict=True):
        fields[STOP[col] - 1] = value
    fields[STOP["local_time_zone"] - 1] = local
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    f = tmp_path / "cdr.csv"
    f.write_text(buf.getvalue())
    return f


def _times(zone: str, day: str = "DEC 18 2017") -> tuple[str, str, str]:
    return (f"15:54:56.868 {zone} {day}", f"15:55:01.000 {zone} {day}",
            f"15:56:01.000 {zone} {day}")


def _start(f: Path, tz: str | None = None) -> tuple[datetime, str]:
    res = parse_file(f, "acme_sbc_cdr", tz)
    assert res.rejects.num_rows == 0, res.rejects.column("reason").to_pylist()
    (leg,) = res.legs.to_pylist()
    return leg["start_utc"], leg["source_tz"]


def test_cst_of_an_sbc_in_china_is_read_on_china_time(tmp_path: Path) -> None:
    start, zone = _start(_stop(tmp_path, _times("CST"), "Asia/Shanghai"))
    assert start == datetime(2017, 12, 18, 7, 54, 56, 868000, tzinfo=UTC)
    assert zone == "Asia/Shanghai"


def test_ist_of_an_sbc_in_india_is_read_with_its_local_zone(tmp_path: Path) -> None:
    start, zone = _start(_stop(tmp_path, _times("IST"), "Asia/Kolkata"))
    assert start == datetime(2017, 12, 18, 10, 24, 56, 868000, tzinfo=UTC)
    assert zone == "Asia/Kolkata"


def test_a_local_zone_written_as_an_offset_decides_too(tmp_path: Path) -> None:
    start, _ = _start(_stop(tmp_path, _times("CST"), "GMT+08:00"))
    assert start == datetime(2017, 12, 18, 7, 54, 56, 868000, tzinfo=UTC)


def test_cst_without_a_local_zone_keeps_us_time_and_says_so(tmp_path: Path) -> None:
    res = parse_file(_stop(tmp_path, _times("CST")), "acme_sbc_cdr")
    (leg,) = res.legs.to_pylist()
    assert leg["start_utc"] == datetime(2017, 12, 18, 21, 54, 56, 868000, tzinfo=UTC)
    (warning,) = res.warnings
    assert "'CST'" in warning and "UTC+08:00" in warning and "--tz" in warning
    assert "line 1" in warning


def test_cst_with_tz_of_the_sbc_is_read_in_that_zone_without_a_warning(tmp_path: Path) -> None:
    f = _stop(tmp_path, _times("CST"))
    res = parse_file(f, "acme_sbc_cdr", "Asia/Shanghai")
    assert res.warnings == []
    assert _start(f, "Asia/Shanghai")[0] == datetime(2017, 12, 18, 7, 54, 56, 868000, tzinfo=UTC)


def test_an_unambiguous_us_abbreviation_gives_no_warning() -> None:
    assert parse_file(FIXTURE).warnings == []


def test_an_abbreviation_nothing_decides_rejects_the_record_with_the_fix(tmp_path: Path) -> None:
    res = parse_file(_stop(tmp_path, _times("IST")), "acme_sbc_cdr")
    assert res.legs.num_rows == 0
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "'IST'" in reason and "--tz" in reason and "Acme-Local-Time-Zone" in reason
    assert "UTC+05:30" in reason  # one of its meanings, named


def test_ist_with_the_tz_of_the_sbc_is_read(tmp_path: Path) -> None:
    start, zone = _start(_stop(tmp_path, _times("IST")), "Asia/Kolkata")
    assert (start.hour, start.minute, zone) == (10, 24, "Asia/Kolkata")


def test_a_tz_that_writes_another_abbreviation_does_not_shift_the_record(tmp_path: Path) -> None:
    res = parse_file(_stop(tmp_path, _times("IST")), "acme_sbc_cdr", "America/New_York")
    assert res.legs.num_rows == 0
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "'EST'" in reason and "America/New_York" in reason


def test_a_made_up_abbreviation_is_rejected_naming_it(tmp_path: Path) -> None:
    res = parse_file(_stop(tmp_path, _times("XYZ"), "Timezone Info Not Configured"),
                     "acme_sbc_cdr")
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "'XYZ'" in reason and "'Timezone Info Not Configured'" in reason


@pytest.mark.parametrize(("local", "hour"), [("America/Chicago", 21), ("", 21)])
def test_cst_in_the_us_is_still_us_central(tmp_path: Path, local: str, hour: int) -> None:
    start, _ = _start(_stop(tmp_path, _times("CST"), local))
    assert start.hour == hour


@pytest.mark.parametrize(("zone", "hour"), [("EDT", 5), ("EST", 6)])
def test_the_abbreviation_says_which_of_a_repeated_hour(tmp_path: Path, zone: str,
                                                        hour: int) -> None:
    """01:30 happens twice when New York falls back; the record's EDT or EST says which, also
    when Acme-Local-Time-Zone names the zone (read alone, the zone gives the first)."""
    times = (f"01:30:00.000 {zone} NOV 01 2026", f"01:30:05.000 {zone} NOV 01 2026",
             f"01:31:00.000 {zone} NOV 01 2026")
    start, _ = _start(_stop(tmp_path, times, "America/New_York"))
    assert start == datetime(2026, 11, 1, hour, 30, tzinfo=UTC)


def test_a_name_the_tz_database_does_not_use_is_read_in_the_sbcs_zone(tmp_path: Path) -> None:
    """The SBC's zone name is typed by its admin: SGT, where tzdata writes +08 for Singapore.
    Nothing can check it, so the SBC's own zone, then --tz, decides; without either it is
    rejected (test_a_made_up_abbreviation_is_rejected_naming_it)."""
    start, zone = _start(_stop(tmp_path, _times("SGT"), "Asia/Singapore"))
    assert (start.hour, zone) == (7, "Asia/Singapore")
    start, zone = _start(_stop(tmp_path, _times("SGT")), "Asia/Singapore")
    assert (start.hour, zone) == (7, "Asia/Singapore")


@pytest.mark.parametrize(("local", "abbr", "utc_hour"), [
    ("PRC", "CST", 7), ("Japan", "JST", 6), ("Singapore", "+08", 7), ("EST5EDT", "EST", 20)])
def test_a_local_zone_named_without_a_slash_decides_too(tmp_path: Path, local: str, abbr: str,
                                                        utc_hour: int) -> None:
    """tz database names without "/" (PRC, Japan, EST5EDT) were not read as zones: CST of an
    SBC whose local zone is PRC was read as US Central (21:54 UTC, 14 hours off, with only a
    warning), and JST of one in Japan was rejected. (+08 is Singapore's tzdata abbreviation:
    the h323 pattern reads letters only, so that record has none and its local zone decides.)"""
    times = _times(abbr) if abbr.isalpha() else (
        "15:54:56.868 DEC 18 2017", "15:55:01.000 DEC 18 2017", "15:56:01.000 DEC 18 2017")
    res = parse_file(_stop(tmp_path, times, local), "acme_sbc_cdr")
    assert res.rejects.num_rows == 0, res.rejects.column("reason").to_pylist()
    assert res.warnings == []
    (leg,) = res.legs.to_pylist()
    assert leg["start_utc"] == datetime(2017, 12, 18, utc_hour, 54, 56, 868000, tzinfo=UTC)


@pytest.mark.parametrize("local", ["", "America/New_York"])
@pytest.mark.parametrize(("times", "end"), [
    # the clock goes back at 02:00 EDT: the call ends 40 s after it started, at 01:00:30 EST
    (("01:59:50.000 EDT NOV 01 2026", "01:59:55.000 EDT NOV 01 2026",
      "01:00:30.000 EST NOV 01 2026"), datetime(2026, 11, 1, 6, 0, 30, tzinfo=UTC)),
    # and forward at 02:00 EST: 03:00:30 EDT is 40 s after 01:59:50 EST
    (("01:59:50.000 EST MAR 08 2026", "01:59:55.000 EST MAR 08 2026",
      "03:00:30.000 EDT MAR 08 2026"), datetime(2026, 3, 8, 7, 0, 30, tzinfo=UTC)),
])
def test_a_call_across_a_dst_change_reads_each_time_by_its_own_abbreviation(
        tmp_path: Path, local: str, times: tuple[str, str, str], end: datetime) -> None:
    """The record was read in the zone of its first abbreviation only: the end of a call
    across the autumn change was read as EDT, an hour before its start (duration -3560 s),
    and without a local zone one across the spring change lasted an hour too long."""
    res = parse_file(_stop(tmp_path, times, local), "acme_sbc_cdr")
    assert res.rejects.num_rows == 0, res.rejects.column("reason").to_pylist()
    (leg,) = res.legs.to_pylist()
    assert leg["end_utc"] == end
    assert leg["end_utc"] - leg["start_utc"] == timedelta(seconds=40)
