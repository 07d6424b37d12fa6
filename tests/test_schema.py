import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehop.schema import _NULLS_KEPT, LEG_SCHEMA, conform, constant, nulls


def test_conform_fills_missing_columns_with_nulls_and_orders_them():
    t = pa.table({"called_e164": ["+13125550100"], "leg_id": ["a"],
                  "start_utc": pa.array([0], pa.timestamp("us", tz="UTC"))})
    out = conform(t)
    assert out.schema == LEG_SCHEMA
    assert out.column("called_e164").to_pylist() == ["+13125550100"]
    assert out.column("calling_e164").to_pylist() == [None]


def test_nulls_are_shared_slices_of_the_right_type_and_length():
    big = nulls(1000, pa.string())
    small = nulls(10, pa.string())
    assert (len(big), len(small)) == (1000, 10)
    assert big.null_count == 1000 and small.null_count == 10
    assert small.type == pa.string() and nulls(5, pa.timestamp("us", "UTC")).type == pa.timestamp(
        "us", "UTC")
    # The smaller one is a view of the kept array: no new buffers.
    assert small.buffers()[1].address == nulls(20, pa.string()).buffers()[1].address
    # Past the kept length a fresh array is made; it is as null as the others.
    huge = nulls(_NULLS_KEPT + 1, pa.int8())
    assert len(huge) == huge.null_count == _NULLS_KEPT + 1
    # Written and read back through Parquet like any column.
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": nulls(7, pa.string())}), buf)
    assert pq.read_table(io.BytesIO(buf.getvalue())).column("x").to_pylist() == [None] * 7


@pytest.mark.parametrize("value", ["", "setup", "exactly12byt", "/var/log/asterisk/Master.csv",
                                   "UTC-05:00 (inferred from uniqueid)", "Zürich ☎"])
def test_constant_arrays_hold_the_value_inline_or_by_reference(value: str) -> None:
    # Up to 12 bytes the value sits in each view, longer ones point at one copy of the text.
    a = constant(value, 9)
    a.validate(full=True)
    assert a.type == pa.string_view() and a.to_pylist() == [value] * 9
    assert constant(value, 3).to_pylist() == [value] * 3  # a slice of the same array
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": constant(value, 5)}), buf)
    assert pq.read_table(io.BytesIO(buf.getvalue())).column("x").to_pylist() == [value] * 5


def test_constant_columns_finds_only_per_file_columns_with_one_value() -> None:
    import polars as pl

    from tracehop.store.layout import constant_columns

    frame = pl.DataFrame({"called_e164": ["+13125550100"] * 3, "direction": ["inbound"] * 3,
                          "source_file": ["a.csv"] * 3, "format": ["x", "y", "x"],
                          "source_tz": ["UTC", None, "UTC"]}).with_columns(
        pl.lit("setup").alias("time_basis"))
    # direction and called_e164 are not per-file columns even when they hold one value; a
    # column with two values or a null is not a constant.
    assert constant_columns(frame) == {"source_file": "a.csv", "time_basis": "setup"}
    assert constant_columns(frame.head(0)) == {}
