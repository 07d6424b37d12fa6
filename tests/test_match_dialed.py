"""The last search: legs found by their dialed or diverted-from number (match/dialed.py).

A switch that translated the called number (a toll-free number to its routing number) or
forwarded the call (a DID to a mobile, SIP Diversion) records the number it ended up with;
the inquiry names the number the upstream sent.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from matchkit import SqlOnly, check_schema, leg, make_store, peers

from tracehop.engines.duckdb import DuckDBEngine
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.match.dialed import STEP_LABEL, matching_column, numbers_in

TOLL_FREE = "+18005550199"
DID = "+13125550100"


def _store(tmp_path: Path, rows: list[dict[str, Any]]) -> Matcher:
    return Matcher(make_store(tmp_path / "store", rows), peers(tmp_path))


def test_a_translated_toll_free_call_is_found_by_its_dialed_number(tmp_path: Path) -> None:
    m = _store(tmp_path, [leg("+13125559999", "2026-11-20 14:03:30", trunk="ACME_IN_1",
                              dialed_raw="8005550199")])
    a = m.lookup(Inquiry.parse(TOLL_FREE, "2026-11-20T14:03:22Z"))
    check_schema(a)
    assert a.status == "upstream" and a.upstream is not None
    assert a.upstream.provider == "Acme Transit"
    assert a.match is not None and a.match.offset_s == 8.0
    assert a.searched.step == f"{STEP_LABEL} ±120s"
    # every step on the number itself came first, and the answer says so
    assert a.searched.steps_tried[-1] == a.searched.step
    assert "whole-hour offsets ±1h..±24h, each ±120s" in a.searched.steps_tried
    assert (a.searched.from_utc, a.searched.to_utc) == ("2026-11-19T14:01:22Z",
                                                         "2026-11-21T14:05:22Z")
    said = [w for w in a.warnings if "dialed number" in w]
    assert said and "'8005550199'" in said[0] and "+13125559999" in said[0]


def test_a_forwarded_call_is_found_by_its_diversion_header(tmp_path: Path) -> None:
    # RFC 5806 §3: a Diversion header may list several diversions, newest first.
    div = ("<sip:+13125550444@192.0.2.1>;reason=no-answer;counter=1, "
           "<sip:+13125550100@192.0.2.1;user=phone>;reason=unconditional;counter=1")
    m = _store(tmp_path, [leg("+13125550777", "2026-11-20 10:00:00", trunk="BRAVO_IN",
                              diversion_raw=div)])
    a = m.lookup(Inquiry.parse(DID, "2026-11-20T10:01:00Z"))
    assert a.status == "upstream" and a.upstream is not None
    assert a.upstream.provider == "Bravo Telecom"
    assert any("diverted-from number" in w for w in a.warnings)


def test_the_number_itself_hours_off_wins_over_a_dialed_number_in_the_window(
        tmp_path: Path) -> None:
    m = _store(tmp_path, [
        leg("+13125559999", "2026-11-20 14:03:30", trunk="BRAVO_IN", dialed_raw="8005550199"),
        leg(TOLL_FREE, "2026-11-20 17:03:25", trunk="ACME_IN_1"),
    ])
    a = m.lookup(Inquiry.parse(TOLL_FREE, "2026-11-20T14:03:22Z"))
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.searched.step.startswith("+3h offset")
    assert not any("dialed number" in w for w in a.warnings)


def test_the_digits_inside_another_number_do_not_match(tmp_path: Path) -> None:
    # "3125550100" occurs in both values, but neither is +1 312 555 0100.
    m = _store(tmp_path, [
        leg("+13125559999", "2026-11-20 14:03:30", dialed_raw="+4413125550100"),
        leg("+13125559998", "2026-11-20 14:03:31", diversion_raw="<sip:93125550100@10.0.0.1>"),
    ])
    a = m.lookup(Inquiry.parse(DID, "2026-11-20T14:03:22Z"))
    assert a.status == "not_found"


def test_only_the_first_window_is_searched_by_dialed_number(tmp_path: Path) -> None:
    m = _store(tmp_path, [leg("+13125559999", "2026-11-20 14:10:00", dialed_raw="8005550199")])
    a = m.lookup(Inquiry.parse(TOLL_FREE, "2026-11-20T14:03:22Z"))
    assert a.status == "not_found"


@pytest.mark.parametrize("engine", [DuckDBEngine, SqlOnly], ids=["polars-read", "portable-sql"])
def test_batch_answers_equal_single_lookups(tmp_path: Path, engine: Any) -> None:
    rows = [
        leg("+13125559999", "2026-11-20 14:03:30", trunk="ACME_IN_1", dialed_raw="8005550199"),
        leg("+13125550777", "2026-11-20 10:00:00", trunk="BRAVO_IN",
            diversion_raw="<sip:+13125550100@192.0.2.1>;reason=unconditional"),
        # an egress leg translated the same way: the related pass finds its inbound leg
        leg("+13125558888", "2026-11-20 12:00:02", direction="outbound", trunk="OUT_1",
            dialed_raw="8005550123", correlation_id="call-T"),
        leg("+13125557777", "2026-11-20 12:00:01", trunk="ACME_IN_1", correlation_id="call-T"),
    ]
    store = make_store(tmp_path / "store", rows)
    inqs = [Inquiry.parse(TOLL_FREE, "2026-11-20T14:03:22Z"),
            Inquiry.parse(DID, "2026-11-20T10:01:00Z"),
            Inquiry.parse("+18005550123", "2026-11-20T12:00:00Z"),
            Inquiry.parse("+18005550100", "2026-11-20T12:00:00Z")]
    m = Matcher(store, peers(tmp_path), engine())
    single = [m.lookup(q).to_dict() for q in inqs]
    batch = [a.to_dict() for a in m.lookup_many(inqs, strategy="join")]
    assert batch == single
    assert [a["status"] for a in single] == ["upstream", "upstream", "upstream", "not_found"]
    assert single[2]["match"]["leg_id"] == rows[3]["leg_id"]


class _Counting(DuckDBEngine):
    def __init__(self) -> None:
        super().__init__()
        self.dialed_queries = 0

    def run(self, sql: str, tables: Any) -> Any:
        if "dialed_probes" in tables:
            self.dialed_queries += 1
        return super().run(sql, tables)


def test_a_store_without_dialed_numbers_is_not_searched_for_them(tmp_path: Path) -> None:
    engine = _Counting()
    m = Matcher(make_store(tmp_path / "store", [leg(DID, "2026-11-20 14:03:30")]), None, engine)
    assert m.lookup(Inquiry.parse(TOLL_FREE, "2026-11-20T14:03:22Z")).status == "not_found"
    assert engine.dialed_queries == 0


def test_numbers_in_uri_and_plain_values() -> None:
    assert numbers_in("<sip:+13125550100@h;user=phone>;reason=x") == ["+13125550100"]
    assert numbers_in("tel:+1-312-555-0100;phone-context=x") == ["+1-312-555-0100"]
    assert numbers_in(" 8005550199 ") == ["8005550199"]
    assert matching_column({"dialed_raw": None, "diversion_raw": "tel:+1-312-555-0100"},
                           DID) == "diversion_raw"
    assert matching_column({"dialed_raw": "3125550100"}, DID) == "dialed_raw"
    assert matching_column({"dialed_raw": "5000"}, DID) is None


BW = Path(__file__).resolve().parents[1] / "fixtures" / "cdr" / "broadworks_cdr" / \
    "BW-CDR-20260307140000-2-000001.csv"


def test_a_broadworks_call_forwarded_to_another_user_is_found_by_the_original_number(
        tmp_path: Path) -> None:
    """End to end through a real format: the first record of the BroadWorks fixture made the
    Terminating record of a call forwarded from 312-555-0142 to 312-555-0199
    (originalCalledNumber, field 36 of the R18 layout)."""
    from tracehop.ingest import ingest_paths
    from tracehop.store import Store

    lines = BW.read_text().splitlines(keepends=True)
    fields = next(csv.reader([lines[1]]))
    fields[3] = fields[8] = "3125550199"  # userNumber, calledNumber: the forwarded-to user
    fields[35] = "3125550142"  # originalCalledNumber (no other call went to it)
    src = tmp_path / BW.name
    with src.open("w", newline="") as fh:
        fh.write(lines[0])
        csv.writer(fh, lineterminator="\n").writerow(fields)
        fh.writelines(lines[2:])
    store = Store.open(tmp_path / "store", create=True)
    ingest_paths([src], store)
    a = Matcher(store, None).lookup(Inquiry.parse("+13125550142", "2026-03-07T19:03:22Z"))
    assert a.status == "unmapped" and a.match is not None
    assert a.match.offset_s == 0.0
    assert any("diverted-from number" in w and "'3125550142'" in w for w in a.warnings)


# How switches write the number beside the called one, and whether the search finds it: the
# single lookup (its window's legs tested in Python) and the batch (an equi-join in SQL) must
# agree on every form (match/dialed.py, _KEYS).
FORMS = [
    ("dialed_raw", "3125550100", True),
    ("dialed_raw", "13125550100", True),
    ("dialed_raw", "+13125550100", True),
    ("dialed_raw", "sip:+13125550100@10.0.0.1", True),
    ("diversion_raw", "<sip:+13125550100@192.0.2.1;user=phone>;reason=unconditional", True),
    ("diversion_raw", "<SIP:3125550100@192.0.2.1>;reason=user-busy", True),
    ("diversion_raw", "<tel:+13125550100>;reason=deflection", True),
    ("diversion_raw", "3125550100", True),
    # the newest diversion first, the original called number last (RFC 5806 §3)
    ("diversion_raw", "<sip:+13125550444@h>;reason=no-answer, <sip:+13125550100@h>", True),
    # another number holding the digits: found by neither
    ("dialed_raw", "+4413125550100", False),
    ("diversion_raw", "<sip:+13125550100999@h>", False),
    # written with separators: not found (neither form cuts such a number out)
    ("dialed_raw", "312-555-0100", False),
]


@pytest.mark.parametrize(("column", "value", "found"), FORMS)
def test_single_and_batch_find_the_same_written_forms(tmp_path: Path, column: str,
                                                       value: str, found: bool) -> None:
    rows = [leg("+13125559999", "2026-11-20 14:03:30", trunk="ACME_IN_1", **{column: value}),
            leg("+13125558888", "2026-11-20 16:00:00", trunk="BRAVO_IN")]
    m = _store(tmp_path, rows)
    inqs = [Inquiry.parse(DID, "2026-11-20T14:03:22Z"),
            Inquiry.parse("+13125550199", "2026-11-20T16:00:00Z")]
    single = m.lookup(inqs[0]).to_dict()
    batch = m.lookup_many(inqs, strategy="join")[0].to_dict()
    assert batch == single
    assert (single["status"] != "not_found") == found


def test_a_sip_invite_with_a_diversion_header_is_found_by_the_original_number(
        tmp_path: Path) -> None:
    """End to end through a capture: an INVITE to +1 312 555 0777 carrying the Diversion of
    +1 312 555 0100 (RFC 5806), ingested with `tracehop ingest`; the lookup of the original
    number answers from it, the hand-off the sending address."""
    import json

    from click.testing import CliRunner
    from test_sip_review_fixes import T0, A, B, _invite, _pcap, _response, _udp_frame

    from tracehop.cli import cli

    to, cid, br = "+13125550777", "div-1@a.example", "z9hG4bKdiv1"
    invite = _invite(cid, to, br, extra=(
        ("Diversion", "<sip:+13125550100@c.example>;reason=unconditional;counter=1"),))
    cap = tmp_path / "div.pcap"
    cap.write_bytes(_pcap([(T0, _udp_frame(A, B, invite)),
                           (T0 + 1, _udp_frame(B, A, _response(200, "OK", cid, to, br)))]))
    store = tmp_path / "store"
    run = CliRunner().invoke(cli, ["ingest", str(cap), "--store", str(store)])
    assert run.exit_code == 0, run.output
    r = CliRunner().invoke(cli, ["lookup", "--store", str(store), "--called", DID,
                                 "--at", "2026-11-18T11:06:45Z", "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.output)
    assert a["status"] == "unmapped" and a["upstream"]["ip"] == A
    assert a["searched"]["step"] == f"{STEP_LABEL} ±120s"
    assert any("diverted-from number" in w for w in a["warnings"])
