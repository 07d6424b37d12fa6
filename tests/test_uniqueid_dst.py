"""The switch's UTC offset inferred from Asterisk's uniqueid on the day DST changes.

Asterisk writes start times in the switch's local time; each record's uniqueid is the UTC
epoch of its channel's creation. On a DST-change day a date holds two offsets: every record
must get the one it was written with (each side of the change, both passes of a repeated
hour), a --tz that follows the change must not be reported as disagreeing, a wrong --tz still
is, and a record whose uniqueid is far from its start (a transfer, a long-lived channel) must
not move the others.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_ingest_formats import _asterisk_row

from tracehop.ingest.run import parse_file

NY = ZoneInfo("America/New_York")
EDT = "UTC-04:00 (inferred from uniqueid)"
EST = "UTC-05:00 (inferred from uniqueid)"

# Every half hour from local midnight to 03:30, as UTC instants.
# Fall back, 2024-11-03 02:00 EDT -> 01:00 EST: 01:00 and 01:30 are written twice.
FALL_BACK = [1730606400 + 1800 * k for k in range(10)]  # 04:00Z .. 08:30Z
# Spring forward, 2024-03-10 02:00 EST -> 03:00 EDT: no 02:xx at all.
SPRING_FORWARD = [1710046800 + 1800 * k for k in range(8)]  # 05:00Z .. 08:30Z


def _local(epoch: int, zone: ZoneInfo = NY) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M:%S")


def _write(path: Path, records: list[tuple[int, int]]) -> Path:
    """A Master.csv of (start instant, uniqueid epoch) pairs, written in New York time."""
    path.write_text("\n".join(_asterisk_row(_local(start), f"{uid}.{k}")
                              for k, (start, uid) in enumerate(records)) + "\n")
    return path


def _instants(path: Path, tz: str | None = None) -> list[int]:
    legs = parse_file(path, "asterisk_cdr_csv", tz).legs
    return [int(t.timestamp()) for t in legs.column("start_utc").to_pylist()]


@pytest.fixture
def fall_back(tmp_path: Path) -> Path:
    return _write(tmp_path / "fall.csv", [(e, e) for e in FALL_BACK])


@pytest.fixture
def spring_forward(tmp_path: Path) -> Path:
    return _write(tmp_path / "spring.csv", [(e, e) for e in SPRING_FORWARD])


def test_fall_back_day_without_tz_gives_each_record_its_instant(fall_back: Path) -> None:
    local = [ln.split('","')[9] for ln in fall_back.read_text().splitlines()]
    assert local[3] == local[5] == "2024-11-03 01:30:00"  # the repeated hour, both passes
    res = parse_file(fall_back, "asterisk_cdr_csv")
    got = [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()]
    assert got == FALL_BACK
    # The tester's rows: local 00:30 is 04:30Z, the first 01:30 05:30Z, the second 06:30Z.
    assert got[1] == 1730608200 and got[3] == 1730611800 and got[5] == 1730615400
    # The label says the offset each record was read with.
    assert res.legs.column("source_tz").to_pylist() == [EDT] * 4 + [EST] * 6
    assert res.warnings == []


def test_spring_forward_day_without_tz_gives_each_record_its_instant(
        spring_forward: Path) -> None:
    res = parse_file(spring_forward, "asterisk_cdr_csv")
    got = [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()]
    assert got == SPRING_FORWARD
    assert got[3] == 1710052200  # local 01:30 EST is 06:30Z
    assert res.legs.column("source_tz").to_pylist() == [EST] * 4 + [EDT] * 4


@pytest.mark.parametrize("day", ["fall_back", "spring_forward"])
def test_correct_tz_across_the_change_does_not_warn(day: str,
                                                    request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(day)
    res = parse_file(path, "asterisk_cdr_csv", "America/New_York")
    assert res.warnings == []
    instants = FALL_BACK if day == "fall_back" else SPRING_FORWARD
    got = [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()]
    ambiguous = res.legs.column("time_ambiguous").to_pylist()
    # --tz reads a repeated wall time as its first pass (and flags it); every other is exact.
    assert [g for g, a in zip(got, ambiguous, strict=True) if not a] == [
        e for e, a in zip(instants, ambiguous, strict=True) if not a]


def test_repeated_hour_alone_with_correct_tz_does_not_warn(tmp_path: Path) -> None:
    # Only the second pass of 01:xx, each record started with its channel: with --tz the
    # uniqueid tells the pass (EST), so each gets its own instant and no ambiguity flag. It is
    # the zone's fold, not a wrong zone: no advice to pass --tz UTC.
    f = _write(tmp_path / "Master.csv", [(e, e) for e in FALL_BACK[4:6]])
    res = parse_file(f, "asterisk_cdr_csv", "America/New_York")
    got = [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()]
    assert got == FALL_BACK[4:6]
    assert res.legs.column("time_ambiguous").to_pylist() == [False, False]
    assert res.warnings == []


def test_with_tz_a_repeated_hour_start_takes_the_pass_its_uniqueid_names(tmp_path: Path) -> None:
    # Both passes of 01:30 on the fall-back day, each started with its channel, and one whose
    # channel was made 30 minutes before it (a transferred leg: its uniqueid names neither
    # pass). --tz America/New_York: the first two get their own instants, unflagged; the third
    # keeps the rule (first pass) and its flag.
    first, second = FALL_BACK[3], FALL_BACK[5]  # 05:30Z (EDT) and 06:30Z (EST)
    f = _write(tmp_path / "Master.csv", [(first, first), (second, second),
                                         (second, second - 1800)])
    res = parse_file(f, "asterisk_cdr_csv", "America/New_York")
    got = [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()]
    assert got == [first, second, first]
    assert res.legs.column("time_ambiguous").to_pylist() == [False, False, True]


@pytest.mark.parametrize("day", ["fall_back", "spring_forward"])
def test_wrong_tz_across_the_change_still_warns(day: str,
                                                request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(day)
    res = parse_file(path, "asterisk_cdr_csv", "America/Chicago")
    assert len(res.warnings) == 1
    # Chicago is an hour behind New York on both sides of the change; the warning names the
    # commonest pair (in the spring file EST/CST and EDT/CDT tie: the lower offsets are named).
    assert "--tz America/Chicago reads these records as UTC-06:00" in res.warnings[0]
    assert "uniqueid says the switch wrote UTC-05:00" in res.warnings[0]
    assert set(res.legs.column("source_tz").to_pylist()) == {"America/Chicago"}  # --tz wins


def test_outlier_on_a_plain_day_does_not_make_a_second_offset(tmp_path: Path) -> None:
    # 2024-11-05, all EST. The 03:xx record's uniqueid is an hour older than its start (a
    # channel that lived an hour): alone in its hour it says EDT, a DST shift away. One record
    # is not a DST change: it and all the others keep the date's offset.
    starts = [1730782800 + 3600 * h for h in range(12) if h != 3] + [1730782800 + 3 * 3600]
    records = [(s, s) for s in starts[:-1]] + [(starts[-1], starts[-1] - 3600)]
    f = _write(tmp_path / "Master.csv", records)
    assert _instants(f) == starts
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert set(legs.column("source_tz").to_pylist()) == {EST}


def test_outlier_on_the_change_day_does_not_move_the_others(tmp_path: Path) -> None:
    # The fall-back day with two more records: one whose uniqueid is three hours older than
    # its start, one whose uniqueid is not an epoch. Every other record keeps its instant.
    late = FALL_BACK[8] + 60  # 03:01 EST
    f = _write(tmp_path / "Master.csv", [(e, e) for e in FALL_BACK] + [(late, late - 3 * 3600)])
    with f.open("a") as out:
        out.write(_asterisk_row(_local(late + 60), "pbx-7") + "\n")
    got = _instants(f)
    assert got[:len(FALL_BACK)] == FALL_BACK
    assert got[-1] == late + 60  # no uniqueid: the date's most common offset (EST)


def test_change_day_in_a_sampled_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three days around the fall-back change, a record every 20 minutes, sampled one record in
    # 24: the sample holds one of the change day's six EDT records, too few to show a second
    # offset, so that date is counted again from all its rows and each record gets its instant.
    from tracehop.ingest import apply

    monkeypatch.setattr(apply, "INFER_SAMPLE", 9)
    start = int(datetime(2024, 11, 2, 4, tzinfo=UTC).timestamp())  # 2 Nov 00:00 EDT
    instants = [start + 1200 * k for k in range(3 * 72)]
    f = _write(tmp_path / "Master.csv", [(e, e) for e in instants])
    assert _instants(f) == instants


def test_stray_night_hour_between_steady_dates_is_not_a_change(tmp_path: Path) -> None:
    # 4-6 November 2024, all EST. On the 5th the only records of 03:xx are two legs of a
    # channel created an hour before (they say EDT). The dates either side share one offset,
    # so the 5th did not change its clock: every record, those two included, reads as EST.
    base = int(datetime(2024, 11, 4, 5, tzinfo=UTC).timestamp())  # 4 Nov 00:00 EST
    starts = [base + day * 86400 + 3600 * h for day in range(3) for h in range(8, 20)]
    stray = [base + 86400 + 3 * 3600 + 60, base + 86400 + 3 * 3600 + 300]
    f = _write(tmp_path / "Master.csv",
               [(s, s) for s in starts] + [(s, base + 86400 + 2 * 3600 + 50) for s in stray])
    assert _instants(f) == starts + stray
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert set(legs.column("source_tz").to_pylist()) == {EST}


# Sparse days: too few records on one side of the change for it to hold half of a local hour.
# Each record started with its channel (start == uniqueid to the second), so its own uniqueid
# says which offset it was written with, and that is the offset it must get.


def test_sparse_fall_back_day_gives_each_record_its_instant(tmp_path: Path) -> None:
    # The tester's 13 calls over 1-3 November 2025: on the 2nd, 00:30 and 01:40 EDT (the
    # first pass), then 01:20 EST (the second pass) and four more EST calls. The two EDT calls
    # were read as EST, an hour late, though their own uniqueids say UTC-04:00.
    def utc(d: int, h: int, m: int) -> int:
        return int(datetime(2025, 11, d, h, m, tzinfo=UTC).timestamp())

    instants = ([utc(1, h, m) for h, m in [(14, 5), (16, 20), (20, 0)]]
                + [utc(2, h, m) for h, m in [(4, 30), (5, 40), (6, 20), (14, 0), (16, 0),
                                             (19, 0), (21, 30)]]
                + [utc(3, h, m) for h, m in [(14, 5), (16, 20), (20, 0)]])
    f = _write(tmp_path / "Master.csv", [(e, e) for e in instants])
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert [int(t.timestamp()) for t in legs.column("start_utc").to_pylist()] == instants
    assert legs.column("source_tz").to_pylist()[3:6] == [EDT, EDT, EST]


@pytest.mark.parametrize("sample", [None, 4])
def test_batch_that_starts_inside_the_repeated_hour(tmp_path: Path, sample: int | None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # An appended Master.csv read on from the middle of the fall-back night: the new records
    # are six first-pass 01:xx calls (EDT) and nine second-pass ones (EST), a record every
    # 7 minutes. EDT holds 6 of the 15 records of local hour 01, less than half. Sampled one
    # in three, only the exact EDT records in the sample tell that the date is worth reading
    # whole (one date, no hour where EDT has half).
    from tracehop.ingest import apply

    if sample:
        monkeypatch.setattr(apply, "INFER_SAMPLE", sample)
    start = int(datetime(2025, 11, 2, 5, 20, tzinfo=UTC).timestamp())  # 01:20 EDT
    instants = [start + 420 * k for k in range(15)]
    f = _write(tmp_path / "Master.csv", [(e, e) for e in instants])
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert [int(t.timestamp()) for t in legs.column("start_utc").to_pylist()] == instants
    assert legs.column("source_tz").to_pylist() == [EDT] * 6 + [EST] * 9


def test_one_record_before_a_spring_forward(tmp_path: Path) -> None:
    # One call at 01:55 EST on 9 March 2025 (06:55Z), two after the change (03:05, 03:10 EDT):
    # the 01:55 call was read with the date's EDT, an hour early (05:55Z).
    instants = [int(datetime(2025, 3, 9, h, m, tzinfo=UTC).timestamp())
                for h, m in [(8, 5), (6, 55), (8, 10)]]
    f = _write(tmp_path / "Master.csv", [(e, e) for e in instants])
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert [int(t.timestamp()) for t in legs.column("start_utc").to_pylist()] == instants
    assert legs.column("source_tz").to_pylist() == [EDT, EST, EDT]


def test_exact_late_leg_in_the_middle_of_a_plain_day_stays(tmp_path: Path) -> None:
    # 5 November 2024, all EST, alone in its file (no neighbouring dates). The 10:00 record's
    # channel was created exactly an hour before it started: its own difference says EDT to
    # the second. Read as EDT it would fall between records that read as EST, which no clock
    # change gives: it keeps the date's offset.
    base = int(datetime(2024, 11, 5, 13, tzinfo=UTC).timestamp())  # 08:00 EST
    starts = [base + 3600 * h for h in range(8)]
    records = [(s, s) for s in starts]
    records[2] = (starts[2], starts[2] - 3600)
    f = _write(tmp_path / "Master.csv", records)
    assert _instants(f) == starts


# A call in progress when the clock changes: Asterisk writes each of start, answer and end in
# the offset in force at that instant, so its answer and end need not have its start's offset.

def _call_row(start: int, answer: int, end: int, uid: str) -> str:
    """An answered call of start/answer/end instants, in New York time, with its durations."""
    return (f'"","2025550111","3125550100","from-trunk","","SIP/acme-0001","","Dial","",'
            f'"{_local(start)}","{_local(answer)}","{_local(end)}",{end - start},{end - answer},'
            f'"ANSWERED","DOCUMENTATION","{uid}",""')


def _times(path: Path, tz: str | None) -> list[tuple[int, int, int]]:
    legs = parse_file(path, "asterisk_cdr_csv", tz).legs
    cols = [legs.column(c).to_pylist() for c in ("start_utc", "answer_utc", "end_utc")]
    return [tuple(int(t.timestamp()) for t in row) for row in zip(*cols, strict=True)]


@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_call_across_the_change_keeps_its_answer_and_end_after_its_start(
        tmp_path: Path, tz: str | None) -> None:
    # Fall back: 01:50 EDT (05:50Z), answered 01:51 EDT, ended 15 minutes later at 01:05 EST
    # (the second pass). Read with its start's offset, or the repeated hour's first pass, the
    # end was 05:05Z: before the start, a negative call. Spring forward: 01:55 EST (06:55Z) to
    # 03:05 EDT (07:05Z), a 10-minute call, was stored ending at 08:05Z.
    fall = (1793512800 - 600, 1793512800 - 540, 1793512800 + 300)
    spring = (1772953200 - 300, 1772953200 - 240, 1772953200 + 300)
    calls = [fall, spring]
    rows = [_call_row(*c, f"{c[0]}.{k}") for k, c in enumerate(calls)]
    # The other records of the two nights (a record every half hour, each on its own offset).
    for k, e in enumerate([1793512800 + 1800 * j for j in range(-6, 6)]
                          + [1772953200 + 1800 * j for j in range(-6, 6)]):
        rows.append(_call_row(e, e + 5, e + 60, f"{e}.{k + 10}"))
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    got = _times(f, tz)
    assert got[0] == fall
    assert got[1] == spring


def test_zone_per_record_end_in_the_second_pass_is_after_the_start(tmp_path: Path) -> None:
    # A layout naming each record's zone, no durations: 01:50 EDT to 01:05 EST (the second
    # pass) ends after it starts, at 06:05Z, not at 05:05Z; the start keeps the first pass.
    profile = tmp_path / "p.toml"
    profile.write_text('name = "zoned"\n[csv]\nheader = true\n'
                       '[time]\nstart = "start"\nanswer = "answer"\nend = "end"\n'
                       'zone = "column"\nzone_column = "zone"\n[fields]\ncalled_raw = "to"\n')
    f = tmp_path / "calls.csv"
    f.write_text("start,answer,end,zone,to\n"
                 "2026-11-01 01:50:00,2026-11-01 01:51:00,2026-11-01 01:05:00,"
                 "America/New_York,3125550100\n")
    legs = parse_file(f, str(profile)).legs
    got = [int(legs.column(c)[0].as_py().timestamp())
           for c in ("start_utc", "answer_utc", "end_utc")]
    assert got == [1793512200, 1793512260, 1793513100]
    assert legs.column("time_ambiguous").to_pylist() == [True]


def test_wrong_tz_warning_gives_the_fix_that_fits(tmp_path: Path) -> None:
    # New York local times ingested with --tz UTC: the fix is the switch's zone or no --tz.
    # The warning said "ingest it again with --tz UTC", the option that made the mistake.
    f = _write(tmp_path / "Master.csv", [(e, e) for e in FALL_BACK[:3]])
    (warning,) = parse_file(f, "asterisk_cdr_csv", "UTC").warnings
    assert "uniqueid says the switch wrote UTC-04:00" in warning
    assert "--tz UTC" not in warning.split("using --tz as given")[1]
    assert "without --tz" in warning and "America/New_York" in warning
    # UTC times ingested with --tz America/New_York (cdr.conf usegmtime=yes): --tz UTC is it.
    utc = tmp_path / "utc.csv"
    utc.write_text("\n".join(
        _asterisk_row(datetime.fromtimestamp(e, UTC).strftime("%Y-%m-%d %H:%M:%S"), f"{e}.{k}")
        for k, e in enumerate(FALL_BACK[:3])) + "\n")
    (warning,) = parse_file(utc, "asterisk_cdr_csv", "America/New_York").warnings
    assert "uniqueid says the switch wrote UTC+00:00" in warning
    assert "usegmtime=yes" in warning and "--tz UTC" in warning


def test_zone_per_record_that_names_no_zone_rejects_that_record(tmp_path: Path) -> None:
    # One record of a file whose layout names each record's zone says "EST" and one a zone
    # that does not exist. The whole file failed with the abbreviation error, naming no
    # line or column; now those two records are rejects saying why, the others are stored.
    profile = tmp_path / "p.toml"
    profile.write_text('name = "zoned"\n[csv]\nheader = true\n'
                       '[time]\nstart = "start"\nzone = "column"\nzone_column = "zone"\n'
                       '[fields]\ncalled_raw = "to"\n')
    f = tmp_path / "calls.csv"
    f.write_text("start,zone,to\n"
                 "2026-07-01 10:00:00,America/New_York,3125550100\n"
                 "2026-07-01 10:00:00,EST,3125550100\n"
                 "2026-07-01 10:00:00,Mars/Olympus_Mons,3125550100\n"
                 "2026-07-01 10:00:00,asia/kolkata,3125550100\n")
    res = parse_file(f, str(profile))
    assert [int(t.timestamp()) for t in res.legs.column("start_utc").to_pylist()] == [
        int(datetime(2026, 7, 1, 14, tzinfo=UTC).timestamp()),
        int(datetime(2026, 7, 1, 4, 30, tzinfo=UTC).timestamp())]
    rejects = res.rejects.to_pylist()
    assert [r["source_record"] for r in rejects] == [3, 4]
    assert "'EST'" in rejects[0]["reason"] and "America/New_York" in rejects[0]["reason"]
    assert "column 'zone'" in rejects[0]["reason"]
    assert "Mars/Olympus_Mons" in rejects[1]["reason"]


@pytest.mark.parametrize(("tz", "stored"), [(" america/new_york ", "America/New_York"),
                                           ("Z", "UTC"), ("etc/utc", "UTC"),
                                           ("US/Eastern", "US/Eastern")])
def test_source_tz_is_the_zones_name_not_the_spelling_given(tmp_path: Path, tz: str,
                                                             stored: str) -> None:
    # source_tz is the IANA zone the times were read in (schema.py); it held --tz as typed,
    # " america/new_york " included, which ZoneInfo() cannot open.
    f = _write(tmp_path / "Master.csv", [(e, e) for e in FALL_BACK[:2]])
    legs = parse_file(f, "asterisk_cdr_csv", tz).legs
    assert set(legs.column("source_tz").to_pylist()) == {stored}
    ZoneInfo(stored)


def test_source_tz_of_a_zone_column_is_the_zones_name(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('name = "zoned"\n[csv]\nheader = true\n'
                       '[time]\nstart = "start"\nzone = "column"\nzone_column = "zone"\n'
                       '[fields]\ncalled_raw = "to"\n')
    f = tmp_path / "calls.csv"
    f.write_text("start,zone,to\n2026-07-01 10:00:00,asia/kolkata,3125550100\n")
    assert parse_file(f, str(profile)).legs.column("source_tz").to_pylist() == ["Asia/Kolkata"]
