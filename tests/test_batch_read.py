"""The batch matcher's store read: each day file is asked only for what touches that day, one
read serves the first and the widening pass, and the answers stay those of single lookups."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from matchkit import SqlOnly as _SqlOnly
from matchkit import leg, make_store, peers

from tracehop.engines.base import KeyFetcher
from tracehop.engines.duckdb import DuckDBEngine
from tracehop.engines.keyfetch import read_in
from tracehop.errors import StoreError
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.match.matcher import READ_COLUMNS
from tracehop.schema import LEG_SCHEMA

A, B, C = "+13125550100", "+14155550123", "+12025550111"


class _Spy(DuckDBEngine):
    """DuckDB, recording what each batch read asked of which day."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[tuple[str, dict[str, list[str]]]]] = []

    def read_in(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                columns: Sequence[str]) -> pa.Table:
        self.reads.append([(f, {c: list(v) for c, v in m.items()}) for f, m in parts])
        return super().read_in(parts, columns)

    def read_parts(self, parts: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
                   columns: Sequence[str]) -> Iterator[pa.Table]:
        self.reads.append([(f, {c: list(v) for c, v in m.items()}) for f, m in parts])
        return super().read_parts(parts, columns)




def _day(path: str) -> str:
    return path.split("day=")[1][:10]


def _same_as_single(store_rows: list[dict[str, object]], inquiries: list[Inquiry],
                    tmp: Path) -> tuple[list[dict[str, Any]], _Spy]:
    store = make_store(tmp / "store", store_rows)
    spy = _Spy()
    m = Matcher(store, peers(tmp), engine=spy)
    assert isinstance(m.engine, KeyFetcher)
    single = [m.lookup(q).to_dict() for q in inquiries]
    spy.reads.clear()
    joined = [a.to_dict() for a in m.lookup_many(inquiries, strategy="join")]
    assert joined == single
    sql_only = _SqlOnly()
    portable = Matcher(store, peers(tmp), engine=sql_only)
    assert [a.to_dict() for a in portable.lookup_many(inquiries, strategy="join")] == single
    sql_only.close()
    return joined, spy


def test_each_day_file_is_asked_only_for_the_numbers_whose_range_touches_it(
        tmp_path: Path) -> None:
    rows = [
        leg(A, "2026-11-01 23:59:50"),                  # A's call, just before midnight
        leg(A, "2026-11-05 12:00:00", trunk="BRAVO_IN"),  # a day no inquiry comes near
        leg(B, "2026-11-10 08:00:00"),
        leg(C, "2026-11-10 08:00:00", trunk="BRAVO_IN"),  # B's day, a number nobody asks
    ]
    inquiries = [Inquiry.parse(A, "2026-11-02T00:00:30Z", id="a"),
                 Inquiry.parse(B, "2026-11-10T08:01:00Z", id="b")]
    answers, spy = _same_as_single(rows, inquiries, tmp_path)
    assert [a["status"] for a in answers] == ["upstream", "upstream"]
    assert answers[0]["match"]["start_utc"] == "2026-11-01T23:59:50Z"

    # One read for both passes (nothing needed widening here), no related read.
    assert len(spy.reads) == 1
    asked = {_day(f): m["called_e164"] for f, m in spy.reads[0]}
    # ±24 h around each inquiry: A's days 1-3 (only 1 has a file), B's days 9-11 (only 10).
    assert asked == {"2026-11-01": [A], "2026-11-10": [B]}


def test_one_read_serves_the_widening_pass(tmp_path: Path) -> None:
    # A's only call is 3 h after the inquiry time (a zone slip), on the next UTC day; C is
    # in no record. The widening pass takes A's call from the legs the one read returned.
    rows = [leg(A, "2026-11-02 01:30:10"), leg(B, "2026-11-01 22:29:00"),
            leg(B, "2026-11-02 09:00:00", trunk="BRAVO_IN")]
    inquiries = [Inquiry.parse(A, "2026-11-01T22:30:00Z", id="slip"),
                 Inquiry.parse(B, "2026-11-01T22:30:00Z", id="near"),
                 Inquiry.parse(C, "2026-11-01T22:30:00Z", id="never")]
    answers, spy = _same_as_single(rows, inquiries, tmp_path)
    assert [a["status"] for a in answers] == ["upstream", "upstream", "not_found"]
    assert answers[0]["searched"]["step"].startswith("+3h")
    assert answers[1]["match"]["start_utc"] == "2026-11-01T22:29:00Z"
    assert len(spy.reads) == 1
    # ±24 h around 22:30 on day 1: days 0-2; day 0 has no file.
    assert {_day(f): sorted(m["called_e164"]) for f, m in spy.reads[0]} == {
        "2026-11-01": sorted([A, B, C]), "2026-11-02": sorted([A, B, C])}


def test_related_legs_are_read_from_the_days_of_their_keys_only(tmp_path: Path) -> None:
    rows = [
        # The egress leg to A matched; its call's inbound leg was recorded 7 min later, after
        # midnight, under the number before translation (another called number).
        leg(A, "2026-11-01 23:58:00", direction="outbound", trunk=None, call_id="X1",
            correlation_id=None),
        leg("+13125559999", "2026-11-02 00:05:00", call_id="X1", correlation_id=None,
            trunk="BRAVO_IN"),
        # Same call id 2 days later: outside ±10 min, never a sibling.
        leg("+13125559999", "2026-11-04 00:05:00", call_id="X1", correlation_id=None),
        leg(B, "2026-11-20 08:00:00"),  # stretches the batch over three weeks
    ]
    inquiries = [Inquiry.parse(A, "2026-11-01T23:58:30Z", id="egress"),
                 Inquiry.parse(B, "2026-11-20T08:00:00Z", id="far")]
    answers, spy = _same_as_single(rows, inquiries, tmp_path)
    first = answers[0]
    assert first["status"] == "upstream" and first["upstream"]["provider"] == "Bravo Telecom"
    assert first["match"]["start_utc"] == "2026-11-02T00:05:00Z"
    assert any("egress leg" in w for w in first["warnings"])
    # The number read; then the related keys read from the two days ±10 min around 23:58
    # touches, and every column read only from the day where a leg that is not outbound
    # carries the key (on 11-01 only the egress leg itself does).
    assert len(spy.reads) == 3
    keys, full = spy.reads[1], spy.reads[2]
    assert sorted(_day(f) for f, _ in keys) == ["2026-11-01", "2026-11-02"]
    assert [_day(f) for f, _ in full] == ["2026-11-02"]
    assert all(m["call_id"] == ["X1"] for _, m in keys + full)


def test_read_in_returns_the_union_of_its_parts(tmp_path: Path) -> None:
    rows = [leg(A, "2026-11-01 10:00:00", call_id="K1"), leg(B, "2026-11-01 11:00:00"),
            leg(C, "2026-11-02 10:00:00", correlation_id="K2"), leg(A, "2026-11-02 10:00:00")]
    snap = make_store(tmp_path / "s", rows).snapshot()
    d1, d2 = (snap.files_for(Inquiry.parse(A, t).time_utc, Inquiry.parse(A, t).time_utc)
              for t in ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"))
    table = read_in([(d1[0], {"called_e164": [B], "call_id": ["K1"]}),
                     (d2[0], {"correlation_id": ["K2"], "call_id": []})], READ_COLUMNS)
    assert table.column_names == [*READ_COLUMNS, "start_us"]
    got = sorted(zip(table.column("called_e164").to_pylist(),
                     table.column("start_us").to_pylist(), strict=True))
    day1 = 1_793_491_200_000_000  # 2026-11-01T00:00:00Z in µs
    hour = 3_600_000_000
    assert got == [(C, day1 + 24 * hour + 10 * hour),   # by correlation_id, on day 2
                   (A, day1 + 10 * hour),               # by call_id (A on day 2: not asked)
                   (B, day1 + 11 * hour)]               # by number
    # Nothing asked: nothing read, the columns asked for.
    empty = read_in([(d1[0], {"call_id": []})], READ_COLUMNS)
    assert empty.num_rows == 0 and empty.column_names == [*READ_COLUMNS, "start_us"]


def test_read_in_names_a_damaged_store_file(tmp_path: Path) -> None:
    bad = tmp_path / "part-0.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    good = make_store(tmp_path / "s", [leg(A, "2026-11-01 10:00:00")]).snapshot().all_files()
    # the StoreError every store read gives for a damaged file (tracehop/store/damaged.py;
    # in a store, its hint also names the forget that gets past it)
    with pytest.raises(StoreError, match="damaged") as e:
        read_in([(good[0], {"called_e164": [A]}), (str(bad), {"called_e164": [A]})],
                READ_COLUMNS)
    assert str(bad) in str(e.value)  # which file: the one to restore
    assert "Restore it from a backup" in (e.value.hint or "")


def test_read_in_skips_columns_a_file_holds_no_value_of(tmp_path: Path) -> None:
    """A column null in every row of a file (here correlation_id and the STIR columns)
    comes back as nulls of its type without being read, and a match on it selects nothing;
    a file written without statistics is read whole and gives the same rows."""
    import pyarrow.parquet as pq

    from tracehop.engines.keyfetch import all_null_columns

    rows = [leg(A, "2026-11-01 10:00:00", call_id="K1", correlation_id=None),
            leg(B, "2026-11-01 11:00:00", correlation_id=None)]
    (path,) = make_store(tmp_path / "s", rows).snapshot().all_files()
    empty = all_null_columns(path)
    assert {"correlation_id", "attest", "origid"} <= empty
    assert not {"called_e164", "call_id", "start_utc"} & empty
    table = read_in([(path, {"called_e164": [B], "correlation_id": ["K1"]})], READ_COLUMNS)
    assert table.column("called_e164").to_pylist() == [B]
    assert table.column("attest").type == LEG_SCHEMA.field("attest").type
    assert table.column("attest").null_count == 1
    assert read_in([(path, {"correlation_id": ["K1"]})], READ_COLUMNS).num_rows == 0
    # The same file without statistics: nothing is known to be empty, everything is read.
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(path), bare, write_statistics=False)
    assert all_null_columns(str(bare)) == frozenset()
    again = read_in([(str(bare), {"called_e164": [B], "correlation_id": ["K1"]})],
                    READ_COLUMNS)
    assert again.equals(table)
