"""Ribbon (Sonus) SBC Core accounting files (``*.ACT``): START, STOP and ATTEMPT records.

Layout: Ribbon "SBC Core CDR Field Descriptions" (Accounting Records Summary: the position of
every field in each record type) and research/cdr_formats.md §9. One record per line,
comma-separated; the first field is the record type. A field holding several values
("Ingress Protocol Variant Specific Data", media stats) is a **quoted sub-record**, split
again on ``,``: for SIP its second sub-field is the Call-ID. The first line of a file is a
file header and the last may be ``File administratively closed``: neither is a record.
Field counts grow with each release, so positions are read from the front and trailing extra
fields are tolerated.

Record types (positions are 1-based, per type):

* ``START`` (call established): zone 5, date 6, time 7, ticks setup→service 10, calling 15,
  called 16, ingress trunk group 29, ingress PVSD 42, dialed 50, incoming calling 56,
  ingress local/remote signalling IP 102/103.
* ``STOP`` (established call released): ticks setup→service 10, disconnect date/time 11/12,
  call service duration 14, disconnect reason 15, calling/called 20/21, called before
  translation #1 24, route selected 31, egress remote IP 33, ingress trunk group 34, ingress
  PVSD 52, carrier code of the iTG owner 57, dialed 60, egress trunk group 68, incoming
  calling 70, GCID 82, ingress local/remote IP 125/126.
* ``ATTEMPT`` (never established): disconnect time 10, reason 12, calling/called 17/18,
  called before translation #1 21, route selected 28, egress remote IP 30, ingress trunk
  group 31, ingress PVSD 45, carrier code of the iTG owner 50, dialed 53, disconnect
  initiator 57, egress trunk group 58, incoming calling 60, disconnect date 105, ingress
  local/remote IP 115/116, final attempt 146. (The egress side of an attempt is the route
  that failed: kept so that an attempt shows where the call was sent.)

Numbers: each of Calling, Called, Dialed and Incoming Calling Number has its Nature of Address
(START 40/41/64/96, STOP 50/51/78/115, ATTEMPT 43/44/68/107: Calling/Called Party NOA, Dialed
Number NOA, Incoming Calling Number NOA). The reader writes it beside the number
(``<column>_noa``, :data:`NOA_CODES`), and an international one is normalised with its
country code: ``442079460958`` with NOA 4 is +44 20 7946 0958, not a US number.

Times are ``MM/DD/YYYY`` + ``HH:MM:SS.s`` in the Node Time Zone (field 5; :func:`node_zone`:
the offset written in it decides, a US region name adds its DST rules only when its standard
offset is that offset); durations and "Ticks ..." are 10 ms ticks. The answer time is
start + ticks(setup→service established).

One call, one leg (the SBC writes a record per route attempt; research/cdr_formats.md
"Many rows per call"): a START whose STOP (same Accounting ID) is in the same file is folded
into that STOP (the STOP repeats every START field); a START without its STOP (call still up
when the file closed) is a leg of its own with no end. An ATTEMPT whose Final Attempt
Indicator (field 146) is ``0`` is one failed route of a call the SBC then tried on another
route: it is folded into the record that ends that call in the file (the STOP when a later
route answered, the final ATTEMPT when every route failed, the START of a call still up), so
a lookup never answers with a failed attempt of an answered call. A call whose non-final
ATTEMPTs are all the file holds (it closed mid-routing) keeps the latest one. Records are
folded within one file only. INTERMEDIATE and EVENT records are not call legs and are
rejected with that reason, so the counts still add up.

Speed: records of one type and release have one field count, so each type is parsed by
pyarrow's CSV reader in bulk (only the wanted positions materialised); a record with another
count (a newer release's longer record) takes Python's csv module.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from tracehop.errors import UnreadableFileError
from tracehop.ingest.carrier_records import rejects_frame, split_csv
from tracehop.ingest.formats import register_reader
from tracehop.ingest.readers import LINE, NOA_SUFFIX, RAW

READER: Final = "ribbon_act"
CHUNK_BYTES: Final = 64 << 20

#: column -> 1-based position, per record type (SBC Core CDR Field Descriptions).
POSITIONS: Final[dict[str, dict[str, int]]] = {
    "START": {
        "gateway": 2, "accounting_id": 3, "node_tz": 5, "start_date": 6, "start_clock": 7,
        "setup_to_service_ticks": 10, "calling_number": 15, "called_number": 16,
        "ingress_tg": 29, "ingress_pvsd": 42, "dialed_number": 50,
        "incoming_calling_number": 56, "ingress_local_ip": 102, "ingress_remote_ip": 103,
        "calling_number_noa": 40, "called_number_noa": 41, "dialed_number_noa": 64,
        "incoming_calling_number_noa": 96,
    },
    "STOP": {
        "gateway": 2, "accounting_id": 3, "node_tz": 5, "start_date": 6, "start_clock": 7,
        "setup_to_service_ticks": 10, "disconnect_date": 11, "disconnect_clock": 12,
        "service_ticks": 14, "disconnect_reason": 15, "calling_number": 20,
        "called_number": 21, "called_before_translation": 24, "route_selected": 31,
        "egress_remote_ip": 33, "ingress_tg": 34, "ingress_pvsd": 52, "itg_carrier": 57,
        "dialed_number": 60, "egress_tg": 68, "incoming_calling_number": 70, "gcid": 82,
        "ingress_local_ip": 125, "ingress_remote_ip": 126,
        "calling_number_noa": 50, "called_number_noa": 51, "dialed_number_noa": 78,
        "incoming_calling_number_noa": 115,
    },
    "ATTEMPT": {
        "gateway": 2, "accounting_id": 3, "node_tz": 5, "start_date": 6, "start_clock": 7,
        "disconnect_clock": 10, "disconnect_reason": 12, "calling_number": 17,
        "called_number": 18, "called_before_translation": 21, "route_selected": 28,
        "egress_remote_ip": 30, "ingress_tg": 31, "ingress_pvsd": 45, "itg_carrier": 50,
        "dialed_number": 53, "disconnect_initiator": 57, "egress_tg": 58,
        "incoming_calling_number": 60, "disconnect_date": 105,
        "ingress_local_ip": 115, "ingress_remote_ip": 116, "final_attempt": 146,
        "calling_number_noa": 43, "called_number_noa": 44, "dialed_number_noa": 68,
        "incoming_calling_number_noa": 107,
    },
}
NOT_LEGS: Final = {
    "INTERMEDIATE": "an INTERMEDIATE record (interim accounting of a call that is still up), "
    "not a call leg; the call's STOP record carries it",
    "EVENT": "an EVENT record (a node event), not a call leg",
}
TRAILER: Final = re.compile(r"(?i)^\s*file administratively closed")
OUT_COLUMNS: Final = (
    "record_type", "gateway", "accounting_id", "node_tz", "zone", "start_time", "answer_time",
    "disconnect_time", "setup_to_service_ticks", "service_ticks", "disconnect_reason",
    "calling_number", "called_number", "called_before_translation", "route_selected",
    "egress_remote_ip", "ingress_tg", "ingress_pvsd", "call_id", "itg_carrier",
    "dialed_number", "egress_tg", "incoming_calling_number", "gcid", "ingress_local_ip",
    "ingress_remote_ip", "disconnect_initiator", "final_attempt",
    *(f"{n}{NOA_SUFFIX}" for n in ("calling_number", "called_number", "dialed_number",
                                  "incoming_calling_number")),
)
#: Nature of Address values -> readers.NOA_VALUES. Ribbon writes the ISUP indicator of the
#: number (ITU-T Q.763 §3.9/§3.10: 1 subscriber, 2 unknown, 3 national (significant), 4
#: international; ANSI T1.113 adds 0x71-0x73, the same with operator requested); its own
#: configuration names (Digit Parameter Handling, "Nature Of Address": subscriber, national,
#: international, nationalOperator, ...) are read too.
NOA_CODES: Final = {
    "1": "subscriber", "2": "unknown", "3": "national", "4": "international",
    "113": "subscriber", "114": "national", "115": "international",
}
_NOA_WORDS: Final = re.compile(r"(?i)^(international|national|subscriber|unknown)")

#: Ribbon names zones by offset and region (``GMT-05:00-Eastern``, ``gmtMinus05-Eastern-US``,
#: ``GMT+02:00-Eastern-Europe``). The offset is that of standard time. A US region maps to its
#: IANA zone (DST included): region word -> (zone, standard-time offset in hours).
_REGIONS: Final = {
    "eastern": ("America/New_York", -5), "central": ("America/Chicago", -6),
    "mountain": ("America/Denver", -7), "pacific": ("America/Los_Angeles", -8),
    "alaska": ("America/Anchorage", -9), "hawaii": ("Pacific/Honolulu", -10),
    "arizona": ("America/Phoenix", -7), "atlantic": ("America/Halifax", -4),
}
#: Words that may stand beside a US region word without naming another region.
_US_WORDS: Final = frozenset({"us", "usa", "time", "standard"})
_OFFSET_ZONE: Final = re.compile(r"(?i)^(?:gmt|utc)\s*(minus|plus|[-+])?\s*(\d{1,2})(?::?(\d{2}))?")
_WORDS: Final = re.compile(r"[^\W_]+")


def _us_region(text: str) -> tuple[str, int] | None:
    """The US zone that ``text`` (the value without its offset) names, when it names nothing
    but a US region: ``Eastern``, ``Eastern-US``, ``US Eastern Time``; not ``Eastern-Europe``
    or ``Central-America``, which are other regions that share the word."""
    words = [w.lower() for w in _WORDS.findall(text)]
    regions = [w for w in words if w in _REGIONS]
    if len(regions) != 1 or any(w not in _REGIONS and w not in _US_WORDS for w in words):
        return None
    return _REGIONS[regions[0]]


def node_zone(value: str | None) -> str | None:
    """The IANA zone for a Node Time Zone value, or None when it cannot be told (then the
    ingest's --tz applies, and without it the ingest stops with a ZoneError).

    The offset written in the value decides: ``GMT+02:00-Eastern-Europe`` is UTC+02:00 (a
    fixed offset, ``Etc/GMT-2``), whatever words follow it. Only when the rest of the value
    names a US region alone *and* that region's standard time is that offset
    (``GMT-05:00-Eastern``, ``gmtMinus06-Central-US``) is the region's IANA zone used, so that
    summer records are read on daylight time as the node writes them; an offset that
    contradicts the region (``GMT+05:00-Eastern``) is read as the offset. Region words alone
    (``Eastern``, ``US-Pacific``) name their zone. An offset that is not a whole hour
    (``GMT+05:30-Kolkata``) has no fixed-offset IANA zone: None."""
    if not value:
        return None
    v = value.strip()
    if "/" in v or v.upper() in ("UTC", "GMT"):
        return "UTC" if v.upper() in ("UTC", "GMT") else v
    m = _OFFSET_ZONE.match(v)
    if m is None:
        region = _us_region(v)
        return region[0] if region else None
    if (m.group(3) or "00") != "00":
        return None
    hours = int(m.group(2))
    sign = -1 if (m.group(1) or "+").lower() in ("minus", "-") else 1
    region = _us_region(v[m.end():])
    if region is not None and region[1] == sign * hours:
        return region[0]
    # Etc/GMT zones have the POSIX sign: Etc/GMT+5 is UTC-05:00.
    return "UTC" if hours == 0 else f"Etc/GMT{'+' if sign < 0 else '-'}{hours}"


def _noa(value: str) -> str | None:
    """A Nature of Address as written -> ``international``/``national``/``subscriber``/
    ``unknown`` (:data:`NOA_CODES`), None when empty or another kind (network-specific...)."""
    v = value.strip()
    m = _NOA_WORDS.match(v)
    return NOA_CODES.get(v.lstrip("0") or "0") or (m.group(1).lower() if m else None)


@dataclass
class _Typed:
    lines: list[bytes]
    numbers: list[int]


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _by_position(fields: list[str], rtype: str) -> dict[str, str | None]:
    return {
        name: (fields[pos - 1] if pos <= len(fields) else None)
        for name, pos in POSITIONS[rtype].items()
    }


def _parse_type(rtype: str, typed: _Typed) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Bulk-parse the records of one type; returns rows (named columns + _line/_raw) and
    rejects for records too short to hold the wanted positions."""
    pos = POSITIONS[rtype]
    need = max(pos.values())
    first = split_csv(_decode(typed.lines[0]))
    width = max(len(first), need)
    names = [f"f{i}" for i in range(1, width + 1)]
    wanted = {f"f{p}": name for name, p in pos.items()}
    bad: dict[bytes, int] = {}

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad[row.text.encode("utf-8", "surrogateescape")] = row.actual_columns
        return "skip"

    blob = b"\n".join(typed.lines)
    table = pacsv.read_csv(
        io.BytesIO(blob),
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20,
                                       encoding="latin-1" if not _utf8(blob) else "utf8"),
        parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True,
                                         newlines_in_values=False, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in wanted},
            include_columns=list(wanted), strings_can_be_null=False,
        ),
    )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.rename(wanted)
    rejects: list[tuple[int, str, str]] = []
    good = typed
    extra_rows: list[dict[str, str | None]] = []
    extra_lines: list[int] = []
    extra_raw: list[str] = []
    if bad:
        keep_l: list[bytes] = []
        keep_n: list[int] = []
        for line, no in zip(typed.lines, typed.numbers, strict=True):
            if line.rstrip(b"\r") in bad or line in bad:
                text = _decode(line).rstrip("\r")
                fields = split_csv(text)
                if len(fields) < need:
                    rejects.append((no, f"{rtype} record with {len(fields)} fields; this "
                                    f"layout needs at least {need} (a truncated record?)", text))
                else:
                    extra_rows.append(_by_position(fields, rtype))
                    extra_lines.append(no)
                    extra_raw.append(text)
            else:
                keep_l.append(line)
                keep_n.append(no)
        good = _Typed(keep_l, keep_n)
    if frame.height != len(good.lines):
        raise UnreadableFileError(
            f"cannot align the {rtype} records of this Ribbon file with their lines",
            hint="Check that the file is a complete .ACT file",
        )
    raws = pa.array(good.lines, type=pa.binary())
    try:
        raw_col = pl.Series(RAW, raws.cast(pa.string()))
    except pa.ArrowInvalid:
        raw_col = pl.Series(RAW, [_decode(b) for b in good.lines], dtype=pl.String)
    frame = frame.with_columns(
        pl.Series(LINE, good.numbers, dtype=pl.Int64), raw_col.str.strip_chars_end("\r")
    )
    if extra_rows:
        extra = pl.DataFrame(
            {c: [r.get(c) for r in extra_rows] for c in pos},
            schema={c: pl.String for c in pos},
        ).with_columns(pl.Series(LINE, extra_lines, dtype=pl.Int64),
                       pl.Series(RAW, extra_raw, dtype=pl.String))
        frame = pl.concat([frame, extra], how="diagonal")
    return frame.with_columns(pl.lit(rtype).alias("record_type")), rejects


def _utf8(blob: bytes) -> bool:
    try:
        blob.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _derive(frame: pl.DataFrame) -> pl.DataFrame:
    """Combined timestamps, answer time, zone and Call-ID, as strings for the profile."""
    # Every position of every type: a file holding only START records (each call still up when
    # the file closed) has no disconnect date or clock, which the STOP/ATTEMPT ones give.
    every = {*OUT_COLUMNS, *(c for pos in POSITIONS.values() for c in pos)}
    missing = sorted(every - set(frame.columns))
    if missing:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)
    fmt = "%m/%d/%Y %H:%M:%S%.f"
    start = pl.concat_str([pl.col("start_date"), pl.col("start_clock")], separator=" ")
    disc = pl.concat_str([pl.col("disconnect_date"), pl.col("disconnect_clock")], separator=" ")
    ticks = pl.col("setup_to_service_ticks").str.strip_chars().cast(pl.Int64, strict=False)
    parsed = start.str.strptime(pl.Datetime("us"), fmt, strict=False)
    answer = pl.when((ticks > 0) & pl.col("record_type").is_in(["START", "STOP"])).then(
        (parsed + pl.duration(milliseconds=ticks * 10)).dt.strftime("%m/%d/%Y %H:%M:%S%.3f")
    )
    # Ingress PVSD for SIP: "SIP,<Call-ID>,..." (sub-field 2 is the Call-ID).
    call_id = pl.col("ingress_pvsd").str.extract(r"^\s*SIP[^,]*,([^,]+)", 1)
    zones = frame.get_column("node_tz").unique().to_list()
    zone_map = {z: node_zone(z) for z in zones if z is not None}
    noa_cols = [c for c in OUT_COLUMNS if c.endswith(NOA_SUFFIX)]
    noa_map = {v: _noa(v) for c in noa_cols for v in frame.get_column(c).unique().to_list()
               if v is not None}
    return frame.with_columns(
        *[pl.col(c).replace_strict(noa_map, default=None, return_dtype=pl.String)
          for c in noa_cols],
        # An ATTEMPT was never established: no service time at all.
        pl.when(pl.col("record_type") == "ATTEMPT").then(pl.lit("0"))
        .otherwise(pl.col("service_ticks")).alias("service_ticks"),
        start.alias("start_time"),
        disc.alias("disconnect_time"),
        answer.alias("answer_time"),
        call_id.alias("call_id"),
        pl.col("node_tz").replace_strict(zone_map, default=None, return_dtype=pl.String)
        .alias("zone"),
    )


def read_act(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        fh = path.open("rb")
    except OSError as e:
        raise UnreadableFileError(f"cannot read the file: {e.strerror}", path=path) from None
    frames: list[pl.DataFrame] = []
    rejects: list[tuple[int, str, str]] = []
    line_no = 0
    with fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            if not chunk.endswith(b"\n"):
                chunk += fh.readline()
            lines = chunk.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            typed: dict[str, _Typed] = {t: _Typed([], []) for t in POSITIONS}
            for line in lines:
                line_no += 1
                rtype = line[: line.find(b",")].strip().decode("latin-1").upper() if (
                    b"," in line) else ""
                bucket = typed.get(rtype)
                if bucket is not None:
                    bucket.lines.append(line)
                    bucket.numbers.append(line_no)
                    continue
                text = _decode(line).rstrip("\r")
                if not text.strip() or TRAILER.match(text):
                    continue  # blank line or the "File administratively closed" trailer
                if line_no == 1:
                    continue  # the file header line (node, release, file open time)
                reason = NOT_LEGS.get(rtype) or (
                    f"not a Ribbon accounting record: the first field {rtype or text[:20]!r} is "
                    "not START, STOP or ATTEMPT"
                )
                rejects.append((line_no, reason, text))
            for rtype, t in typed.items():
                if t.lines:
                    frame, rej = _parse_type(rtype, t)
                    frames.append(frame)
                    rejects.extend(rej)
    if not frames:
        rows = pl.DataFrame(schema={**{c: pl.String for c in OUT_COLUMNS},
                                    LINE: pl.Int64, RAW: pl.String})
        return rows, rejects_frame(rejects)
    rows = _one_leg_per_call(_derive(pl.concat(frames, how="diagonal")))
    return rows, rejects_frame(sorted(rejects))


def _one_leg_per_call(rows: pl.DataFrame) -> pl.DataFrame:
    """One call, one leg (module docstring): of the records of one Accounting ID in the file,
    keep the one that stands for the call. A START folds into its STOP. A non-final ATTEMPT
    (Final Attempt Indicator ``0``: a route attempt that failed before the SBC tried the next
    route) folds into the record that ends the call: its STOP, its final ATTEMPT, or its START
    when the call is still up; those repeat its ingress fields. Without any of them (the file
    closed while the call was still being routed) the latest non-final ATTEMPT is the leg. A
    record with no Accounting ID is never folded."""
    rtype = pl.col("record_type")
    has_id = pl.col("accounting_id").is_not_null() & (pl.col("accounting_id") != "")
    non_final = (rtype == "ATTEMPT") & (
        pl.col("final_attempt").str.strip_chars().fill_null("") == "0")
    stopped = rows.filter(has_id & (rtype == "STOP")).get_column("accounting_id")
    closed = rows.filter(has_id & ~non_final).get_column("accounting_id")
    last_try = pl.col(LINE) == pl.col(LINE).max().over("accounting_id")
    return rows.filter(
        ~(has_id & (rtype == "START") & pl.col("accounting_id").is_in(stopped.implode()))
        & ~(has_id & non_final & (pl.col("accounting_id").is_in(closed.implode()) | ~last_try))
    ).sort(LINE)


register_reader(READER, read_act)
