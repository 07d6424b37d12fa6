"""Carrier formats as the vendors write them (QA round): defects found by feeding records built
from the vendors' documented layouts rather than from our fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tracehop.ingest.run import parse_file

# --- CGRateS --------------------------------------------------------------------------------

# CGRateS v0.10 and later dropped the legacy Direction field from its CDRs (engine/cdr.go has
# no such field), so its default CSV exporter writes CGRID, RunID, ToR, OriginID, RequestType,
# Tenant, Category, Account, Subject, Destination, SetupTime, AnswerTime, Usage, Cost: every
# field after RequestType sits one place earlier than in the older cdre layout.
CGR_CURRENT = (
    "c965f3be908baae725aabc5962af9352a14f1af4,*default,*voice,a84b4c76e66710@198.51.100.7,"
    "*rated,cgrates.org,call,ACME_TRANSIT,2025550111,3125550100,2026-03-07T19:03:22Z,"
    "2026-03-07T19:03:27Z,1m0s,0.0120\n"
    "7ca7b6d6be112bb47b357bb5a1df05049b39861f,*default,*voice,77f1c2@10.0.0.21,*postpaid,"
    "cgrates.org,call,1001,1001,2025550199,2026-03-07T19:05:00Z,0001-01-01T00:00:00Z,0s,0\n"
)


def test_cgrates_current_export_without_direction(tmp_path: Path) -> None:
    f = tmp_path / "cdrs.csv"
    f.write_text(CGR_CURRENT)
    res = parse_file(f)
    assert res.format == "cgrates_cdr_csv"
    assert res.rejects.num_rows == 0
    rows = res.legs.to_pylist()
    assert [(r["calling_raw"], r["called_raw"], r["account"]) for r in rows] == [
        ("2025550111", "3125550100", "ACME_TRANSIT"), ("1001", "2025550199", "1001")]
    assert rows[0]["start_utc"] == datetime(2026, 3, 7, 19, 3, 22, tzinfo=UTC)
    assert rows[0]["answer_utc"] == datetime(2026, 3, 7, 19, 3, 27, tzinfo=UTC)
    assert rows[0]["billsec_s"] == 60.0 and rows[0]["disposition"] == "answered"
    assert rows[1]["answer_utc"] is None and rows[1]["disposition"] == "unknown"


def test_cgrates_legacy_export_keeps_its_direction_column(tmp_path: Path) -> None:
    """The older layout (Direction *out/*in at index 5) is still read as before, also when
    a file mixes both (an export directory spanning an upgrade)."""
    legacy = CGR_CURRENT.splitlines()[0].replace(",*rated,", ",*rated,*out,") + "\n"
    f = tmp_path / "cdrs.csv"
    f.write_text(legacy + CGR_CURRENT.splitlines()[1] + "\n")
    rows = parse_file(f).legs.to_pylist()
    assert [(r["calling_raw"], r["called_raw"]) for r in rows] == [
        ("2025550111", "3125550100"), ("1001", "2025550199")]
