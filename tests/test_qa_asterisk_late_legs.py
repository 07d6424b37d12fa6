"""A local date whose only records are late legs must not take their delay as its UTC offset.

The offset of a cdr_csv file without --tz is inferred per local date from start - the epoch
of uniqueid (main/channel.c: [systemname-]<epoch>.<seq>, the channel's creation). A leg starts
at its channel's creation or later (a queue's agent leg, a transfer, a fork: Asterisk 12+ cdr.c
starts a new CDR when party A's bridge changes), so one record's difference is the offset plus
a delay >= 0. A rotated Master.csv ends a little after midnight: the new date can hold one or
two records, and if those are late legs their delay became the date's offset (UTC-04:45 in a
New York file) and their start_utc was 15 minutes off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tracehop.ingest.run import parse_file

NY = ZoneInfo("America/New_York")


def _line(start: int, uid: int, seq: int, dst: str) -> str:
    def t(ep: int) -> str:
        return '"' + datetime.fromtimestamp(ep, NY).strftime("%Y-%m-%d %H:%M:%S") + '"'
    # cdr_csv.c build_csv_record, loguniqueid=yes and loguserfield=yes (18 columns).
    return ",".join([
        '""', '"2025550111"', f'"{dst}"', '"from-trunk"', '"""Doe, John"" <2025550111>"',
        f'"SIP/acme-{seq:08x}"', f'"SIP/201-{seq + 1:08x}"', '"Queue"', '"sales,t"',
        t(start), t(start + 2), t(start + 100), "100", "98", '"ANSWERED"', '"DOCUMENTATION"',
        f'"{uid}.{seq}"', '""'])


def test_a_late_leg_alone_on_its_date_takes_the_files_offset(tmp_path: Path) -> None:
    base = int(datetime(2025, 11, 20, 3, 0, tzinfo=UTC).timestamp())  # 22:00 EST
    lines = [_line(base + i * 300, base + i * 300, i, "3125550100") for i in range(10)]
    # The caller entered the queue at 23:50 EST; the agent leg starts at 00:10, the next date.
    entered = int(datetime(2025, 11, 20, 4, 50, tzinfo=UTC).timestamp())
    lines.append(_line(entered + 1200, entered, 99, "3125550177"))
    path = tmp_path / "Master.csv"
    path.write_text("\n".join(lines) + "\n")
    res = parse_file(path, "asterisk_cdr_csv")
    assert res.rejects.num_rows == 0
    legs = {leg["called_raw"]: leg for leg in res.legs.to_pylist()}
    late = legs["3125550177"]
    assert late["start_utc"].isoformat() == "2025-11-20T05:10:00+00:00"
    assert late["source_tz"] == "UTC-05:00 (inferred from uniqueid)"
