"""The pieces of the Delta Lake protocol that tracehop writes itself.

Spec followed: Delta Transaction Log Protocol (github.com/delta-io/delta, PROTOCOL.md), reader
version 1 / writer version 2, no table features. We write the log ourselves (decision in
docs/decisions.md, "Store: Delta Lake log written by tracehop") so that the Parquet data files
can be written by pyarrow with the page layout the lookups need; this module holds only the
JSON shapes of the actions:

- ``protocol`` and ``metaData`` (PROTOCOL.md "Protocol Evolution", "Change Metadata"), with the
  ``schemaString`` in Delta's JSON schema form ("Schema Serialization Format");
- ``add`` / ``remove`` (PROTOCOL.md "Add File and Remove File"), with per-file statistics
  ("Per-file Statistics": numRecords, minValues, maxValues, nullCount);
- ``commitInfo`` (PROTOCOL.md "Commit Provenance Information"): free-form, so tracehop keeps
  its own bookkeeping (ingested files, reject files, counts) under the key ``tracehop``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import pyarrow as pa

from tracehop.errors import StoreError

READER_VERSION: Final = 1
WRITER_VERSION: Final = 2
PARTITION_COLUMN: Final = "day"

#: Columns with min/max statistics in every ``add`` action: the lookup keys, so that any Delta
#: reader (Spark, delta-rs, DuckDB's delta extension) can skip files on them.
STATS_COLUMNS: Final[tuple[str, ...]] = ("called_e164", "start_utc", "calling_e164")

#: Table properties. Log clean-up must stay off: tracehop's bookkeeping (ingested files, reject
#: files) lives in commitInfo, which checkpoints do not carry.
TABLE_CONFIGURATION: Final[dict[str, str]] = {
    "delta.enableExpiredLogCleanup": "false",
    "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS),
}


def _delta_type(t: pa.DataType) -> str:
    """Delta primitive type name for an Arrow type (PROTOCOL.md "Primitive Types")."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_int64(t):
        return "long"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_timestamp(t) and t.tz is not None:
        # "timestamp" = microseconds adjusted to UTC; timestamp_ntz would need reader v3.
        return "timestamp"
    raise StoreError(f"the store cannot hold Arrow type {t} in a Delta table")


def schema_string(schema: pa.Schema) -> str:
    """The Delta ``schemaString`` for ``schema`` plus the ``day`` partition column."""
    fields: list[dict[str, Any]] = [
        {"name": f.name, "type": _delta_type(f.type), "nullable": bool(f.nullable), "metadata": {}}
        for f in schema
    ]
    fields.append({"name": PARTITION_COLUMN, "type": "date", "nullable": False, "metadata": {}})
    return json.dumps({"type": "struct", "fields": fields}, separators=(",", ":"))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def protocol_action() -> dict[str, Any]:
    return {"protocol": {"minReaderVersion": READER_VERSION, "minWriterVersion": WRITER_VERSION}}


def metadata_action(schema: pa.Schema) -> dict[str, Any]:
    return {
        "metaData": {
            "id": str(uuid.uuid4()),
            "name": "tracehop_legs",
            "description": "tracehop call-leg store (one row per call leg, DESIGN.md §3)",
            "format": {"provider": "parquet", "options": {}},
            "schemaString": schema_string(schema),
            "partitionColumns": [PARTITION_COLUMN],
            "configuration": dict(TABLE_CONFIGURATION),
            "createdTime": now_ms(),
        }
    }


def _stat_value(v: Any, floor: bool) -> Any:
    """JSON form of a min/max value. Timestamps go to milliseconds (what Spark parses),
    rounded outwards so the bounds stay true: min floors, max ceils."""
    if isinstance(v, datetime):
        us = v.microsecond
        ms = us // 1000 if floor else -(-us // 1000)
        v = v.replace(microsecond=0)
        base = v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        if ms == 1000:  # ceiling crossed into the next second
            nxt = (v + timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            return f"{nxt}.000Z"
        return f"{base}.{ms:03d}Z"
    return v


def file_stats(table: pa.Table) -> dict[str, Any]:
    """Delta per-file statistics for the columns in :data:`STATS_COLUMNS`."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in STATS_COLUMNS:
        col = table.column(name)
        nulls[name] = col.null_count
        if col.null_count == len(col):
            continue
        import pyarrow.compute as pc  # lazily: see tracehop/store/layout.py

        mm = pc.min_max(col)
        mins[name] = _stat_value(mm["min"].as_py(), floor=True)
        maxs[name] = _stat_value(mm["max"].as_py(), floor=False)
    return {
        "numRecords": table.num_rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    }


def add_action(
    path: str, day: date, size: int, stats: dict[str, Any], *, data_change: bool
) -> dict[str, Any]:
    return {
        "add": {
            "path": path,
            "partitionValues": {PARTITION_COLUMN: day.isoformat()},
            "size": size,
            "modificationTime": now_ms(),
            "dataChange": data_change,
            "stats": json.dumps(stats, separators=(",", ":")),
        }
    }


def remove_action(path: str, day: date, size: int, *, data_change: bool) -> dict[str, Any]:
    return {
        "remove": {
            "path": path,
            "deletionTimestamp": now_ms(),
            "dataChange": data_change,
            "extendedFileMetadata": True,
            "partitionValues": {PARTITION_COLUMN: day.isoformat()},
            "size": size,
        }
    }


def commit_info_action(
    operation: str, parameters: dict[str, Any], tracehop: dict[str, Any]
) -> dict[str, Any]:
    return {
        "commitInfo": {
            "timestamp": now_ms(),
            "operation": operation,
            "operationParameters": {k: json.dumps(v) for k, v in parameters.items()},
            "engineInfo": "tracehop",
            "isBlindAppend": operation == "WRITE",
            "tracehop": tracehop,
        }
    }
