"""Carrier formats (issue 3): Ribbon, Oracle/Acme, BroadWorks, Kamailio/OpenSIPS acc, CGRateS.

The shared three calls are checked for every fixture by tests/test_ingest_formats.py
(``*.expected.json``) and tests/test_conformance_formats.py; this file checks the fixtures
whose layout cannot carry all of the shared columns (``*.legs.json``: Kamailio, CGRateS),
detection over every fixture, and each format's quirks one by one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tracehop.errors import ZoneError
from tracehop.ingest.acme import h323_time
from tracehop.ingest.broadworks import user_zone
from tracehop.ingest.cgrates import parse_stamp
from tracehop.ingest.detect import detect_format
from tracehop.ingest.kamailio import split_acc
from tracehop.ingest.ribbon import POSITIONS, node_zone
from tracehop.ingest.run import ingest_paths, parse_file
from tracehop.ingest.transforms import TRANSFORMS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
LEGS = sorted(FIXTURES.glob("*/*.legs.json"))


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return v


def _data_of(spec_file: Path) -> Path:
    return spec_file.with_name(spec_file.name.rsplit(".", 2)[0])


# --- fixtures ----------------------------------------------------------------------------


@pytest.mark.parametrize("spec_file", LEGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_legs_fixture(spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text())
    data = _data_of(spec_file)
    assert detect_format(data) == spec["format"]
    res = parse_file(data, None, spec["tz"], "fixture")
    assert res.format == spec["format"]
    rows = res.legs.to_pylist()
    assert len(rows) == len(spec["rows"])
    for got, want in zip(rows, spec["rows"], strict=True):
        assert {k: _plain(got[k]) for k in want} == want
    rejected = res.rejects.to_pylist()
    assert len(rejected) == len(spec["rejected"])
    for got_r, want_r in zip(rejected, spec["rejected"], strict=True):
        assert got_r["source_record"] == want_r["source_record"]
        assert want_r["reason_contains"] in got_r["reason"]


def test_detection_names_every_fixture() -> None:
    """Detection over ALL fixtures (core and carrier) names the format its spec says: adding
    the carrier profiles must not steal an existing format's files."""
    specs = [*FIXTURES.glob("*/*.expected.json"), *LEGS]
    checked = 0
    for spec_file in specs:
        spec = json.loads(spec_file.read_text())
        if "profile" in spec:
            continue  # a user profile, passed with --format
        assert detect_format(_data_of(spec_file)) == spec["format"], spec_file.name
        checked += 1
    assert checked >= 25


# --- Ribbon ------------------------------------------------------------------------------

RIBBON = FIXTURES / "ribbon_sbc_act" / "1000003.ACT"


def _ribbon_record(rtype: str, width: int, **values: str) -> str:
    fields = [""] * width
    fields[0] = rtype
    for k, v in values.items():
        fields[POSITIONS[rtype][k] - 1] = v
    return ",".join(f'"{f}"' if "," in f else f for f in fields)


def test_ribbon_header_trailer_and_start_folding() -> None:
    res = parse_file(RIBBON)
    # 6 lines: header, START (folded into its STOP), STOP, 2 ATTEMPTs, trailer.
    assert res.legs.column("source_record").to_pylist() == [3, 4, 5]
    assert res.rejects.num_rows == 0


def test_ribbon_start_without_stop_longer_release_and_other_records(tmp_path: Path) -> None:
    start = _ribbon_record(
        "START", 178, gateway="SBC1", accounting_id="0x00000001A0B1C2E0",
        node_tz="GMT-05:00-Eastern", start_date="07/04/2026", start_clock="09:00:00.5",
        setup_to_service_ticks="250", ingress_tg="PEER_X", incoming_calling_number="2025550123",
        dialed_number="3125550100", ingress_remote_ip="192.0.2.9",
        ingress_pvsd="SIP,call-x@192.0.2.9,<sip:3125550100@203.0.113.5>",
    )
    # A newer release appends fields to ATTEMPT: still read by position.
    attempt = _ribbon_record(
        "ATTEMPT", 300, gateway="SBC1", accounting_id="0x00000001A0B1C2E1",
        node_tz="GMT-05:00-Eastern", start_date="07/04/2026", start_clock="09:01:00.0",
        disconnect_date="07/04/2026", disconnect_clock="09:01:03.0", disconnect_reason="31",
        ingress_tg="PEER_X", incoming_calling_number="2025550124", dialed_number="3125550100",
    )
    text = "\n".join([
        "HEADER-LINE", start, attempt, "INTERMEDIATE,SBC1,0x00000001A0B1C2E0,1",
        "ATTEMPT,SBC1,0x1,cut", "File administratively closed.",
    ])
    f = tmp_path / "2000001.ACT"
    f.write_text(text + "\n")
    res = parse_file(f)
    legs = res.legs.to_pylist()
    assert [r["source_record"] for r in legs] == [2, 3]
    first = legs[0]
    # START of a call still up: a leg with no end; July is daylight time in New York.
    assert first["start_utc"] == datetime(2026, 7, 4, 13, 0, 0, 500000, tzinfo=UTC)
    assert first["answer_utc"] == datetime(2026, 7, 4, 13, 0, 3, tzinfo=UTC)
    assert first["end_utc"] is None
    assert first["call_id"] == "call-x@192.0.2.9"
    assert legs[1]["disposition"] == "cancelled" and legs[1]["ingress_trunk"] == "PEER_X"
    rejects = {r["source_record"]: r["reason"] for r in res.rejects.to_pylist()}
    assert "INTERMEDIATE" in rejects[4]
    assert "needs at least" in rejects[5]
    assert res.legs.num_rows + res.rejects.num_rows == 4  # every record is a leg or a reject


def test_ribbon_node_zones() -> None:
    assert node_zone("GMT-05:00-Eastern") == "America/New_York"
    assert node_zone("gmtMinus06-Central-US") == "America/Chicago"
    assert node_zone("GMT+02:00") == "Etc/GMT-2"
    assert node_zone("Europe/Berlin") == "Europe/Berlin"
    assert node_zone("GMT") == "UTC"
    assert node_zone("Somewhere odd") is None


def test_ribbon_unknown_zone_needs_tz(tmp_path: Path) -> None:
    f = tmp_path / "x.ACT"
    f.write_text(RIBBON.read_text().replace("GMT-05:00-Eastern", "LOCAL"))
    with pytest.raises(ZoneError):
        parse_file(f)
    res = parse_file(f, None, "America/New_York")
    assert res.legs.column("start_utc").to_pylist()[0].hour == 19


# --- Oracle / Acme -----------------------------------------------------------------------

ACME = FIXTURES / "acme_sbc_cdr" / "cdr20260307.csv"


def test_acme_times_and_zone_abbreviations() -> None:
    assert h323_time("15:54:56.868 PST DEC 18 2017") == ("2017-12-18 15:54:56.868000", "PST")
    assert h323_time(".09:00:01.5 EDT Mon Jul 06 2026") == ("2026-07-06 09:00:01.500000", "EDT")
    # "*": the SBC's clock was not authoritative (Cisco's mark): the time is still the time.
    assert h323_time("*09:00:01.5 EDT Mon Jul 06 2026") == ("2026-07-06 09:00:01.500000", "EDT")
    assert h323_time("garbage") == ("garbage", None)


def test_acme_pst_is_utc_minus_8_and_unknown_abbreviation_rejects(tmp_path: Path) -> None:
    f = tmp_path / "cdr.csv"
    f.write_text(ACME.read_text().replace(" EST ", " PST "))
    assert parse_file(f).legs.column("start_utc").to_pylist()[0].hour == 22
    g = tmp_path / "cdr2.csv"
    g.write_text(ACME.read_text().replace(" EST ", " XYZ ").replace("America/New_York", ""))
    # Each record is rejected naming the value and the fix (tests/test_acme_zones.py), not the
    # whole file with a ZoneError: a malformed record never stops an ingest (DESIGN §7).
    res = parse_file(g)
    assert res.legs.num_rows == 0
    assert all("'XYZ'" in r and "--tz" in r for r in res.rejects.column("reason").to_pylist())


def test_acme_mixed_175_and_269_columns_and_unknown_width(tmp_path: Path) -> None:
    lines = ACME.read_text().splitlines()
    assert {len(ln.split(",")) for ln in lines[3:]} >= {175, 269}
    f = tmp_path / "cdr.csv"
    f.write_text("\n".join([*lines, "2," + ",".join(["x"] * 199)]) + "\n")
    res = parse_file(f)
    assert res.legs.num_rows == 3
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "200 fields" in reason and "Stop 175" in reason



def test_acme_wider_release_row_is_rejected_with_the_way_to_its_layout(tmp_path: Path) -> None:
    """An S-Cz9.x Stop row (STIR attributes appended past the C6.4 columns) has no known layout:
    it is kept as a reject that names its field count and the SBC command that prints the
    layout, and no STIR column is filled from a guessed position."""
    lines = ACME.read_text().splitlines()
    wide = lines[2] + "," + ",".join(["1", "", "1", "", "TN-Validation-Passed", "", "A"]) + ","
    f = tmp_path / "cdr.csv"
    f.write_text("\n".join([*lines, wide.replace("0001@", "0009@")]) + "\n")
    res = parse_file(f)
    assert res.legs.num_rows == 3
    (reason,) = res.rejects.column("reason").to_pylist()
    assert f"{len(wide.split(','))} fields" in reason and "dump_csv_format" in reason
    for col in ("attest", "verstat", "stir_verified"):
        assert res.legs.column(col).null_count == res.legs.num_rows

# --- BroadWorks --------------------------------------------------------------------------

BW = FIXTURES / "broadworks_cdr" / "BW-CDR-20260307140000-2-000001.csv"


def test_broadworks_user_time_zone() -> None:
    assert user_zone("0-050000") == "Etc/GMT+5"
    assert user_zone("1+020000") == "Etc/GMT-2"
    assert user_zone("America/Chicago") == "America/Chicago"
    assert user_zone("0+053000") is None  # no fixed whole-hour zone: --tz decides


def test_broadworks_skips_other_types_and_short_rows(tmp_path: Path) -> None:
    lines = BW.read_text().splitlines()
    other = lines[1].replace(",Normal,", ",LongDuration,")
    f = tmp_path / "bw.csv"
    f.write_text("\n".join([*lines, other, "1,2,Normal,3"]) + "\n")
    res = parse_file(f)
    assert res.legs.num_rows == 3
    reasons = res.rejects.column("reason").to_pylist()
    assert "only Normal records" in reasons[0]
    assert "at least 336 fields" in reasons[1]


# --- Kamailio / OpenSIPS -----------------------------------------------------------------


def test_acc_values_with_unescaped_semicolons() -> None:
    body = ("method=INVITE;from_tag=a;to_tag=b;call_id=x@y;code=200;reason=OK;"
            "to=<sip:+15551234567@sip.example;user=phone>;tag=j90H;calling=2025550111;"
            "src_ip=1.0.0.127")
    f = split_acc(body)
    assert f["to"] == "<sip:+15551234567@sip.example;user=phone>;tag=j90H"
    assert f["calling"] == "2025550111"  # an extra the split does not know is still a key
    assert f["src_ip"] == "1.0.0.127" and f["reason"] == "OK"


def _kamailio_line(ts: int, extra: str, method: str = "INVITE", code: str = "200") -> str:
    return (f"Mar  7 14:03:27 p kamailio[1]: ACC: transaction answered: timestamp={ts};{extra}"
            f"method={method};from_tag=f;to_tag=t;call_id=c1@h;code={code};reason=OK;"
            "src_user=2025550111;src_domain=d;src_ip=198.51.100.7;dst_ouser=3125550100;"
            "dst_user=3125550100;dst_domain=d2")


@pytest.mark.parametrize(
    ("extra", "micros"),
    [
        ("", 0),  # time_mode 0
        ("time_exten=250000;", 250000),  # time_mode 1
        ("time_attr=1772910207.125;", 125000),  # time_mode 2
        ("time_attr=2026-03-07 14:03:27;", 0),  # time_mode 3 (local): timestamp is used
        ("time_attr=2026-03-07 19:03:27;", 0),  # time_mode 4 (UTC)
    ],
)
def test_every_time_mode(tmp_path: Path, extra: str, micros: int) -> None:
    f = tmp_path / "acc.log"
    f.write_text(_kamailio_line(1772910207, extra) + "\n")
    (row,) = parse_file(f, "kamailio_acc_syslog").legs.to_pylist()
    assert row["start_utc"] == datetime(2026, 3, 7, 19, 3, 27, micros, tzinfo=UTC)


def test_bye_pairs_by_call_id_and_tags_and_orphans_are_rejected(tmp_path: Path) -> None:
    invite = _kamailio_line(1772910207, "")
    reinvite = _kamailio_line(1772910230, "")
    bye = _kamailio_line(1772910267, "", method="BYE").replace("from_tag=f;to_tag=t",
                                                               "from_tag=t;to_tag=f")
    orphan = _kamailio_line(1772910300, "", method="BYE").replace("call_id=c1@h", "call_id=z@h")
    f = tmp_path / "acc.log"
    f.write_text("\n".join([invite, reinvite, bye, orphan, "not an acc line"]) + "\n")
    res = parse_file(f, "kamailio_acc_syslog")
    (leg,) = res.legs.to_pylist()
    assert leg["end_utc"] == datetime(2026, 3, 7, 19, 4, 27, tzinfo=UTC)
    assert leg["billsec_s"] == 60.0
    reasons = res.rejects.column("reason").to_pylist()
    assert len(reasons) == 2
    assert "whose INVITE is not in this file" in reasons[0]
    assert "no 'ACC: <event>: '" in reasons[1]


def test_db_export_needs_tz() -> None:
    with pytest.raises(ZoneError):
        parse_file(FIXTURES / "kamailio_acc_db" / "acc.csv")


# --- CGRateS and the named transforms ----------------------------------------------------


def test_cgrates_stamps() -> None:
    assert parse_stamp("2013-11-07 08:42:25 +0000 UTC") == ("2013-11-07 08:42:25.000000", True)
    assert parse_stamp("2013-11-07 03:42:25.5 -0500 EST m=+0.01") == (
        "2013-11-07 08:42:25.500000", True)
    assert parse_stamp("2013-11-07T08:42:25Z") == ("2013-11-07 08:42:25.000000", True)
    assert parse_stamp("2013-11-07 08:42:25") == ("2013-11-07 08:42:25.000000", False)
    assert parse_stamp("0001-01-01 00:00:00 +0000 UTC") == (None, False)


def test_cgrates_zone_less_stamps_need_tz(tmp_path: Path) -> None:
    src = (FIXTURES / "cgrates_cdr_csv" / "cdre_rfc3339.csv").read_text()
    f = tmp_path / "cdre.csv"
    f.write_text(src.replace("T19:03:22Z", " 14:03:22").replace("-05:00", "")
                 .replace("T19:05:00Z", " 14:05:00").replace("T19:07:10Z", " 14:07:10"))
    with pytest.raises(ZoneError):
        parse_file(f)
    starts = parse_file(f, None, "America/New_York").legs.column("start_utc").to_pylist()
    assert [t.hour for t in starts] == [19, 19, 19]


def _apply(name: str, values: list[str | None]) -> list[Any]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(
        TRANSFORMS[name](pl.col("v"))).to_series().to_list()


def test_transforms() -> None:
    assert _apply("go_duration", ["10s", "1m30s", "1h2m3.5s", "250ms", "42", "-5s", "x"]) == [
        "10.0", "90.0", "3723.5", "0.25", "42.0", "-5.0", None]
    assert _apply("ticks_10ms", ["6500", ""]) == ["65.0", None]
    assert _apply("cucm_ip", ["-1006518518", "10.1.2.3", "0", None]) == [
        "10.191.1.196", "10.1.2.3", None, None]
    assert _apply("host_of", ["198.51.100.7:5060", "[2001:db8::1]:5060", "sip:10.0.0.1"]) == [
        "198.51.100.7", "2001:db8::1", "10.0.0.1"]


def test_carrier_fixtures_ingest_into_one_store(tmp_path: Path) -> None:
    """A directory of carrier exports ingests in one run; counts add up."""
    paths = [RIBBON, ACME, BW, FIXTURES / "opensips_acc_syslog" / "acc_transactions.log",
             FIXTURES / "kamailio_acc_syslog" / "acc_time_mode0.log"]
    s = ingest_paths(paths, tmp_path / "store")
    assert s.read == s.stored + s.rejected + s.duplicates
    assert s.stored == 15 and s.rejected == 1
    assert {f.format for f in s.per_file} == {
        "ribbon_sbc_act", "acme_sbc_cdr", "broadworks_cdr", "opensips_acc_syslog",
        "kamailio_acc_syslog"}


def test_genband_short_record_is_rejected_with_its_length(tmp_path: Path) -> None:
    src = FIXTURES / "genband_g6_cdr" / "g6_20260307.cdr"
    lines = src.read_text().splitlines()
    f = tmp_path / "g6.cdr"
    f.write_text("\n".join([*lines, lines[0][:400]]) + "\n")
    res = parse_file(f, "genband_g6_cdr", "America/New_York")
    assert res.legs.num_rows == 3
    (reason,) = res.rejects.column("reason").to_pylist()
    assert "at least 404 characters" in reason and "found 400" in reason


REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "cdr"
#: The format each real-world folder's files are written in (layout maps are not records).
REAL_FORMATS = {
    "asterisk_cdr_csv": {"asterisk_cdr_csv"},
    "asterisk_cdr_custom": {"asterisk_cdr_custom"},
    "asterisk_db_export": {"freepbx_cdr_dump", "freepbx_cdr_report", "freepbx_cdr_short",
                           "pbxware_cdr"},
    "grandstream_ucm_cdr": {"grandstream_ucm_cdr"},
    "freeswitch_cdr_csv": {"freeswitch_cdr_csv"},
    "freeswitch_json_cdr": {"freeswitch_json_cdr"},
    "cisco_cucm_cdr": {"cisco_cucm_cdr", "cisco_cucm_cdr_headerless"},
    "cisco_cucm_cmr": {"cisco_cucm_cmr"},
}


@pytest.mark.realworld
@pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"real-world samples not at {REALWORLD}")
def test_detection_of_every_real_world_file() -> None:
    """With the carrier profiles added, every real file is still detected as its own format
    (and the CUCM ones as CUCM, the CMR as the refused CMR format)."""
    seen = 0
    for folder, formats in REAL_FORMATS.items():
        for f in sorted((REALWORLD / folder).glob("*")):
            if f.is_file():
                assert detect_format(f) in formats, f
                seen += 1
    assert seen >= 20
