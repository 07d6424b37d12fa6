"""lookup_many == lookup, whichever path runs; the SQL steps agree with their Python twin."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matchkit import SqlOnly as _SqlOnly
from matchkit import check_schema, leg, make_store, peers, utc

from tracehop.engines.base import KeyFetcher
from tracehop.engines.duckdb import DuckDBEngine
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher, widen
from tracehop.match import sql as render
from tracehop.match.spec import (
    HOUR_US,
    MATCH_COLUMNS,
    US,
    CandidateQuery,
    Probe,
    bucket_width,
)

BASE = utc("2026-11-20 12:00:00")
NUMBERS = ["+13125550100", "+13125550101", "+14155550123"]
TRUNKS = ["ACME_IN_1", "BRAVO_IN", "CUST_TRUNK", "MYSTERY", None]




def _answers_equal(store_rows: list[dict[str, object]], inquiries: list[Inquiry],
                   root: Path) -> None:
    store = make_store(root / "store", store_rows)
    m = Matcher(store, peers(root))
    assert isinstance(m.engine, KeyFetcher)
    single = [m.lookup(q).to_dict() for q in inquiries]
    joined = m.lookup_many(inquiries, strategy="join")
    looped = m.lookup_many(inquiries, strategy="point")
    sql_only = _SqlOnly()
    portable = Matcher(store, peers(root), engine=sql_only)
    assert not isinstance(portable.engine, KeyFetcher)
    for a in joined:
        check_schema(a)
    assert [a.to_dict() for a in joined] == single
    assert [a.to_dict() for a in looped] == single
    assert [a.to_dict() for a in portable.lookup_many(inquiries, strategy="join")] == single
    sql_only.close()


leg_strategy = st.fixed_dictionaries({
    "called": st.sampled_from(NUMBERS),
    "offset_s": st.one_of(st.integers(-300, 300), st.integers(-26 * 3600, 26 * 3600),
                          st.sampled_from([3600, -3600, 7200, 3590, -3610])),
    "direction": st.sampled_from(["inbound", "inbound", "outbound", "unknown", None]),
    "trunk": st.sampled_from(TRUNKS),
    "calling": st.sampled_from([None, "+12025550111", "+19995550000"]),
    "corr": st.sampled_from([None, "L1", "L2", "L3"]),
})
inq_strategy = st.fixed_dictionaries({
    "called": st.sampled_from(NUMBERS),
    "offset_s": st.one_of(st.integers(-400, 400), st.integers(-25 * 3600, 25 * 3600)),
    "calling": st.sampled_from([None, "+12025550111"]),
    "window": st.sampled_from([None, 30, 120, 1000, 4000]),
})


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(legs=st.lists(leg_strategy, max_size=14), inqs=st.lists(inq_strategy, min_size=1,
                                                               max_size=6))
def test_batch_answers_equal_single_answers(
    legs: list[dict[str, object]], inqs: list[dict[str, object]]
) -> None:
    rows = [
        leg(str(d["called"]), BASE + timedelta(seconds=int(d["offset_s"])),  # type: ignore[call-overload]
            direction=d["direction"], trunk=d["trunk"],  # type: ignore[arg-type]
            calling=d["calling"], correlation_id=d["corr"])  # type: ignore[arg-type]
        for d in legs
    ]
    inquiries = [
        Inquiry.parse(str(d["called"]),
                      BASE + timedelta(seconds=int(d["offset_s"])),  # type: ignore[call-overload]
                      d["calling"], window=d["window"], id=f"q{i}")  # type: ignore[arg-type]
        for i, d in enumerate(inqs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        _answers_equal(rows, inquiries, Path(tmp))


def test_batch_keeps_the_nearest_candidates_when_a_number_has_too_many(tmp_path: Path) -> None:
    # 1,003 legs at the very same instant tie on (step, distance): the key scan's cap must
    # keep all of them, so that the final order (leg_id last) keeps the same 1,000 as a
    # single lookup, and the answer says it was capped. One more leg 10 s away ranks after.
    rows = [leg(NUMBERS[0], "2026-11-20 12:00:30", leg_id=f"hot{i:04d}", trunk="BRAVO_IN")
            for i in range(1003)]
    rows += [leg(NUMBERS[0], "2026-11-20 12:00:40", leg_id="near0000")]
    rows += [leg(NUMBERS[1], "2026-11-20 12:00:05", direction="outbound", correlation_id="C1"),
             # the inbound side of that call, recorded without a called number
             leg(NUMBERS[1], "2026-11-20 12:00:04", correlation_id="C1", called_e164=None,
                 trunk="BRAVO_IN")]
    inquiries = [Inquiry.parse(NUMBERS[0], BASE, id="hot"),
                 Inquiry.parse(NUMBERS[1], BASE, id="egress")]
    _answers_equal(rows, inquiries, tmp_path)
    m = Matcher(make_store(tmp_path / "again", rows), peers(tmp_path))
    hot, egress = m.lookup_many(inquiries, strategy="join")
    assert any("only the nearest 1000 were scored" in w for w in hot.warnings)
    assert hot.match is not None and hot.match.leg_id.startswith("hot")
    assert egress.status == "upstream" and egress.match is not None
    assert egress.match.called_raw == NUMBERS[1].lstrip("+1")


def test_batch_in_input_order_with_widening_only_for_the_unfound(tmp_path: Path) -> None:
    rows = [leg(NUMBERS[0], "2026-11-20 12:00:05"), leg(NUMBERS[1], "2026-11-20 13:00:05"),
            leg(NUMBERS[2], "2026-11-20 12:00:05", direction="outbound")]
    inquiries = [Inquiry.parse(n, BASE, id=str(i)) for i, n in enumerate(NUMBERS)] * 2
    store = make_store(tmp_path / "s", rows)
    m = Matcher(store, peers(tmp_path), batch_threshold=2)
    answers = m.lookup_many(inquiries)  # auto: 6 >= 2 -> join
    assert [a.inquiry.id for a in answers] == ["0", "1", "2"] * 2
    assert [a.status for a in answers] == ["upstream", "upstream", "not_found"] * 2
    assert answers[1].searched.step.startswith("+1h")
    assert m.lookup_many([]) == []


_ENGINE: list[DuckDBEngine] = []


def _engine() -> DuckDBEngine:
    """One engine for every example (a connection per example would dominate the test)."""
    if not _ENGINE:
        _ENGINE.append(DuckDBEngine())
    return _ENGINE[0]


@settings(max_examples=40, deadline=None)
@given(d=st.lists(st.integers(-26 * HOUR_US, 26 * HOUR_US), min_size=1, max_size=40),
       w_s=st.sampled_from([1, 30, 120, 899, 900, 1799, 1800, 3000]))
def test_sql_steps_agree_with_python(d: list[int], w_s: int) -> None:
    # Include the exact edges: half hours (rounding) and window borders.
    t = 1_790_000_000 * US
    w = w_s * US
    extra = [HOUR_US // 2, -HOUR_US // 2, w, -w, w + 1, HOUR_US + w, -HOUR_US - w - 1]
    offsets = d + extra
    n = len(offsets)
    cols: dict[str, object] = {c: pa.nulls(n, pa.string()) for c in MATCH_COLUMNS}
    cols["leg_id"] = pa.array([f"l{i:03d}" for i in range(n)])
    cols["called_e164"] = pa.array(["+13125550100"] * n)
    cols["source_record"] = pa.nulls(n, pa.int64())
    cols["duration_s"] = pa.nulls(n, pa.float64())
    cols["billsec_s"] = pa.nulls(n, pa.float64())
    cols["time_ambiguous"] = pa.nulls(n, pa.bool_())
    cols["stir_verified"] = pa.nulls(n, pa.bool_())
    cols["iat_utc"] = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    cols["start_us"] = pa.array([t + x for x in offsets], pa.int64())
    legs = pa.table(cols)
    probe = Probe.make(0, "+13125550100", t, w)
    engine = _engine()
    lo, hi = probe.range(True)
    # The batch form: steps, distances and ranks computed in SQL...
    batch = CandidateQuery((probe,), wide=True, bucket_us=bucket_width(hi - lo), limit=25)
    got = engine.run(render.candidate_sql(batch),
                     {"legs": legs, "probes": render.probes_table(batch)}).to_pylist()
    # ...and the point form: the filter in SQL, the rest in Python. Same rows, same ranks.
    point = CandidateQuery((probe,), wide=True, limit=25)
    mine = render.tag_and_rank(engine.run(render.candidate_sql(point), {"legs": legs})
                               .to_pylist(), 25)
    assert [(r["leg_id"], r["step"], r["dist_us"], r["rk"]) for r in got] == [
        (r["leg_id"], r["step"], r["dist_us"], r["rk"]) for r in mine]
    uncapped = CandidateQuery((probe,), wide=True, bucket_us=bucket_width(hi - lo))
    got = engine.run(render.candidate_sql(uncapped),
                             {"legs": legs, "probes": render.probes_table(uncapped)}).to_pylist()
    by_leg = {r["leg_id"]: (r["step"], r["dist_us"]) for r in got}
    for i, x in enumerate(offsets):
        step = widen.step_of(x, w)
        if step is None or not lo <= t + x <= hi:
            assert f"l{i:03d}" not in by_leg, (x, w)
        else:
            assert by_leg[f"l{i:03d}"] == (step, widen.dist_of(x, step)), (x, w)


def test_bucketed_batch_sql_joins_on_number_and_bucket() -> None:
    p = Probe.make(0, "+13125550100", 10 * HOUR_US, 120 * US)
    q = CandidateQuery((p,), bucket_us=1 << 28)
    text = render.candidate_sql(q)
    assert "JOIN probes q" in text and "FLOOR(l.start_us / 268435456.0)" in text
    assert "ROW_NUMBER() OVER (PARTITION BY qid ORDER BY step, dist_us, leg_id)" in text
    buckets = render.probes_table(q).column("bucket").to_pylist()
    assert buckets == sorted(set(buckets)) and 1 <= len(buckets) <= 2


def test_only_validated_values_reach_the_sql() -> None:
    import pytest

    from tracehop.errors import InquiryError

    with pytest.raises(InquiryError):
        Probe.make(0, "+1312' OR 1=1 --", 0, 1)
    text = render.candidate_sql(CandidateQuery((Probe.make(0, "+13125550100", 5, 7),)))
    assert "l.called_e164 = '+13125550100'" in text
    assert "BETWEEN -2 AND 12" in text


def test_batch_strategy_is_chosen_by_size_and_store_rows(tmp_path: Path) -> None:
    m = Matcher(make_store(tmp_path / "s", []), batch_threshold=500)
    assert m.choose(499, None) == "point"  # row count unknown: by batch size
    assert m.choose(500, None) == "join"
    assert m.choose(20, 1_000_000) == "point"  # 20 lookups are cheaper than a 1M-row pass
    assert m.choose(200, 1_000_000) == "join"
    assert m.choose(500, 100_000_000) == "point"  # a 100M-row pass costs more than 500 lookups
    assert m.choose(700, 100_000_000) == "join"
    assert m.choose(20_000, 100_000_000) == "join"


def test_a_batch_read_with_nothing_asked_reads_nothing() -> None:
    """No part: an empty table with the columns asked for, and no file opened."""
    from tracehop.engines.keyfetch import read_in

    assert read_in([], MATCH_COLUMNS).column_names == [*MATCH_COLUMNS, "start_us"]
