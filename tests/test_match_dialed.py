"""The last search: legs found by their dialed or diverted-from number (match/dialed.py).

A switch that translated the called number (a toll-free number to its routing number) or
forwarded the call (a DID to a mobile, SIP Diversion) records the number it ended up with;
the inquiry names the number the upstream sent.
"""

from __future__ import annotations

import csv
import re
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
    assert numbers_in("<sip:+13125550100@h;user=phone>;reason=x") == [
        "sip:+13125550100@h;user=phone"]
    assert numbers_in("tel:+1-312-555-0100;phone-context=x") == [
        "tel:+1-312-555-0100;phone-context=x"]
    assert numbers_in("<sip:+13125550444@h>;reason=no-answer, <sip:+13125550100@h>") == [
        "sip:+13125550444@h", "sip:+13125550100@h"]
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
    # written with separators, an end-of-dialling "#", a caller-ID prefix, an extension,
    # quotes: every form tracehop.numbers reads as the number is found (each was not)
    ("dialed_raw", "312-555-0100", True),
    ("dialed_raw", "(312) 555-0100", True),
    ("dialed_raw", "1 (312) 555-0100", True),
    ("dialed_raw", "+1 312.555.0100", True),
    ("dialed_raw", "312/555-0100", True),
    ("dialed_raw", "3125550100#", True),
    ("dialed_raw", "+1-312-555-0100#", True),
    ("dialed_raw", "#31#3125550100", True),
    ("dialed_raw", "*67 312-555-0100", True),
    ("dialed_raw", "1010288 1 312 555 0100", True),
    ("dialed_raw", "011 1 312 555 0100", True),
    ("dialed_raw", "312-555-0100 ext. 12", True),
    ("dialed_raw", '"3125550100"', True),
    ("dialed_raw", "tel:+1-312-555-0100", True),
    ("dialed_raw", "sip:%2331%233125550100@mss.example", True),
    ("dialed_raw", "sip:3125550100%23@10.0.0.1", True),
    ("diversion_raw", "<tel:+1-312-555-0100>;reason=unconditional", True),
    ("diversion_raw", "<sip:+1 (312) 555-0100@h>;reason=no-answer, <sip:+13125550444@h>",
     True),
    ("diversion_raw", '"Front desk" <sip:1-312-555-0100@pbx.example;user=phone>', True),
    # ... and the forms it does not read, nor the search
    ("dialed_raw", "312-555-01000", False),
    ("dialed_raw", "*72 312-555-0100", False),  # call forwarding turned on, not a call to it
    ("dialed_raw", "3125550100##", False),
    ("dialed_raw", "555-0100", False),  # seven digits: no area code
    # an LNP routing number (RFC 4694 rn=) is not the number the call was for
    ("dialed_raw", "sip:+13125550999;npdi;rn=+13125550100@h;user=phone", False),
    # a local number in another country's context is not this national number (RFC 3966)
    ("diversion_raw", "<tel:3125550100;phone-context=+44>", False),
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


# -- the keys: SQL and Python cut the same number, and every form normalise reads is cut --------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_numbers import nanp_number, number_like, phone_ish, variants  # noqa: E402

from tracehop.match import dialed  # noqa: E402
from tracehop.numbers import normalise_one  # noqa: E402

KEYS_SETTINGS = settings(max_examples=120, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


def _sql_keys(engine: Any, values: list[tuple[str | None, str | None]],
              digits: int) -> list[list[str | None]]:
    """The four keys (:data:`dialed._KEYS`) of each (dialed_raw, diversion_raw) pair, as the
    batch's SQL cuts them on ``engine``."""
    import pyarrow as pa

    table = pa.table({"i": list(range(len(values))),
                      "dialed_raw": pa.array([d for d, _ in values], pa.string()),
                      "diversion_raw": pa.array([v for _, v in values], pa.string())})
    cols = ", ".join(f"{dialed._key_sql(c, w, digits)} AS k{j}"
                     for j, (c, w) in enumerate(dialed._KEYS))
    out = engine.run(f"SELECT l.i, {cols} FROM legs l ORDER BY l.i", {"legs": table})
    return [[out.column(f"k{j}")[i].as_py() for j in range(len(dialed._KEYS))]
            for i in range(len(values))]


def _py_keys(values: list[tuple[str | None, str | None]],
             digits: int) -> list[list[str | None]]:
    row: list[list[str | None]] = []
    for pair in values:
        got: list[str | None] = []
        for col, which in dialed._KEYS:
            v = pair[0] if col == "dialed_raw" else pair[1]
            got.append(None if v is None else dialed.key_of(v, which, digits))
        row.append(got)
    return row


dialed_text = st.one_of(phone_ish, st.none(), st.sampled_from(
    ["tel:+1-312-555-0100", "<sip:%2B1 312 555 0100@h>;reason=x, <sip:3125550444@h>",
     "sip:#31#3125550100@h", "312-555-0100 ext. 9", "3125550100#", "2125550100\n"]))


@KEYS_SETTINGS
@given(st.lists(st.tuples(dialed_text, dialed_text), min_size=1, max_size=20),
       st.sampled_from([10, 9, 7]))
def test_sql_and_python_cut_the_same_keys(values: list[tuple[str | None, str | None]],
                                          digits: int) -> None:
    # The batch (SQL in the engine) and a single lookup (keyed_on in Python) must find the
    # same legs: each key the same text, or both no key.
    engine = DuckDBEngine()
    try:
        assert _sql_keys(engine, values, digits) == _py_keys(values, digits)
    finally:
        engine.close()


DECORATIONS = ["{}", "{}#", "{} ext. 12", '"{}"', "<sip:{}@10.0.0.1>;reason=unconditional",
               "tel:{}", "sip:{}@h;user=phone", "#31#{}", "*82 {}", "sip:%2331%23{}@h"]


@KEYS_SETTINGS
@given(nanp_number(), st.data())
def test_every_form_normalise_reads_as_the_number_is_keyed_on_it(
        num: tuple[str, str, str], data: st.DataObject) -> None:
    # The search's agreement with tracehop.numbers: a dialed or Diversion value that
    # normalise reads as the inquiry's number is a candidate (its key is the national
    # digits), and the exact check then accepts it.
    e164 = "+1" + "".join(num)
    form = data.draw(st.sampled_from(variants(*num)))
    value = data.draw(st.sampled_from(DECORATIONS)).format(form)
    if normalise_one(value) != e164:
        return  # a decoration normalise does not read on this form (a URI in a URI)
    needle = dialed.national_digits(e164)
    for col in dialed.DIALED_COLUMNS:
        leg_ = {"dialed_raw": None, "diversion_raw": None, col: value}
        assert dialed.keyed_on(leg_, needle), value
        assert matching_column(leg_, e164) == col


def test_a_local_number_in_another_countrys_context_is_not_the_national_number() -> None:
    # RFC 3966 §5.1.5: "tel:2079460958;phone-context=+44" is +44 20 7946 0958, as normalise
    # reads it; the user part alone, read in the US, made it +1 207 946 0958.
    leg_ = {"dialed_raw": None, "diversion_raw": "<tel:2079460958;phone-context=+44>"}
    assert matching_column(leg_, "+12079460958") is None
    assert matching_column(leg_, "+442079460958") == "diversion_raw"


def test_separators_are_the_ones_normalise_allows() -> None:
    from tracehop import numbers

    assert set(dialed.SEPARATORS) == set(numbers._SEPARATORS)


@pytest.mark.spark
def test_spark_cuts_the_same_keys_as_duckdb() -> None:
    import shutil

    pytest.importorskip("pyspark")
    if not shutil.which("java"):
        pytest.skip("Spark needs Java")
    from tracehop.engines.spark import SparkEngine

    values: list[tuple[str | None, str | None]] = [
        (v, d) for v, d in zip(
            [f[1] for f in FORMS] + ["2125550100\n", "", None, "+", "a:b", "#31#"],
            [f[1] for f in reversed(FORMS)] + [None, "sip:", "tel:%2B", None, "x", None],
            strict=True)]
    engine = SparkEngine()
    try:
        assert _sql_keys(engine, values, 10) == _py_keys(values, 10)
    finally:
        engine.close()


def test_a_dialed_value_is_read_in_the_region_of_the_switch_that_wrote_it(
        tmp_path: Path) -> None:
    # A US switch (its legs' called numbers are +1) writes a call to London as dialled, with
    # the US international prefix; and "2079460958" is a number in Maine. Read in the inquiry
    # number's country (GB), the first was null (not found) and the second +44 20 7946 0958
    # (another call's leg found).
    uk = "+442079460958"
    assert matching_column({"called_e164": "+13125559999",
                            "dialed_raw": "011 44 20 7946 0958"}, uk) == "dialed_raw"
    assert matching_column({"called_e164": "+13125559999", "dialed_raw": "2079460958"},
                           uk) is None
    # a UK switch's national form is read in GB; a leg with no called number: the inquiry's
    assert matching_column({"called_e164": "+442079460000", "dialed_raw": "020 7946 0958"},
                           uk) == "dialed_raw"
    assert matching_column({"called_e164": None, "dialed_raw": "020 7946 0958"},
                           uk) == "dialed_raw"
    rows = [leg("+13125559999", "2026-11-20 14:03:30", trunk="ACME_IN_1",
                dialed_raw="011 44 20 7946 0958"),
            leg("+13125559998", "2026-11-20 16:00:00", trunk="BRAVO_IN",
                dialed_raw="2079460958")]
    m = _store(tmp_path, rows)
    inqs = [Inquiry.parse(uk, "2026-11-20T14:03:22Z"), Inquiry.parse(uk, "2026-11-20T16:00:05Z")]
    single = [m.lookup(q).to_dict() for q in inqs]
    assert [a.to_dict() for a in m.lookup_many(inqs, strategy="join")] == single
    assert [a["status"] for a in single] == ["upstream", "not_found"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(number_like(), st.sampled_from([*DECORATIONS, '="{}"', "'{}'"]),
       st.sampled_from(["US", "GB", "DE"]))
def test_any_value_normalise_reads_is_keyed_on_its_national_digits(
        value: str | None, decoration: str, region: str) -> None:
    # The same agreement for numbers of every country and arbitrary text: whatever normalise
    # reads as a number, the search's key finds. Outside it, by design (module doc): text that
    # normalise folds first (full-width digits, Unicode spaces: switches write ASCII), a local
    # number completed by its phone-context, and phonenumbers' own digit rewrites (a national
    # prefix it replaces, as for Norfolk Island), and a spreadsheet's float text
    # ("2125550143.0", "2.125550143E+09": an inquiry's or an export's, not a switch's).
    assume(value is not None and value.isascii() and "context" not in value.lower())
    assume(not re.search("[.]0+$|[0-9][Ee][+]?[0-9]", value))
    raw = decoration.format(value)
    e164 = normalise_one(raw, region)
    assume(e164 is not None)
    needle = dialed.national_digits(e164)
    assume(needle in "".join(ch for ch in raw if ch.isdigit()))
    assert dialed.keyed_on({"dialed_raw": raw, "diversion_raw": None}, needle)


def test_national_digits_keep_leading_zeros() -> None:
    # phonenumbers' national_number is an integer: "+39 06 ..." lost its 0, "+682 00000" was "0".
    assert dialed.national_digits("+390612345678") == "0612345678"
    assert dialed.national_digits("+68200000") == "00000"
    assert dialed.national_digits("+13125550100") == "3125550100"


def test_a_non_geographic_number_is_no_region_to_read_a_dialed_value_in(tmp_path: Path) -> None:
    """+800 (UIFN), +870, +881-+883 have phonenumbers' region "001": read in it, a dialed
    value raised ConfigError ("unknown region '001'") and the lookup failed."""
    uifn = "+80012345678"
    assert matching_column({"called_e164": uifn, "dialed_raw": "3125550100"},
                           DID) == "dialed_raw"
    assert matching_column({"called_e164": None, "dialed_raw": "+800 1234 5678"},
                           uifn) == "dialed_raw"
    m = _store(tmp_path, [leg("", "2026-11-20 14:03:30", dialed_raw="+800 1234 5678")])
    a = m.lookup(Inquiry.parse(uifn, "2026-11-20T14:03:22Z"))
    check_schema(a)
    assert a.status == "upstream" and a.searched.step == f"{STEP_LABEL} ±120s"
