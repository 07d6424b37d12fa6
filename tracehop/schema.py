"""The canonical call-leg record (DESIGN.md §3), defined once as an Arrow schema.

One row is one call leg as the provider saw it. Raw values stay beside the normalised ones,
because an answer must show the record as it was. Every parser (CDR profile or SIP capture)
produces a table with exactly :data:`LEG_SCHEMA`; :func:`conform` fills the columns a source
does not have with nulls and casts the rest, so that no parser has to list all of them.

Rejected records have their own, much smaller schema (:data:`REJECT_SCHEMA`): the source file,
the line (or frame), the reason, and the raw text, so that nothing is ever dropped silently.
"""

from __future__ import annotations

import threading
from typing import Final, Literal

import pyarrow as pa

UTC_US: Final = pa.timestamp("us", tz="UTC")

Direction = Literal["inbound", "outbound", "unknown"]
DIRECTIONS: Final[tuple[str, ...]] = ("inbound", "outbound", "unknown")

Disposition = Literal["answered", "no_answer", "busy", "failed", "cancelled", "unknown"]
DISPOSITIONS: Final[tuple[str, ...]] = (
    "answered",
    "no_answer",
    "busy",
    "failed",
    "cancelled",
    "unknown",
)

#: What the vendor's start time means. Most CDRs stamp call setup (the INVITE); a few only
#: carry answer or end times, and the matcher widens its window accordingly.
TimeBasis = Literal["setup", "answer", "end"]

LEG_FIELDS: Final[list[pa.Field]] = [
    # -- identity ---------------------------------------------------------------------------
    pa.field("leg_id", pa.string(), nullable=False),  # hash(file content id, record position)
    pa.field("source", pa.string()),  # the feed's name, given by the provider (--source)
    pa.field("format", pa.string()),  # profile name, e.g. "asterisk_cdr_csv"
    pa.field("source_file", pa.string()),
    pa.field("source_record", pa.int64()),  # 1-based line number, or frame number in a capture
    # -- time -------------------------------------------------------------------------------
    pa.field("start_utc", UTC_US, nullable=False),  # call setup / INVITE time
    pa.field("answer_utc", UTC_US),
    pa.field("end_utc", UTC_US),
    pa.field("time_basis", pa.string()),  # setup | answer | end
    pa.field("source_tz", pa.string()),  # IANA zone used to read local times, or "UTC"
    pa.field("time_ambiguous", pa.bool_()),  # local time fell in a repeated (DST) hour
    # -- numbers ----------------------------------------------------------------------------
    pa.field("called_e164", pa.string()),
    pa.field("called_raw", pa.string()),
    pa.field("calling_e164", pa.string()),
    pa.field("calling_raw", pa.string()),
    pa.field("pai_raw", pa.string()),
    pa.field("pai_e164", pa.string()),
    pa.field("ruri_raw", pa.string()),
    pa.field("diversion_raw", pa.string()),
    pa.field("dialed_raw", pa.string()),  # before translation
    # -- hand-off ---------------------------------------------------------------------------
    pa.field("direction", pa.string()),  # inbound | outbound | unknown
    pa.field("ingress_trunk", pa.string()),
    pa.field("ingress_ip", pa.string()),
    pa.field("egress_trunk", pa.string()),
    pa.field("egress_ip", pa.string()),
    pa.field("account", pa.string()),
    # -- correlation ------------------------------------------------------------------------
    pa.field("call_id", pa.string()),  # SIP Call-ID
    pa.field("correlation_id", pa.string()),  # global call id, linkedid, b-leg uuid
    # -- outcome ----------------------------------------------------------------------------
    pa.field("duration_s", pa.float64()),
    pa.field("billsec_s", pa.float64()),
    pa.field("disposition", pa.string()),
    pa.field("cause_raw", pa.string()),
    # -- STIR/SHAKEN ------------------------------------------------------------------------
    pa.field("attest", pa.string()),
    pa.field("origid", pa.string()),
    pa.field("orig_tn", pa.string()),
    pa.field("dest_tn", pa.string()),
    pa.field("iat_utc", UTC_US),
    pa.field("x5u", pa.string()),
    pa.field("signer_spc", pa.string()),
    pa.field("verstat", pa.string()),
    pa.field("identity_raw", pa.string()),
    pa.field("stir_verified", pa.bool_()),  # null: not checked; false: checked and failed
    # -- evidence ---------------------------------------------------------------------------
    pa.field("raw_record", pa.string()),  # the record as it stood in the source, if kept
]

LEG_SCHEMA: Final = pa.schema(LEG_FIELDS)
LEG_COLUMNS: Final[list[str]] = [f.name for f in LEG_FIELDS]

#: Columns a point lookup needs; the matcher projects only these (call_id and raw_record are
#: wide and cost most of the bytes read, see research/perf.md §2).
LOOKUP_COLUMNS: Final[list[str]] = [c for c in LEG_COLUMNS if c not in ("raw_record",)]

#: Low-cardinality columns that get dictionary encoding in the store (DESIGN.md §4). Every
#: other column is written plain, because a dictionary page on a high-cardinality column must
#: be read by every lookup.
DICTIONARY_COLUMNS: Final[list[str]] = [
    "source",
    "format",
    "source_file",
    "time_basis",
    "source_tz",
    "direction",
    "ingress_trunk",
    "egress_trunk",
    "ingress_ip",
    "egress_ip",
    "disposition",
    "attest",
    "verstat",
    "x5u",
    "signer_spc",
]

REJECT_FIELDS: Final[list[pa.Field]] = [
    pa.field("source", pa.string()),
    pa.field("format", pa.string()),
    pa.field("source_file", pa.string(), nullable=False),
    pa.field("source_record", pa.int64()),  # line or frame; null when the whole file failed
    pa.field("reason", pa.string(), nullable=False),
    pa.field("raw_record", pa.string()),
    pa.field("rejected_at", UTC_US),
]
REJECT_SCHEMA: Final = pa.schema(REJECT_FIELDS)


def conform(table: pa.Table, schema: pa.Schema = LEG_SCHEMA) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns, in order, nulls where absent.

    Extra columns are dropped; present columns are cast (safe casts only, so a parser bug that
    puts text into a timestamp column fails loudly here instead of in the store).
    """
    n = table.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        else:
            arrays.append(nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


_NULLS: dict[pa.DataType, pa.Array] = {}
_NULLS_LOCK = threading.Lock()
#: Longest null array kept per type (32 MiB for a 64-bit type: pyarrow allocates one zeroed
#: buffer for the values and the validity bits); longer ones are made each time.
_NULLS_KEPT: Final = 1 << 22


def nulls(n: int, type: pa.DataType) -> pa.Array:
    """An array of ``n`` nulls of ``type``, as :func:`pyarrow.nulls` makes, but a slice of one
    array kept per type (the largest asked for so far) instead of new zero-filled buffers.

    Why: a call-leg row group of a CSV format has ~25 columns the format never fills, and an
    ingest makes them for every batch and every row group it writes; ``pa.nulls`` zero-fills
    fresh memory each time (offsets and validity bits), which cost ~2% of a 10M-row Asterisk
    ingest's CPU in ``perf`` (``arrow::MakeArrayOfNull``, its memset and the page faults).
    Arrays are immutable, so the slices are safe to share between threads."""
    if n > _NULLS_KEPT:
        return pa.nulls(n, type=type)
    with _NULLS_LOCK:
        have = _NULLS.get(type)
        if have is None or len(have) < n:
            have = pa.nulls(max(n, min(2 * len(have or ()), _NULLS_KEPT)), type=type)
            _NULLS[type] = have
    return have if len(have) == n else have.slice(0, n)


#: Columns that hold one value for all the legs of a source file (how it was read, not what
#: a record says). The writer keeps such a column out of its sorted copy and adds it to each
#: row group from :func:`constant` (tracehop.store.layout.constant_columns).
PER_FILE_COLUMNS: Final[tuple[str, ...]] = (
    "source", "format", "source_file", "time_basis", "source_tz")

_CONSTANTS: dict[str, pa.Array] = {}
_CONSTANTS_LOCK = threading.Lock()
#: Values whose arrays are kept, oldest dropped first: a file has ~4 per-file values and an
#: ingest writes one or two files' days at a time. Each array is at most one row group long
#: (16 MiB of views), so a long-lived process keeps at most ~128 MiB here.
_CONSTANTS_HELD: Final = 8
#: Arrow's view layout (columnar format, "Variable-size Binary View Layout"): 16 bytes per
#: value; a value of at most 12 bytes is stored inline after its length, a longer one as
#: length, its first 4 bytes, buffer index, offset (all little-endian int32).
VIEW_INLINE: Final = 12


def constant(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value`` as a ``string_view`` array: a slice of one array kept per value
    (16 bytes of view per row, all pointing at one copy of the text), like :func:`nulls`.

    Why: a per-file column (``source_file``, ``format``, ...) materialised for every leg costs
    16 bytes a row in each copy the writer makes (the hand-over to Arrow, its sorted copy),
    which on this 2-core VM are mostly first-touch page faults: 80 MB per 1M legs and copy for
    the five :data:`PER_FILE_COLUMNS` (benchmarks/RESULTS.md, "Notes (ingest memory,
    2026-12-07)")."""
    import numpy as np

    with _CONSTANTS_LOCK:
        have = _CONSTANTS.get(value)
        if have is None or len(have) < n:
            data = value.encode()
            view = np.zeros(16, dtype=np.uint8)
            view[:4] = np.frombuffer(len(data).to_bytes(4, "little"), dtype=np.uint8)
            if len(data) <= VIEW_INLINE:
                view[4 : 4 + len(data)] = np.frombuffer(data, dtype=np.uint8)
            else:  # prefix, then buffer 0 at offset 0
                view[4:8] = np.frombuffer(data[:4], dtype=np.uint8)
            size = max(n, min(2 * len(have or ()), _NULLS_KEPT))
            views = pa.py_buffer(np.tile(view, size))
            have = pa.Array.from_buffers(
                pa.string_view(), size, [None, views, pa.py_buffer(data)])
            if len(_CONSTANTS) >= _CONSTANTS_HELD:
                _CONSTANTS.pop(next(iter(_CONSTANTS)))
            _CONSTANTS[value] = have
    return have if len(have) == n else have.slice(0, n)


def empty_legs() -> pa.Table:
    """An empty table with :data:`LEG_SCHEMA`."""
    return LEG_SCHEMA.empty_table()


def empty_rejects() -> pa.Table:
    """An empty table with :data:`REJECT_SCHEMA`."""
    return REJECT_SCHEMA.empty_table()
