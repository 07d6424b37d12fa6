import pyarrow as pa

from tracehop.schema import LEG_SCHEMA, conform


def test_conform_fills_missing_columns_with_nulls_and_orders_them():
    t = pa.table({"called_e164": ["+13125550100"], "leg_id": ["a"],
                  "start_utc": pa.array([0], pa.timestamp("us", tz="UTC"))})
    out = conform(t)
    assert out.schema == LEG_SCHEMA
    assert out.column("called_e164").to_pylist() == ["+13125550100"]
    assert out.column("calling_e164").to_pylist() == [None]
