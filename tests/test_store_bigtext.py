"""A commit whose text is larger than one Arrow ``string`` array can hold (2 GiB of offsets).

A 10M-row Asterisk ingest keeping raw_record carries about 2.5 GB of line text. The store once
gathered the batch into sort order with Arrow's ``ChunkedArray.take``, which concatenates the
chunks first and failed with ``ArrowInvalid: offset overflow``. It now sorts in Polars (text as
views) and casts back to ``string`` in slices of ``layout.ARROW_SLICE_ROWS`` rows. The fast tests
force tiny slices so that every commit and compaction here runs the sliced path; the slow test
commits real 2.2 GB of text.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracehop.schema import LEG_SCHEMA, UTC_US, empty_rejects
from tracehop.store import FileRecord, Store, layout

T0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1_000_000)
HOUR = 3_600_000_000


def _legs(n: int, raw_len: int = 40, first: int = 0) -> pa.Table:
    # Two UTC days, called numbers from a small pool in reverse order of time: the store must
    # reorder everything.
    return pa.table(
        {
            "leg_id": [f"f:{first + i}" for i in range(n)],
            "start_utc": pa.array([T0 + (i % 40) * HOUR for i in range(n)], pa.int64()).cast(
                UTC_US
            ),
            "called_e164": [f"+1312555{(n - i) % 13:04d}" for i in range(n)],
            "raw_record": [f"{first + i:08d}".ljust(raw_len, "x") for i in range(n)],
        }
    )


def _frec(n: int, fid: str = "b" * 64) -> FileRecord:
    return FileRecord(file_id=fid, path="Master.csv", size=1, rows_read=n,
                      format="asterisk_cdr_csv", source=None)


def _read(store: Store) -> pl.DataFrame:
    files = store.snapshot().all_files()
    return pl.concat([pl.read_parquet(f) for f in files])


def test_sorted_rows_go_back_to_arrow_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "ARROW_SLICE_ROWS", 7)
    frame = pl.from_arrow(_legs(50))
    assert isinstance(frame, pl.DataFrame)
    exact = layout.arrow_slices(frame, LEG_SCHEMA.empty_table().select(
        ["leg_id", "start_utc", "called_e164", "raw_record"]).schema, exact=True)
    raw = exact.column("raw_record")
    assert raw.type == pa.string()
    assert [len(c) for c in raw.chunks] == [7] * 7 + [1]
    assert raw.to_pylist() == frame.get_column("raw_record").to_list()


def test_commit_and_compaction_in_forced_small_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "ARROW_SLICE_ROWS", 7)
    store = Store.open(tmp_path / "s", create=True, compact_threshold=1)
    first = _legs(60)
    store.commit(first, empty_rejects(), [_frec(60)])
    second = _legs(30, first=60)
    res = store.commit(second, empty_rejects(), [_frec(30, "c" * 64)])
    assert res.compacted  # two files per day -> one sorted file per day, sliced again
    got = _read(store)
    assert got.height == 90
    assert sorted(got.get_column("raw_record").to_list()) == sorted(
        first.column("raw_record").to_pylist() + second.column("raw_record").to_pylist()
    )
    for path in store.snapshot().all_files():
        day = pl.read_parquet(path)
        assert day.equals(day.sort(["called_e164", "start_utc"], maintain_order=True))
        # The file reads back with exactly the store's types (text as `string`).
        con = duckdb.connect()
        assert con.execute(f"select count(*) from '{path}'").fetchone() == (day.height,)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("TRACEHOP_BIG_TESTS") != "1",
    reason="needs about 8 GB of RAM and a minute: run with TRACEHOP_BIG_TESTS=1",
)
def test_commit_with_more_than_2_gib_of_raw_records(tmp_path: Path) -> None:
    # 2,200 legs of 1 MiB of text each: 2.2 GiB in raw_record, as two Arrow chunks (one
    # `string` array cannot hold it). This raised `ArrowInvalid: offset overflow` before.
    n, size = 2200, 1 << 20
    half = [_legs(n // 2, raw_len=size), _legs(n // 2, raw_len=size, first=n // 2)]
    table = pa.concat_tables(half)
    assert sum(c.nbytes for c in table.column("raw_record").chunks) > (2 << 30)
    store = Store.open(tmp_path / "big", create=True)
    res = store.commit(table, empty_rejects(), [_frec(n)])
    assert res.stored == n
    del table, half
    snap = store.snapshot()
    ids = pl.concat(
        [pl.read_parquet(f, columns=["leg_id", "called_e164"]) for f in snap.all_files()]
    )
    assert ids.height == n
    assert ids.get_column("leg_id").n_unique() == n


@pytest.mark.parametrize(
    ("called", "spread_days"),
    [
        (["+1312", "+13120", "+1313", "+44", "+131199999999999", None, "+1"], 3),  # packed key
        (["+1312", "+13120", "+1313", "+44", None, "+1"], 2000),  # > 1024 days: three keys
        (["+1312", "anonymous", "+1313", None], 3),  # not E.164: sorted on the text
    ],
)
def test_store_order_is_text_order_of_called_then_time(
    called: list[str | None], spread_days: int
) -> None:
    n = 400
    day_us = 86_400_000_000
    frame = pl.DataFrame({
        "leg_id": [f"x:{i}" for i in range(n)],
        "start_utc": pl.Series(
            [T0 + ((i * 7919) % spread_days) * day_us + (i % 5) * HOUR for i in range(n)]
        ).cast(pl.Datetime("us", "UTC")),
        "called_e164": [called[(i * 31) % len(called)] for i in range(n)],
    })
    days = layout.split_sorted(layout.conform_loose(frame.to_arrow()))
    got = pl.concat([pl.from_arrow(t.select(["leg_id", "start_utc", "called_e164"]))
                     for _, t in sorted(days.items())])
    assert isinstance(got, pl.DataFrame)
    want = frame.sort(
        [pl.col("start_utc").dt.date(), "called_e164", "start_utc"],
        nulls_last=True, maintain_order=True,
    )
    assert got.get_column("leg_id").to_list() == want.get_column("leg_id").to_list()


_E164 = st.one_of(st.none(), st.text(alphabet="0123456789", min_size=1, max_size=15)
                  .map(lambda s: "+" + s))
_ANY = st.one_of(_E164, st.text(alphabet="+-0123456789 a١", min_size=0, max_size=17))


@settings(max_examples=300, deadline=None)
@example(["+12", "++12"])
@example(["+-12"])
@example(["+ 12", "+12"])
@example(["+1234567890123456"])
@example(["+١٢"])
@example(["+13125550100", "+1312", "+13120", "+1313", None, "+999999999999999", "+0"])
@given(st.one_of(st.lists(_E164, min_size=1, max_size=40),
                 st.lists(_ANY, min_size=1, max_size=40)))
def test_called_key_orders_as_the_text_or_refuses(called: list[str | None]) -> None:
    # The integer key (str.to_integer, padded by a power of ten) sorts exactly as the text
    # when every value is "+" and 1-15 digits; anything else ("++1", "+-1", 16 digits, a
    # space, a non-ASCII digit) makes it give up, and the store sorts on the text instead.
    import re

    frame = pl.DataFrame({"called_e164": pl.Series(called, dtype=pl.String)})
    key = layout._called_key(frame)
    e164 = [c for c in called if c is not None]
    if not all(re.fullmatch(r"\+[0-9]{1,15}", c) for c in e164):
        assert key is None
        return
    assert key is not None and key.null_count() == called.count(None)
    pairs = sorted((k, c) for k, c in zip(key.to_list(), called, strict=True) if c is not None)
    assert [c for _, c in pairs] == sorted(e164)
    assert len({k for k, _ in pairs}) == len(set(e164))  # equal keys only for equal text
