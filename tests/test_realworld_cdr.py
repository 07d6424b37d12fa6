"""Every real file in ../shared/realworld/cdr of the supported formats ingests without a crash,
and every record is either a leg or a reject with a reason (nothing is lost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.ingest.run import parse_file

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "cdr"
FOLDERS = ("asterisk_cdr_csv", "asterisk_cdr_custom", "asterisk_db_export",
           "grandstream_ucm_cdr", "freeswitch_cdr_csv", "freeswitch_json_cdr")
#: Files whose format writes local times with nothing to infer the offset from.
NEEDS_TZ = {"freepbx_cdr_new.csv", "freepbx_g9telecom.csv", "Master.csv@freeswitch_cdr_csv"}

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not REALWORLD.is_dir(),
                       reason=f"real-world samples not present at {REALWORLD}"),
]


def _files() -> list[Path]:
    if not REALWORLD.is_dir():
        return []
    return sorted(f for d in FOLDERS for f in (REALWORLD / d).glob("*") if f.is_file())


def _records_in(path: Path, fmt: str) -> int:
    if fmt == "freeswitch_json_cdr":
        return -1  # counted by documents, checked separately
    data = path.read_bytes()
    if b"\n" not in data:
        data = data.replace(b"\r", b"\n")
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    header = 0 if fmt in ("asterisk_cdr_csv", "asterisk_cdr_custom", "freepbx_cdr_dump",
                          "freeswitch_cdr_csv") else 1
    return len(lines) - header


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_realworld_file_ingests(path: Path) -> None:
    key = path.name if path.name in NEEDS_TZ else f"{path.name}@{path.parent.name}"
    tz = "Europe/Lisbon" if key in NEEDS_TZ or path.name in NEEDS_TZ else None
    res = parse_file(path, None, tz, "realworld")
    assert res.format
    reasons = res.rejects.column("reason").to_pylist()
    assert all(reasons), "every reject carries a reason"
    assert all(r is not None for r in res.rejects.column("source_record").to_pylist())
    n = _records_in(path, res.format)
    if n >= 0:
        assert res.legs.num_rows + res.rejects.num_rows == n
    else:
        assert res.legs.num_rows + res.rejects.num_rows >= 1
    assert res.legs.column("start_utc").null_count == 0


def test_known_quirks() -> None:
    if not REALWORLD.is_dir():
        pytest.skip("real-world samples absent")
    buggy = parse_file(REALWORLD / "asterisk_cdr_csv" / "testsuite_cdrlib_buggy.csv")
    assert buggy.legs.num_rows == 0
    assert "unterminated quote" in buggy.rejects.column("reason")[0].as_py()
    mineev = parse_file(REALWORLD / "asterisk_cdr_csv" / "Master.csv")
    assert any("not valid UTF-8" in w for w in mineev.warnings)
    # Start time equals the uniqueid epoch: written in UTC.
    assert set(mineev.legs.column("source_tz").to_pylist()) == {
        "UTC+00:00 (inferred from uniqueid)"}
    gs = parse_file(REALWORLD / "grandstream_ucm_cdr" / "Master.csv")
    # Calls from the carrier (Log Userfield "Inbound") name its trunk; the calls the UCM's own
    # extensions placed are inbound to the switch too, from the extension (party A's channel).
    legs = gs.legs.to_pylist()
    carrier = [r for r in legs if ",Inbound," in r["raw_record"]]
    assert carrier and {r["ingress_trunk"] for r in carrier} == {"EASTTELECOM"}
    placed = [r for r in legs if ",Outbound," in r["raw_record"]]
    assert placed and all(r["direction"] == "inbound" for r in placed)
    assert all(r["ingress_trunk"] and r["ingress_trunk"].isdigit() for r in placed)
    assert {r["source_tz"] for r in legs} == {"UTC+05:00 (inferred from uniqueid)"}
    pbx = parse_file(REALWORLD / "asterisk_db_export" / "pbxware_cdr.csv")
    assert {r["source_tz"] for r in pbx.legs.to_pylist()} == {
        "UTC-05:00 (inferred from uniqueid)"}
