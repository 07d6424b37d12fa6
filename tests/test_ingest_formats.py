"""Format tests: each fixture in fixtures/cdr goes in, the expected normalised rows come out.

The same three calls are written in every format (fixtures/cdr/calls.expected.json); each
fixture's ``<file>.expected.json`` adds what only that format carries (line numbers, trunk,
zone used), and may hold more records than the three (its ``shared`` list says which is
which). Detection must name the right format without --format.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tracehop.ingest.detect import detect_format
from tracehop.ingest.run import parse_file
from tracehop.schema import LEG_SCHEMA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
SHARED = json.loads((FIXTURES / "calls.expected.json").read_text())["rows"]
CASES = sorted(p for p in FIXTURES.glob("*/*.expected.json"))


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return v


@pytest.mark.parametrize("expected_file", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_normalises_to_the_shared_calls(expected_file: Path) -> None:
    spec = json.loads(expected_file.read_text())
    data = expected_file.with_name(expected_file.name.removesuffix(".expected.json"))
    profile = str(expected_file.parent / spec["profile"]) if "profile" in spec else None
    if profile is None:
        assert detect_format(data) == spec["format"]
    res = parse_file(data, profile, spec["tz"], "fixture")
    assert res.format == spec["format"]
    assert res.rejects.num_rows == 0, res.rejects.to_pylist()
    assert res.legs.schema.equals(LEG_SCHEMA)
    rows = res.legs.to_pylist()
    # "shared" (optional): for each record in file order, the shared call it is, or null for a
    # record only this fixture has (a B-leg, a ring-all leg): its expected row is then whole.
    # A format that writes more legs than the three calls, or newest first, says so with it.
    order = spec.get("shared", list(range(len(SHARED))))
    assert sorted(i for i in order if i is not None) == list(range(len(SHARED)))
    assert len(rows) == len(order)
    for got, idx, extra in zip(rows, order, spec["rows"], strict=True):
        want = {**(SHARED[idx] if idx is not None else {}), **extra}
        assert {k: _plain(got[k]) for k in want} == want
        assert got["source"] == "fixture"
        assert got["format"] == spec["format"]
        assert got["source_file"] == str(data)
        assert got["leg_id"].endswith(f":{got['source_record']}")
        assert got["raw_record"]  # the evidence is kept


def test_leg_id_is_stable_and_content_based(tmp_path: Path) -> None:
    src = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(src.read_bytes())
    a = parse_file(src).legs.column("leg_id").to_pylist()
    b = parse_file(copy).legs.column("leg_id").to_pylist()
    assert a == b
    assert len(set(a)) == 3


def test_raw_record_is_the_line_as_written() -> None:
    src = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
    res = parse_file(src)
    lines = src.read_text().splitlines()
    assert res.legs.column("raw_record").to_pylist() == lines


def test_no_keep_raw_drops_the_text() -> None:
    res = parse_file(FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv", keep_raw=False)
    assert res.legs.column("raw_record").null_count == 3


def test_tz_given_overrides_inference_and_warns_on_disagreement() -> None:
    src = FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv"
    same = parse_file(src, None, "America/New_York")
    assert same.warnings == []
    assert same.legs.column("source_tz").to_pylist() == ["America/New_York"] * 3
    other = parse_file(src, None, "America/Chicago")
    assert len(other.warnings) == 1
    w = other.warnings[0]
    assert str(src) in w and "UTC-06:00" in w and "UTC-05:00" in w
    # --tz wins: Chicago is one hour behind New York, so UTC is one hour later.
    start = other.legs.column("start_utc").to_pylist()[0]
    assert start.strftime("%H:%M:%S") == "20:03:22"


def test_repeated_dst_hour_is_flagged_ambiguous(tmp_path: Path) -> None:
    # 2026-11-01 01:30 happens twice in New York; the first (EDT, 05:30Z) is taken. The
    # record's uniqueid (05:00Z) names neither pass (its channel was made before the call):
    # the rule and the flag stand.
    line = (
        '"","2025550111","3125550100","from-trunk","""X"" <2025550111>","SIP/acme-0001",'
        '"","Dial","","2026-11-01 01:30:00",,"2026-11-01 01:30:05",5,0,"NO ANSWER",'
        '"DOCUMENTATION","1793509200.1",""\n'
        '"","2025550111","3125550100","from-trunk","""X"" <2025550111>","SIP/acme-0002",'
        '"","Dial","","2026-11-01 03:30:00",,"2026-11-01 03:30:05",5,0,"NO ANSWER",'
        '"DOCUMENTATION","1793521800.1",""\n'
    )
    f = tmp_path / "Master.csv"
    f.write_text(line)
    res = parse_file(f, "asterisk_cdr_csv", "America/New_York")
    assert res.legs.column("time_ambiguous").to_pylist() == [True, False]
    first = res.legs.column("start_utc").to_pylist()[0]
    assert first.strftime("%Y-%m-%dT%H:%M") == "2026-11-01T05:30"


def test_inferred_offset_follows_dst_per_day(tmp_path: Path) -> None:
    # Written in New York local time on both sides of the spring change (8 March 2026).
    rows = []
    for local, epoch in (("2026-03-07 12:00:00", 1772902800), ("2026-03-09 12:00:00", 1773072000)):
        rows.append(
            f'"","2025550111","3125550100","from-trunk","","SIP/acme-0001","","Dial","",'
            f'"{local}","{local}","{local}",0,0,"ANSWERED","DOCUMENTATION","{epoch}.1",""'
        )
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.legs.column("source_tz").to_pylist() == [
        "UTC-05:00 (inferred from uniqueid)",
        "UTC-04:00 (inferred from uniqueid)",
    ]
    assert [t.hour for t in res.legs.column("start_utc").to_pylist()] == [17, 16]


def test_multiline_quoted_record_keeps_physical_line_numbers(tmp_path: Path) -> None:
    src = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()
    # lastdata of the second record spans two lines; a blank line follows it.
    second = src[1].replace('"SIP/200,60,tT"', '"SIP/200,60,\ntT"')
    f = tmp_path / "Master.csv"
    f.write_text("\n".join([src[0], second, "", src[2]]) + "\n")
    res = parse_file(f, "asterisk_cdr_csv")
    assert res.rejects.num_rows == 0
    assert res.legs.column("source_record").to_pylist() == [1, 2, 5]
    assert "\n" in res.legs.column("raw_record").to_pylist()[1]


def test_epoch_zero_means_never_in_json(tmp_path: Path) -> None:
    res = parse_file(FIXTURES / "freeswitch_json_cdr" / "cdr.ndjson")
    assert res.legs.column("answer_utc").to_pylist()[1] is None


def test_json_array_and_pretty_printed_documents(tmp_path: Path) -> None:
    docs = [json.loads(ln) for ln in (FIXTURES / "freeswitch_json_cdr" / "cdr.ndjson").open()]
    f = tmp_path / "all.json"
    f.write_text(json.dumps(docs, indent=2))
    res = parse_file(f)
    assert res.format == "freeswitch_json_cdr"
    assert res.legs.num_rows == 3
    assert res.legs.column("source_record").to_pylist()[0] == 2  # "[" is line 1


def test_inferred_offset_sampling_keeps_rare_dates(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The mode is taken on a sample of each batch; a date the sample misses (one record on the
    # far side of a DST change) is counted from its own rows, not given the batch's offset.
    from tracehop.ingest import apply

    monkeypatch.setattr(apply, "INFER_SAMPLE", 2)
    rows = []
    for k in range(7):
        local, epoch = f"2026-03-07 12:0{k}:00", 1772902800 + 60 * k
        rows.append(f'"","2025550111","3125550100","from-trunk","","SIP/acme-0001","","Dial",'
                    f'"","{local}","{local}","{local}",0,0,"ANSWERED","DOCUMENTATION",'
                    f'"{epoch}.{k}",""')
    rows.append('"","2025550111","3125550100","from-trunk","","SIP/acme-0001","","Dial","",'
                '"2026-03-09 12:00:00","2026-03-09 12:00:00","2026-03-09 12:00:00",0,0,'
                '"ANSWERED","DOCUMENTATION","1773072000.9",""')
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    tz = parse_file(f, "asterisk_cdr_csv").legs.column("source_tz").to_pylist()
    assert tz == ["UTC-05:00 (inferred from uniqueid)"] * 7 + ["UTC-04:00 (inferred from uniqueid)"]


def _asterisk_row(local: str, uniqueid: str) -> str:
    return (f'"","2025550111","3125550100","from-trunk","","SIP/acme-0001","","Dial","",'
            f'"{local}","{local}","{local}",0,0,"ANSWERED","DOCUMENTATION","{uniqueid}",""')


def test_inferred_offset_without_any_usable_uniqueid_names_the_column(tmp_path: Path) -> None:
    # A uniqueid that is no epoch (a system name only) gives nothing to infer from: the error
    # says so and how to fix it, rather than guessing UTC.
    from tracehop.errors import ZoneError

    f = tmp_path / "Master.csv"
    f.write_text("\n".join(_asterisk_row("2026-03-07 12:00:00", f"pbx-{k}") for k in range(3)))
    with pytest.raises(ZoneError) as e:
        parse_file(f, "asterisk_cdr_csv")
    assert "cannot be inferred from column 'uniqueid'" in str(e.value)
    assert "--tz" in str(e.value)


def test_date_without_usable_uniqueid_takes_the_batch_offset(tmp_path: Path) -> None:
    # Two dates: one with epochs saying UTC-05:00, one whose uniqueids are not epochs. Every
    # record gets -05:00, the second date by falling back to the batch's most common offset.
    rows = [_asterisk_row(f"2026-03-07 12:0{k}:00", f"{1772902800 + 60 * k}.{k}")
            for k in range(3)]
    rows.append(_asterisk_row("2026-03-08 09:00:00", "pbx-7"))
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    legs = parse_file(f, "asterisk_cdr_csv").legs
    assert set(legs.column("source_tz").to_pylist()) == {"UTC-05:00 (inferred from uniqueid)"}
    assert [t.hour for t in legs.column("start_utc").to_pylist()] == [17, 17, 17, 14]


def test_tz_that_disagrees_with_uniqueid_is_used_with_a_warning(tmp_path: Path) -> None:
    rows = [_asterisk_row(f"2026-03-07 12:0{k}:00", f"{1772902800 + 60 * k}.{k}")
            for k in range(3)]
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    res = parse_file(f, "asterisk_cdr_csv", tz="UTC")
    assert set(res.legs.column("source_tz").to_pylist()) == {"UTC"}
    assert any("uniqueid says the switch wrote UTC-05:00" in w for w in res.warnings)
