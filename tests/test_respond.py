"""`tracehop respond` as a library: inquiry files, per-row errors, answers in order, the
campaign summary, evidence packs, audit entries, deadlines and the RMD flag."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tracehop.errors import UnreadableFileError
from tracehop.match import Matcher
from tracehop.peers import PeerDirectory
from tracehop.respond.audit import AuditLog, verify
from tracehop.respond.batch import RespondOptions, respond
from tracehop.respond.deadline import Clock
from tracehop.respond.evidence import decode_passport, verify_pack
from tracehop.respond.inquiries import read_inquiries
from tracehop.respond.rmd import load_rmd
from tracehop.schema import LEG_SCHEMA, conform, empty_rejects
from tracehop.store import FileRecord, Store

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"


def b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


#: An RFC 8224 Identity header as a SHAKEN signer sends it (signature bytes are made up).
IDENTITY = (
    b64({"alg": "ES256", "ppt": "shaken", "typ": "passport",
         "x5u": "https://cert.acme.example/sti.pem"})
    + "."
    + b64({"attest": "A", "dest": {"tn": ["13125550100"]}, "iat": 1795183400,
           "orig": {"tn": "12025550111"}, "origid": "123e4567-e89b-12d3-a456-426614174000"})
    + ".c2lnbmF0dXJl;info=<https://cert.acme.example/sti.pem>;alg=ES256;ppt=shaken"
)


def leg(leg_id: str, called: str, start: str, trunk: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "leg_id": leg_id,
        "source": "sbc1",
        "format": "test_cdr",
        "source_file": "cdr-2026-11-20.csv",
        "source_record": int(leg_id.strip("L")) + 1,
        "start_utc": datetime.fromisoformat(start.replace("Z", "+00:00")),
        "called_e164": called,
        "called_raw": called.lstrip("+"),
        "direction": "inbound",
        "ingress_trunk": trunk,
        "disposition": "answered",
        "duration_s": 31.0,
    }
    row.update(kw)
    row.setdefault("raw_record", f'"{row["called_raw"]}","{start}","{trunk}",31,ANSWERED')
    return row


LEGS = [
    leg("L1", "+13125550100", "2026-11-20T14:03:10Z", "ACME_IN_1", calling_e164="+12025550111",
        calling_raw="12025550111", identity_raw=IDENTITY, attest="A",
        origid="123e4567-e89b-12d3-a456-426614174000", call_id="a84b4c76e66710@pc33"),
    leg("L2", "+13125550101", "2026-11-20T14:10:02Z", "SHADY-7", calling_e164="+12025550112"),
    leg("L3", "+13125550102", "2026-11-20T16:30:00Z", "LOCAL", account="ACC42"),
]


def make_store(path: Path, rows: list[dict[str, Any]]) -> Store:
    store = Store.open(path, create=True)
    table = conform(pa.Table.from_pylist(rows, schema=LEG_SCHEMA))
    store.commit(table, empty_rejects(),
                 [FileRecord(file_id=hashlib.sha256(str(path).encode()).hexdigest(),
                             path="cdr.csv", size=1, rows_read=len(rows))])
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make_store(tmp_path_factory.mktemp("respond") / "store", LEGS)


@pytest.fixture(scope="module")
def peers() -> PeerDirectory:
    return PeerDirectory.load(FIX / "peers.toml")


SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "tracehop" / "schemas"
                     / "traceback_answer.schema.json").read_text())


def assert_schema_valid(answers: list[dict[str, Any]]) -> None:
    """Every line respond writes, rejected rows included, is valid against the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    for a in answers:
        errors = [e.message for e in validator.iter_errors(json.loads(json.dumps(a)))]
        assert errors == [], (a, errors)


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)


# -- reading inquiry files ---------------------------------------------------------------------


def test_bad_rows_are_each_answered_with_a_reason_and_the_batch_goes_on(
        store: Store, peers: PeerDirectory) -> None:
    f = read_inquiries(FIX / "inquiries_bad.csv")
    res = respond(f, Matcher(store, peers), RespondOptions(now=lambda: _at("2026-11-20T15:00Z")))
    a = res.answers
    assert len(a) == 5  # one answer per record, in order
    assert [x["inquiry"].get("id") for x in a] == ["OK-1", "BAD-TIME", "BAD-NUMBER", "SHORT",
                                                   "OK-2"]
    assert a[0]["status"] == "upstream" and a[0]["upstream"]["provider"] == "Acme Transit"
    assert a[4]["status"] == "upstream" and a[4]["upstream"]["provider"] == "Shady Routes"
    bad_time, bad_number, short = a[1], a[2], a[3]
    assert bad_time["error"]["line"] == 3 and bad_time["error"]["field"] == "time"
    assert "'yesterday afternoon' is not a date-time tracehop reads" in bad_time["error"]["reason"]
    assert bad_number["error"]["field"] == "called"
    assert "'not-a-number' is not a valid phone number" in bad_number["error"]["reason"]
    assert short["error"]["field"] == "time"
    assert "missing column 'time'" in short["error"]["reason"]
    for r in (bad_time, bad_number, short):
        assert r["status"] == "not_found" and r["match"] is None and r["searched"] is None
        assert r["warnings"][0].startswith(f"rejected: line {r['error']['line']}: ")
        assert r["error"]["file"].endswith("inquiries_bad.csv")
    assert res.summary.rejected == 3 and res.summary.found == 2
    assert sum(res.summary.by_status.values()) == 5
    assert_schema_valid(a)


def test_a_header_without_a_required_column_answers_every_row_with_the_reason() -> None:
    f = read_inquiries(FIX / "no_time_column.csv")
    assert [r.line for r in f.rows] == [2, 3]
    assert all(r.error is not None and r.error.field == "time" for r in f.rows)
    assert "header (called,calling,notes) has no time column" in (f.rows[0].error.reason
                                                                  if f.rows[0].error else "")


def test_json_lines_with_a_missing_key_and_a_broken_line() -> None:
    f = read_inquiries(FIX / "inquiries.jsonl")
    assert f.format == "jsonl"
    ok, windowed, no_called, broken = f.rows
    assert ok.inquiry is not None and ok.inquiry.calling_e164 == "+12025550111"
    assert windowed.inquiry is not None and windowed.inquiry.window_s == 60.0
    assert windowed.inquiry.extra == {"campaign": "auto-warranty"}
    assert no_called.error is not None and no_called.error.reason == "missing key 'called'"
    assert broken.error is not None and "not valid JSON" in broken.error.reason
    assert broken.line == 4


def test_a_json_line_with_a_lone_surrogate_is_a_bad_row_not_a_crash(tmp_path: Path) -> None:
    """`"\\ud800"` parses but cannot be written as UTF-8 (answers, audit log): it used to
    abort the whole batch with a traceback in the audit write."""
    p = tmp_path / "s.jsonl"
    ask = '{"called": "+13125550100", "time": "2026-11-20T14:03:22Z", "id": "%s"}\n'
    p.write_text(ask % "\\ud800" + ask % "\\ud83d\\ude00")
    bad, good = read_inquiries(p).rows
    assert bad.error is not None and "surrogate" in bad.error.reason and bad.line == 1
    assert good.inquiry is not None and good.inquiry.id == "\U0001F600"


def test_a_json_line_holding_a_line_separator_is_one_inquiry(tmp_path: Path) -> None:
    """U+2028 / U+0085 are legal unescaped in a JSON string (JSON.stringify and
    json.dumps(ensure_ascii=False) write them so): they must not split a record, which gave
    two rejected rows for one inquiry and shifted every later answer's line."""
    p = tmp_path / "ls.jsonl"
    p.write_text('{"called": "+13125550100", "time": "2026-11-20T14:03:22Z", '
                 '"note": "a\u2028b\x85c"}\r\n'
                 '{"called": "+13125550101", "time": "2026-11-20T14:10:00Z"}\n',
                 encoding="utf-8", newline="")
    first, second = read_inquiries(p).rows
    assert first.inquiry is not None and first.inquiry.extra == {"note": "a\u2028b\x85c"}
    assert second.inquiry is not None and second.line == 2


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_csv_with_another_delimiter_is_read(tmp_path: Path, sep: str) -> None:
    """Excel in most European locales saves "CSV" with semicolons; the delimiter is the one
    that makes the header name the inquiry columns (a comma inside a value stays a value)."""
    p = tmp_path / "semi.csv"
    p.write_text(sep.join(["Called Number", "Calling Number", "Time", "Note"]) + "\n"
                 + sep.join(["(312) 555-0100", "", "2026-11-20T14:03:22Z", "a, b"]) + "\n")
    (row,) = read_inquiries(p).rows
    assert row.inquiry is not None, row.error
    assert row.inquiry.called_e164 == "+13125550100" and row.inquiry.extra == {"Note": "a, b"}


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "blank.csv"
    p.write_text("\n \n\ncalled,time\n\n+13125550100,2026-11-20T14:03:22Z\n")
    (row,) = read_inquiries(p).rows
    assert row.inquiry is not None and row.line == 6


def test_a_json_array_or_one_pretty_printed_object_is_read_as_inquiries(
        tmp_path: Path) -> None:
    """A .json file holding a JSON array (what the HTTP API takes, and what most tools
    write) used to be read line by line: every line a rejected row, as many answers as
    lines instead of one per inquiry. Each element is now an inquiry, numbered by the line
    it starts on; a broken array is one clear error rather than a rejected row per line."""
    p = tmp_path / "batch.json"
    p.write_text('[\n  {"called": "+13125550100",\n   "time": "2026-11-20T14:03:22Z"},\n'
                 '  {"called": "+13125550101", "time": "yesterday"},\n  42\n]\n')
    a, b, c = read_inquiries(p).rows
    assert a.inquiry is not None and a.line == 2
    assert b.error is not None and b.error.field == "time" and b.line == 4
    assert c.error is not None and "not a JSON object" in c.error.reason and c.line == 5
    one = tmp_path / "one.json"
    one.write_text('{\n  "called": "+13125550100",\n  "time": "2026-11-20T14:03:22Z"\n}\n')
    (row,) = read_inquiries(one).rows
    assert row.inquiry is not None and row.line == 1
    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"called": "+13125550100", "time": "2026-11-20T14:03:22Z"}\n'
                      ' {"called": "+13125550101"}\n]\n')
    with pytest.raises(UnreadableFileError, match="not a valid JSON array") as e:
        read_inquiries(broken)
    assert e.value.line == 3


def test_an_empty_json_lines_file_is_no_inquiries(tmp_path: Path) -> None:
    """Zero lines is a valid JSON-lines file: an automated feed with no inquiries today gets
    no answers, not an error exit. (An empty CSV still lacks its header: an error.)"""
    p = tmp_path / "none.jsonl"
    p.write_text("")
    f = read_inquiries(p)
    assert f.format == "jsonl" and f.rows == []
    (tmp_path / "none.csv").write_text("\n")
    with pytest.raises(UnreadableFileError, match="empty"):
        read_inquiries(tmp_path / "none.csv")


def test_two_columns_for_one_key_take_the_first_value_given(tmp_path: Path) -> None:
    """Exports often carry both "Called Number" and "DNIS" (or "To"): the later, empty one
    used to replace the value, and the row was refused as having no called number."""
    p = tmp_path / "two.csv"
    p.write_text("Called Number,Time,DNIS\n"
                 "(312) 555-0100,2026-11-20T14:03:22Z,\n"
                 ",2026-11-20T14:03:22Z,3125550101\n")
    a, b = read_inquiries(p).rows
    assert a.inquiry is not None and a.inquiry.called_e164 == "+13125550100"
    assert b.inquiry is not None and b.inquiry.called_e164 == "+13125550101"


def test_trailing_empty_fields_of_a_spreadsheet_export_are_ignored(tmp_path: Path) -> None:
    """Spreadsheets write a trailing comma per cleared cell ("a,b,c,,"): an empty field past
    the header cannot be half of a split value, so the row is read, not refused; an
    unnamed empty column is not echoed back as a "" key."""
    p = tmp_path / "trail.csv"
    p.write_text("called,calling,time,\n"
                 "+13125550100,,2026-11-20T14:03:22Z,,\n"
                 "+13125550100,,2026-11-20T14:03:22Z, ,\n"
                 "+13125550100,,2026-11-20T14:03:22Z,,x\n")
    a, b, c = read_inquiries(p).rows
    assert a.inquiry is not None and b.inquiry is not None and a.inquiry.extra == {}
    assert c.error is not None and "5 fields" in c.error.reason


def test_quoted_fields_and_a_bom_are_read(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_bytes('\ufeffcalled,calling,time,note\n"(312) 555-0100","",'
                  '2026-11-20T14:03:22Z,"spoofed, twice\nthat day"\n'.encode())
    (row,) = read_inquiries(p).rows
    assert row.inquiry is not None and row.inquiry.called_e164 == "+13125550100"
    assert row.inquiry.extra == {"note": "spoofed, twice\nthat day"}


def test_a_windows_1252_csv_from_excel_is_read_and_said_to_be(tmp_path: Path) -> None:
    """Excel on Windows saves "CSV" in Windows-1252: the inquiries are answered, the echoed
    text is right, and the rows holding such text say how the file was read."""
    p = tmp_path / "excel.csv"
    p.write_bytes("called,calling,time,note\n"
                  "3125550100,2025550111,2026-11-20T14:03:22Z,caf\u00e9 \u2013 \u201cIRS\u201d\n"
                  "3125550101,2025550111,2026-11-20T14:05:00Z,plain\n".encode("cp1252")
                  + b"3125550102,,2026-11-20T14:06:00Z,\x81odd\n")
    first, second, third = read_inquiries(p).rows
    assert first.inquiry is not None and first.inquiry.called_e164 == "+13125550100"
    assert first.inquiry.extra == {"note": "caf\u00e9 \u2013 \u201cIRS\u201d"}
    assert any("Windows-1252" in w and f"{p}:2" in w for w in first.warnings)
    assert second.inquiry is not None and second.warnings == ()
    assert third.inquiry is not None and third.inquiry.extra == {"note": "\x81odd"}


def test_json_lines_that_are_not_utf8_are_refused_naming_the_line(tmp_path: Path) -> None:
    p = tmp_path / "q.jsonl"
    p.write_bytes(b'{"called": "3125550100", "time": "2026-11-20T14:03:22Z"}\n'
                  b'{"called": "3125550101", "time": "2026-11-20T14:03:22Z", "n": "caf\xe9"}\n')
    with pytest.raises(UnreadableFileError) as e:
        read_inquiries(p)
    assert e.value.line == 2 and "UTF-8" in str(e.value)


def test_headers_as_portals_and_spreadsheets_write_them(tmp_path: Path) -> None:
    """A spreadsheet's own column titles name the keys: case, spaces and punctuation aside."""
    p = tmp_path / "campaign.csv"
    p.write_text("Traceback ID,Called Number,Calling Number,Date/Time (UTC),Notes\n"
                 "TB-1,(312) 555-0100,202-555-0111,11/20/2026 2:03:22 PM,first\n")
    (row,) = read_inquiries(p).rows
    assert row.inquiry is not None, row.error
    q = row.inquiry
    assert (q.id, q.called_e164, q.calling_e164) == ("TB-1", "+13125550100", "+12025550111")
    assert q.time_utc.isoformat() == "2026-11-20T14:03:22+00:00"
    assert q.extra == {"Notes": "first"}


def test_a_date_column_and_a_time_of_day_column_are_one_time(tmp_path: Path) -> None:
    """"Call Date" and "Call Time" apart, as traceback spreadsheets often write them: joined,
    in every date form the time reader takes, with the zone of either column's title; a date
    column alone may hold the whole date-time; a time that is no time of day is refused with
    its own reason, not joined."""
    p = tmp_path / "split.csv"
    p.write_text("Called Number,Calling Number,Call Date,Call Time\n"
                 "3125550100,2025550111,2026-11-20,14:03:22\n"
                 "3125550100,2025550111,11/20/2026,9:03:22 AM America/New_York\n"
                 "3125550100,2025550111,2026-11-20,09:03:22-05:00\n"
                 "3125550100,2025550111,2026-11-20,soon\n")
    a, b, c, bad = read_inquiries(p).rows
    want = datetime(2026, 11, 20, 14, 3, 22, tzinfo=UTC)
    for row in (a, b, c):
        assert row.inquiry is not None, row.error
        assert row.inquiry.time_utc == want
    assert a.inquiry is not None and a.inquiry.naive_time  # no zone anywhere: UTC, and said
    assert b.inquiry is not None and not b.inquiry.naive_time
    assert bad.inquiry is None and bad.error is not None and bad.error.field == "time"
    assert "'soon'" in bad.error.reason
    q = tmp_path / "zoned_date.csv"
    q.write_text("called,Date (America/Chicago),Time\n3125550100,2026-11-20,08:03:22\n")
    (row,) = read_inquiries(q).rows
    assert row.inquiry is not None and row.inquiry.time_utc == want
    only = tmp_path / "date_only.csv"
    only.write_text("called,date\n3125550100,2026-11-20T14:03:22Z\n")
    (row,) = read_inquiries(only).rows
    assert row.inquiry is not None and row.inquiry.time_utc == want
    assert "date" not in row.inquiry.extra


def test_a_zone_in_a_time_columns_title_reads_its_naive_values(tmp_path: Path) -> None:
    """"Date/Time (America/Chicago)": the values without an offset are Central time; one
    with its own offset keeps it. An abbreviation in the title is refused on every row with
    the name to use, not read as UTC hours off."""
    p = tmp_path / "zoned.csv"
    p.write_text("Called,Date/Time (America/Chicago),Received (UTC)\n"
                 "3125550100,11/20/2026 8:03:22 AM,2026-11-20 15:00\n"
                 "3125550100,2026-11-20T14:03:22Z,\n")
    a, b = read_inquiries(p).rows
    assert a.inquiry is not None and b.inquiry is not None
    assert a.inquiry.time_utc == b.inquiry.time_utc == datetime(2026, 11, 20, 14, 3, 22,
                                                                tzinfo=UTC)
    assert not a.inquiry.naive_time and a.received == datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert not a.warnings
    # ... and a record's own zone column (JSON lines too) wins over the title's
    j = tmp_path / "zoned.jsonl"
    j.write_text('{"called": "3125550100", "time": "2026-11-20 08:03:22", '
                 '"tz": "America/Chicago"}\n'
                 '{"called": "3125550100", "time": "2026-11-20 08:03:22", "zone": "CST"}\n')
    c, d = read_inquiries(j).rows
    assert c.inquiry is not None and c.inquiry.time_utc == a.inquiry.time_utc
    assert d.error is not None and d.error.field == "zone" and "America/Chicago" in d.error.reason
    q = tmp_path / "abbr.csv"
    q.write_text("called,Time (ET)\n3125550100,2026-11-20 09:03:22\n")
    (row,) = read_inquiries(q).rows
    assert row.inquiry is None and row.error is not None and row.error.field == "time"
    assert "'Time (ET)'" in row.error.reason and "America/New_York" in row.error.reason


# -- answers, summary, deadlines, RMD, audit, evidence -----------------------------------------


def test_respond_end_to_end(store: Store, peers: PeerDirectory, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    rmd = load_rmd(FIX / "rmd_export.csv")
    f = read_inquiries(FIX / "inquiries.csv")
    opts = RespondOptions(requester="itg-portal", rmd=rmd, audit=audit,
                          evidence_dir=tmp_path / "evidence", store=store,
                          clock=Clock(), now=lambda: _at("2026-11-21T15:30:00Z"))
    res = respond(f, Matcher(store, peers), opts)
    a = res.answers
    assert [x["inquiry"]["id"] for x in a] == ["TB-1", "TB-2", "TB-3", "TB-4"]
    assert [x["status"] for x in a] == ["upstream", "upstream", "originating", "not_found"]
    assert a[0]["match"]["leg_id"] == "L1"
    assert a[2]["customer"]["name"] == "Dialer Co"
    assert_schema_valid(a)

    # RMD: Acme is listed; Shady Routes is not, and the answer says traffic must be refused
    assert a[0]["rmd"]["listed"] is True and a[0]["rmd"]["rmd_number"] == "RMD0001001"
    assert a[1]["rmd"]["listed"] is False
    assert any("Shady Routes is not listed in the Robocall Mitigation Database" in w
               and "must be refused" in w for w in a[1]["warnings"])
    assert "rmd" not in a[2]  # our own customer: nothing to check

    # 24-hour clock: received 15:00Z / 17:00Z on the 20th, answered 15:30Z on the 21st
    assert a[0]["deadline"]["deadline_utc"] == "2026-11-21T15:00:00Z"
    assert a[0]["deadline"]["state"] == "late"
    assert any(w.startswith("late: the 24-hour deadline") for w in a[0]["warnings"])
    assert a[2]["deadline"]["state"] == "near"
    assert a[2]["deadline"]["remaining_s"] == 5400.0

    # summary
    s = res.summary
    assert s.inquiries == 4 and s.found == 3 and s.rejected == 0
    assert s.by_status == {"upstream": 2, "originating": 1, "not_found": 1}
    assert s.by_upstream == {"Acme Transit": 1, "Shady Routes": 1}
    assert s.by_customer == {"Dialer Co": 1}
    assert s.single_upstream is None and s.rmd_unlisted == ["Shady Routes"]
    assert s.late == 2 and s.near_deadline == 2

    # audit: one entry per inquiry, chained, with who/asked/searched/answered
    rep = verify(audit.path)
    assert rep.ok and rep.entries == 4 and rep.head_hash == res.audit_head
    entries = [json.loads(x) for x in audit.path.read_text().splitlines()]
    assert entries[0]["who"] == "itg-portal"
    assert entries[0]["asked"]["called"] == "+13125550100"
    assert entries[0]["asked"]["line"] == 2
    assert entries[0]["searched"]["from_utc"] == a[0]["searched"]["from_utc"]
    assert entries[0]["answered"] == {
        "status": "upstream", "upstream": "Acme Transit", "trunk": "ACME_IN_1", "ip": None,
        "customer": None, "leg_id": "L1", "confidence": a[0]["confidence"], "error": None}

    # evidence pack of the first answer
    pack = Path(res.packs[0])
    assert pack.name == "00001-TB-1"
    assert (pack / "record.txt").read_text() == LEGS[0]["raw_record"] + "\n"
    passport = json.loads((pack / "passport.json").read_text())
    assert passport["payload"]["origid"] == "123e4567-e89b-12d3-a456-426614174000"
    assert passport["header"]["x5u"] == "https://cert.acme.example/sti.pem"
    assert passport["params"]["info"] == "https://cert.acme.example/sti.pem"
    searched = json.loads((pack / "searched.json").read_text())
    assert searched["searched"] == a[0]["searched"]
    portal = (pack / "portal.txt").read_text()
    assert "we received this call from Acme Transit (OCN 1234) over trunk ACME_IN_1" in portal
    assert "Call-ID a84b4c76e66710@pc33" in portal
    assert json.loads((pack / "answer.json").read_text()) == a[0]
    assert verify_pack(pack) == []
    (pack / "record.txt").write_text("tampered\n")
    assert verify_pack(pack) == ["record.txt"]
    # the not-found answer still has a pack saying what was searched
    nf = Path(res.packs[3])
    assert "no record of this call in the window searched" in (nf / "portal.txt").read_text()
    assert (nf / "record.txt").read_text() == "(no record matched)\n"


def test_one_upstream_and_one_origid_are_flagged(tmp_path: Path, peers: PeerDirectory) -> None:
    origid = "9f0c1a2b-0000-4000-8000-000000000001"
    rows = [leg(f"L{i}", f"+1312555{i:04d}", f"2026-11-20T1{i % 10}:00:00Z", "ACME_IN_1",
                origid=origid) for i in range(1, 5)]
    store = make_store(tmp_path / "s", rows)
    p = tmp_path / "campaign.csv"
    p.write_text("called,calling,time\n" + "".join(
        f"+1312555{i:04d},,2026-11-20T1{i % 10}:00:30Z\n" for i in range(1, 5)))
    res = respond(read_inquiries(p), Matcher(store, peers))
    s = res.summary
    assert s.found == 4
    assert s.single_upstream == "Acme Transit"
    assert s.single_origid == origid
    assert any("one STIR/SHAKEN origid" in f for f in s.flags)
    assert s.to_dict()["by_upstream"] == {"Acme Transit": 4}


def test_an_ambiguous_answer_checks_every_candidate_against_the_rmd(
        tmp_path: Path, peers: PeerDirectory) -> None:
    # Two calls seconds apart, from Acme (listed) and Shady Routes (not listed): the answer
    # is ambiguous, each candidate is checked, and the summary does not count the best fit
    # as the source.
    rows = [leg("L1", "+13125550100", "2026-11-20T14:03:25Z", "ACME_IN_1"),
            leg("L2", "+13125550100", "2026-11-20T14:03:31Z", "SHADY-7")]
    store = make_store(tmp_path / "s", rows)
    p = tmp_path / "q.csv"
    p.write_text("called,calling,time\n+13125550100,,2026-11-20T14:03:22Z\n")
    res = respond(read_inquiries(p), Matcher(store, peers),
                  RespondOptions(rmd=load_rmd(FIX / "rmd_export.csv")))
    a = res.answers[0]
    assert a["status"] == "ambiguous"
    assert any("Shady Routes" in w and "ambiguous" in w for w in a["warnings"]), a["warnings"]
    assert a["rmd"]["provider"] == a["match"]["provider"]
    # The summary lists the providers found unlisted, not a candidate that may not be it.
    assert res.summary.rmd_unlisted == []
    assert res.summary.to_dict()["by_upstream"] == {}
    assert res.summary.by_status == {"ambiguous": 1}
    assert_schema_valid(res.answers)


def test_a_received_time_that_cannot_be_used_is_flagged(tmp_path: Path, store: Store,
                                                       peers: PeerDirectory) -> None:
    # Unreadable or in the future: the clock counts from when the file was read, and the
    # campaign summary says so (an overdue inquiry must not pass as fresh unnoticed).
    p = tmp_path / "q.csv"
    p.write_text("called,calling,time,received\n"
                 "+13125550100,,2026-11-20T14:03:22Z,20/11/2026 09:00\n"
                 "+13125550100,,2026-11-20T14:03:22Z,2031-06-01T10:00:00Z\n"
                 "+13125550100,,2026-11-20T14:03:22Z,2026-11-20T15:00:00Z\n")
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    res = respond(read_inquiries(p), Matcher(store, peers), RespondOptions(now=lambda: now))
    starts = [a["deadline"]["clock_start_utc"] for a in res.answers]
    assert starts[0] == starts[1] == "2026-11-21T12:00:00Z"
    assert any("in the future" in w for w in res.answers[1]["warnings"])
    assert any("2 inquiry(ies) have no usable received time" in f for f in res.summary.flags)
    assert res.answers[2]["deadline"]["state"] == "ok"


def test_decode_passport_reports_what_it_cannot_read() -> None:
    garbage = decode_passport("not-a-token;info=<https://x/c.pem>")
    assert garbage["present"] is True and garbage["payload"] is None
    assert garbage["params"]["info"] == "https://x/c.pem"
    assert any("not compact JWS" in p for p in garbage["problems"])
    assert decode_passport(None)["present"] is False


def test_zipped_packs(store: Store, peers: PeerDirectory, tmp_path: Path) -> None:
    import zipfile

    res = respond(read_inquiries(FIX / "inquiries.csv"), Matcher(store, peers),
                  RespondOptions(evidence_dir=tmp_path / "z", evidence_zip=True, store=store))
    assert [Path(p).name for p in res.packs] == ["00001-TB-1.zip", "00002-TB-2.zip",
                                                 "00003-TB-3.zip", "00004-TB-4.zip"]
    with zipfile.ZipFile(res.packs[0]) as z:
        names = set(z.namelist())
        assert {"portal.txt", "record.txt", "passport.json", "searched.json",
                "MANIFEST.sha256"} <= names
        assert z.read("record.txt").decode() == LEGS[0]["raw_record"] + "\n"


def test_a_campaign_found_mostly_by_widening_is_flagged(tmp_path: Path,
                                                         peers: PeerDirectory) -> None:
    """Examples found an hour off, most of them: the inquiries' times (or the records') are in
    another zone than they say. The summary counts them, and the dialed-number finds apart."""
    rows = [leg(f"L{i}", f"+1312555{i:04d}", f"2026-11-20T1{i}:00:00Z", "ACME_IN_1")
            for i in range(1, 4)]
    rows.append(leg("L9", "+13125559999", "2026-11-20T18:00:10Z", "ACME_IN_1"))
    rows[-1]["dialed_raw"] = "8005550199"
    store = make_store(tmp_path / "s", rows)
    p = tmp_path / "campaign.csv"
    p.write_text("called,calling,time\n"
                 + "".join(f"+1312555{i:04d},,2026-11-20T1{i + 1}:00:20Z\n" for i in range(1, 4))
                 + "+18005550199,,2026-11-20T18:00:00Z\n")
    s = respond(read_inquiries(p), Matcher(store, peers)).summary
    assert (s.found, s.widened, s.by_dialed) == (4, 3, 1)
    assert s.to_dict()["found_widened"] == 3 and s.to_dict()["found_by_dialed"] == 1
    assert any("found only by widening" in f for f in s.flags)
