"""Reading an inquiry file: CSV or JSON lines, one inquiry per record (DESIGN.md §6).

CSV: a header naming at least ``called`` and ``time`` (``calling`` is expected and optional),
plus any of ``id``, ``window``, ``duration``, ``disposition``, ``received``; other columns are
echoed back in the answer. A ``date`` column beside a ``time`` that holds only a time of day
("Call Date", "Call Time", as traceback spreadsheets often split them) is joined to it; a
``date`` column alone may hold the whole date-time. Files follow RFC 4180 (quoted fields may
hold commas and line breaks), UTF-8 with or without a BOM. JSON lines: one object per line
with the same keys (an empty file: no inquiries); a file that is one JSON array of such
objects (as the HTTP API takes) is read too.

A bad record never stops the batch: each becomes an :class:`InquiryRow` with ``error`` set,
naming the line, the field and the fix, and ``respond`` answers it in its place. Only a file
that cannot be read at all (missing, not UTF-8, no header) raises.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tracehop.errors import InputError, InquiryError, UnreadableFileError
from tracehop.inquiry import Inquiry
from tracehop.timezones import in_zone, zone_problem

KNOWN = ("called", "calling", "time", "id", "window", "duration", "disposition", "received",
         "zone", "date")
REQUIRED = ("called", "time")

#: Header spellings accepted for each key, as :func:`_canonical` writes them (lower case, every
#: run of other characters one "_": "Date/Time (UTC)" is date_time_utc, "Called #" called).
ALIASES: dict[str, tuple[str, ...]] = {
    "called": ("called", "called_number", "called_tn", "dest", "destination", "to",
               "called_party", "called_party_number", "to_number", "dnis", "called_num"),
    "calling": ("calling", "calling_number", "calling_tn", "caller_id", "ani", "from",
                "calling_party", "calling_party_number", "from_number", "caller_id_number",
                "cli", "calling_num"),
    "time": ("time", "time_utc", "datetime", "date_time", "call_time", "timestamp",
             "date_time_utc", "datetime_utc", "call_date_time", "call_date_time_utc",
             "call_datetime", "date_time_of_call", "call_time_utc", "call_timestamp"),
    # the call's date when the time column holds only its time of day
    "date": ("date", "call_date", "date_utc", "call_date_utc", "date_of_call", "start_date"),
    "id": ("id", "inquiry_id", "traceback_id", "reference", "ref"),
    "window": ("window", "window_s"),
    "duration": ("duration", "duration_s"),
    "disposition": ("disposition",),
    "received": ("received", "received_at", "received_utc"),
    # the IANA zone of this record's times that carry no offset
    "zone": ("zone", "tz", "time_zone", "timezone"),
}


@dataclass(frozen=True)
class RowError:
    """Why one record could not be asked: the field at fault and a sentence with the fix."""

    field: str | None
    reason: str
    hint: str | None = None

    def to_dict(self, path: str | None, line: int) -> dict[str, Any]:
        return {"file": path, "line": line, "field": self.field, "reason": self.reason,
                "hint": self.hint}


@dataclass(frozen=True)
class InquiryRow:
    """One record of the inquiry file, parsed or rejected."""

    line: int  # 1-based line where the record starts
    inquiry: Inquiry | None
    error: RowError | None = None
    received: datetime | None = None  # when the inquiry reached us, if the file says
    raw: dict[str, Any] = field(default_factory=dict)  # the fields as they were read
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class InquiryFile:
    path: str
    format: str  # "csv" | "jsonl"
    rows: list[InquiryRow]

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.rows if r.error is not None)


def read_inquiries(path: str | Path, *, region: str = "US") -> InquiryFile:
    """Read every record of an inquiry file; bad records come back with ``error`` set."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UnreadableFileError(f"cannot read the inquiry file ({e.strerror})", path=p,
                                  hint="Check the path") from None
    legacy: str | None = None  # the line of the first byte that is not UTF-8, if any
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        if _detect(p, data[:4096].decode("latin-1")) == "jsonl":
            # JSON text exchanged between systems is UTF-8 (RFC 8259 §8.1): another encoding
            # is a broken feed, not a spreadsheet's choice.
            raise UnreadableFileError("the inquiry file is not UTF-8 text", path=p, line=line,
                                      hint="Write the JSON lines as UTF-8") from None
        # Excel on Windows saves "CSV" in the system's ANSI code page, Windows-1252 in the US.
        # The fields tracehop reads (numbers, times) are ASCII either way; only echoed free
        # text (a note, a name) holds other bytes, so the file is read, and said to be read so.
        text = _windows_1252(data)
        legacy = f"{p}:{line}"
    if not text.strip():
        if p.suffix.lower() in (".jsonl", ".ndjson"):
            # Zero lines is a valid JSON-lines file: an automated feed with no inquiries
            # today is answered with no answers, not an error exit (a CSV needs its header).
            return InquiryFile(path=str(p), format="jsonl", rows=[])
        raise UnreadableFileError("the inquiry file is empty", path=p,
                                  hint="Give a CSV with a header called,calling,time "
                                       "or JSON lines")
    fmt = _detect(p, text)
    if fmt == "jsonl":
        rows = _read_json_document(p, text, region)
        if rows is None:
            rows = list(_read_jsonl(text, region))
    else:
        rows = list(_read_csv(p, text, region))
    if legacy is not None:
        note = (f"the inquiry file is not UTF-8 (first at {legacy}): its text was read as "
                "Windows-1252; save it as \"CSV UTF-8\" if a value here looks wrong")
        rows = [replace(r, warnings=(*r.warnings, note)) if _non_ascii(r.raw) else r
                for r in rows]
    return InquiryFile(path=str(p), format=fmt, rows=rows)


def _windows_1252(data: bytes) -> str:
    """``data`` read as Windows-1252, the five bytes that code page leaves undefined read as
    Latin-1 (their C1 control), so that no byte is lost or refused; a UTF-8 byte-order mark
    cannot be there (the file is not UTF-8)."""
    return "".join(
        part.decode("cp1252", errors="strict") if i % 2 == 0 else part.decode("latin-1")
        for i, part in enumerate(re.split(rb"([\x81\x8d\x8f\x90\x9d]+)", data)))


def _non_ascii(fields: dict[str, Any]) -> bool:
    return any(not str(k).isascii() or (v is not None and not str(v).isascii())
               for k, v in fields.items())


def parse_record(fields: dict[str, Any], line: int, *, region: str = "US",
                 what: str = "column", zones: dict[str, str] | None = None) -> InquiryRow:
    """Turn one record's fields (keys already canonical) into an :class:`InquiryRow`.

    ``what`` names a field in messages: "column" (CSV) or "key" (JSON lines). ``zones``: the
    zone a column's header names for ``time`` or ``received`` (:func:`header_zone`), which a
    value without a zone or offset of its own is read in.
    """
    fields = _joined_date(fields)
    if zones and "date" in zones and "time" not in zones:
        zones = {**zones, "time": zones["date"]}  # "Date (UTC)", "Time": the time's zone
    own = str(fields.get("zone") or "").strip()
    if own:  # the record's own zone column wins over one its header names
        if (problem := zone_problem(own)) is not None:
            return InquiryRow(line, None, RowError(
                "zone", f"zone {own!r} cannot be read ({problem})",
                hint="Give an IANA zone name such as America/New_York"), raw=fields)
        zones = {"received": own}  # the time's: Inquiry.parse(zone=...)
    if zones:
        fields = {k: in_zone(str(v), zones[k]) if k in zones and v is not None
                  and str(v).strip() else v for k, v in fields.items()}
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        return InquiryRow(line, None, RowError(
            missing[0], f"missing {what} {missing[0]!r}",
            hint=f"Every inquiry needs {' and '.join(REQUIRED)}"), raw=fields)
    # an unnamed, empty column (a header's trailing comma) is not echoed as a "" key
    extra = {k: v for k, v in fields.items()
             if k not in KNOWN and (k != "" or (v is not None and str(v).strip()))}
    warnings: list[str] = []
    received: datetime | None = None
    rec = fields.get("received")
    if rec is not None and str(rec).strip():
        from tracehop.timezones import parse_instant

        try:
            received, naive = parse_instant(str(rec).strip())
            if naive:
                warnings.append(f"received time {rec!r} has no zone: read as UTC")
        except ValueError as e:
            warnings.append(f"received time {rec!r} is not a date-time tracehop reads ({e}): "
                            "the 24-hour clock counts from when the file was read")
    try:
        inq = Inquiry.parse(
            _text(fields.get("called")),
            _text(fields.get("time")),
            _text(fields.get("calling")),
            window=_text(fields.get("window")),
            id=_text(fields.get("id")),
            duration=_text(fields.get("duration")),
            disposition=_text(fields.get("disposition")),
            region=region,
            extra=extra,
            zone=own or None,
        )
    except InquiryError as e:
        return InquiryRow(line, None, RowError(e.field, e.message, e.hint), received=received,
                          raw=fields, warnings=tuple(warnings))
    return InquiryRow(line, inq, None, received=received, raw=fields, warnings=tuple(warnings))


#: A time of day with no date: 9:03:22, 09:03, 9:03:22.250 PM, 14:03:22 UTC, 09:03:22-05:00.
_TIME_OF_DAY = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:\s*[AaPp]\.?[Mm]\.?)?"
    r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+))?")
#: A date with no time: 2026-11-20, 11/20/2026, 20.11.2026, 2026/11/20.
_DATE_ONLY = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def _joined_date(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with a ``date`` column joined to a ``time`` that is a time of day only, or
    taken as the time when there is none (a ``date`` column holding the whole date-time).
    Anything else is left for the time's own reading to accept or refuse with its reason."""
    date = (_text(fields.get("date")) or "").strip()
    if not date:
        return fields
    time = (_text(fields.get("time")) or "").strip()
    if not time:
        return {**fields, "time": date}
    if _TIME_OF_DAY.fullmatch(time) and _DATE_ONLY.fullmatch(date):
        return {**fields, "time": f"{date} {time}"}
    return fields


def header_zone(header: str) -> str | None:
    """The zone a column's title names: "Date/Time (UTC)", "Call Time (America/New_York)",
    "time_utc"; None when it names none."""
    m = re.search(r"\(\s*([A-Za-z][A-Za-z0-9_/+\-]*)\s*\)\s*$", header)
    if m is not None:
        return m.group(1)
    if re.search(r"(?:^|[^a-z0-9])utc$", header.strip().lower()):
        return "UTC"
    return None


def lone_surrogate(obj: Any, text: str | bytes) -> bool:
    """Whether decoded JSON ``obj`` (parsed from ``text``) holds a lone UTF-16 surrogate.

    ``"\\ud800"`` is valid JSON syntax but no character (RFC 8259 §8.2): Python decodes it to
    a str that cannot be encoded as UTF-8, so the answer, the audit entry and its hash could
    not be written, and the whole batch (or the service's shared audit write) failed. Only
    text holding a ``\\u`` escape can carry one, so the round trip runs only then."""
    if isinstance(text, str):
        if "\\u" not in text:
            return False
    elif json.detect_encoding(text).startswith("utf-8") and b"\\u" not in text:
        return False  # (a UTF-16 or UTF-32 body, which json.loads also reads, is checked)
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


SURROGATE_REASON = "holds a \\u escape of a lone UTF-16 surrogate, which is no character"


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # JSON numbers for ids and windows: 42.0 -> "42"
    return str(v)


def _detect(p: Path, text: str) -> str:
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _canonical(key: str) -> str:
    # A zone in parentheses at the end of a title is the values' zone (header_zone), not
    # part of the column's name.
    bare = re.sub(r"\([^()]*\)\s*$", "", key.strip().lstrip("\ufeff")) or key
    k = re.sub(r"[^a-z0-9]+", "_", bare.lower()).strip("_")
    for canon, spellings in ALIASES.items():
        if k in spellings:
            return canon
    return key.strip()


_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace (RFC 8259 §2)


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m is not None else pos


def _read_json_document(p: Path, text: str, region: str) -> list[InquiryRow] | None:
    """A file that is one JSON document: an array of inquiries (what the HTTP API takes,
    and what most tools write to a .json file) or one object, pretty-printed over several
    lines. Read line by line, each of its lines was a rejected row: as many answers as
    lines, none of them an answer. Returns None for JSON lines (more than one document).

    Each element is numbered by the line it starts on. An array that does not parse is one
    error naming where: it has no records that could be answered one by one."""
    start = _skip_ws(text, 0)
    if text.startswith("{", start):
        try:
            obj = json.loads(text)
        except ValueError:
            return None  # JSON lines (or a broken line among them: answered per line)
        return [_row_from_json(obj, text.count("\n", 0, start) + 1, text, region)]
    if not text.startswith("[", start):
        return None
    dec = json.JSONDecoder()
    rows: list[InquiryRow] = []
    line, seen = 1, 0  # line number at offset ``seen``
    pos = _skip_ws(text, start + 1)
    try:
        if text.startswith("]", pos):
            pos += 1
        else:
            while True:
                obj, end = dec.raw_decode(text, pos)
                line += text.count("\n", seen, pos)
                seen = pos
                rows.append(_row_from_json(obj, line, text[pos:end], region))
                pos = _skip_ws(text, end)
                if text.startswith(",", pos):
                    pos = _skip_ws(text, pos + 1)
                    continue
                if text.startswith("]", pos):
                    pos += 1
                    break
                raise json.JSONDecodeError("Expecting ',' delimiter or ']'", text, pos)
        if _skip_ws(text, pos) != len(text):
            raise json.JSONDecodeError("Extra data after the array", text, pos)
    except json.JSONDecodeError as e:
        raise UnreadableFileError(f"the file is not a valid JSON array ({e.msg} at line "
                                  f"{e.lineno} column {e.colno})", path=p, line=e.lineno,
                                  hint="Fix the JSON, or write one inquiry object per line "
                                       "(JSON lines)") from None
    return rows


def _row_from_json(obj: Any, lineno: int, text: str, region: str) -> InquiryRow:
    """One decoded JSON record (a line of JSON lines, an element of an array)."""
    if lone_surrogate(obj, text):
        return InquiryRow(lineno, None, RowError(None, f"record {SURROGATE_REASON}",
                                                 hint="Write the text as UTF-8"),
                          raw={"text": text[:2048]})
    if not isinstance(obj, dict):
        return InquiryRow(lineno, None, RowError(None, "record is not a JSON object",
                                                 hint='Write e.g. {"called": "...", '
                                                      '"time": "..."}'),
                          raw={"text": text[:2048]})
    fields = {_canonical(str(k)): v for k, v in obj.items()}
    return parse_record(fields, lineno, region=region, what="key")


def _read_jsonl(text: str, region: str) -> Iterator[InquiryRow]:
    # Split on "\n" only: str.splitlines() also splits on U+2028, U+0085 and other
    # separators that JSON allows unescaped inside a string (JSON.stringify writes them so),
    # which cut one inquiry into two rejected rows and shifted every later line number.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            yield InquiryRow(lineno, None, RowError(None, f"line is not valid JSON ({e})",
                                                    hint="Write one JSON object per line"),
                             raw={"text": line})
            continue
        yield _row_from_json(obj, lineno, line, region)


#: Delimiters a "CSV" inquiry file is saved with: Excel writes ";" where the decimal mark is a
#: comma (most of Europe), and tab or "|" in exports from other tools.
DELIMITERS = (",", ";", "\t", "|")


def _delimiter(p: Path, header_line: str) -> str:
    """The delimiter that makes ``header_line`` name the most inquiry columns (comma first)."""
    if p.suffix.lower() == ".tsv":
        return "\t"
    best, score = ",", -1
    for d in DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=d), [])
        n = sum(1 for c in cells if _canonical(c) in KNOWN)
        if n > score:
            best, score = d, n
    return best


def _read_csv(p: Path, text: str, region: str) -> Iterator[InquiryRow]:
    # Blank lines before the header (a spreadsheet's empty first rows) are skipped; the line
    # numbers still count them.
    first = next((ln for ln in text[:65536].split("\n") if ln.strip()), "")
    delimiter = _delimiter(p, first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        while not any(c.strip() for c in header):
            header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as e:
        raise InputError(f"cannot read the CSV header ({e})", path=p,
                         line=reader.line_num) from None
    keys = [_canonical(h) for h in header]
    # A zone in the title of the time columns ("Date/Time (America/New_York)") is the zone of
    # their values that carry none.
    zones = {k: z for k, h in zip(keys, header, strict=True)
             if k in ("time", "received", "date") and (z := header_zone(h)) is not None}
    zone_errors = {k: (h, why) for k, h in zip(keys, header, strict=True)
                   if k in zones and (why := zone_problem(zones[k])) is not None}
    for k in zone_errors:
        del zones[k]
    if not any(k in KNOWN for k in keys):
        raise InputError(
            "the first line is not a header naming the inquiry columns", path=p,
            line=max(reader.line_num, 1),
            hint="Start the file with a header such as called,calling,time")
    # A date column alone may hold the whole date-time (_joined_date).
    missing_cols = [k for k in REQUIRED if k not in keys and not (k == "time" and "date" in keys)]
    repeated = {k for k in keys if k in KNOWN and keys.count(k) > 1}
    last = reader.line_num
    while True:
        start = last + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield InquiryRow(start, None, RowError(None, f"malformed CSV record ({e})",
                                                   hint="Check the quoting on this line"))
            last = reader.line_num
            continue
        last = reader.line_num
        if not any(c.strip() for c in row):
            continue
        fields = {k: v for k, v in zip(keys, row, strict=False)}
        conflicts: list[str] = []
        if repeated:
            # Two columns name one key ("Called Number" and "DNIS"): the first value given
            # wins, rather than the last column's, which is often empty.
            for k in repeated:
                given = [v.strip() for kk, v in zip(keys, row, strict=False)
                         if kk == k and v.strip()]
                fields[k] = next((v for kk, v in zip(keys, row, strict=False)
                                  if kk == k and v.strip()), fields.get(k, ""))
                # Two different values were answered from the first one silently: say so.
                if len(set(given)) > 1:
                    others = ", ".join(repr(v) for v in dict.fromkeys(given[1:])
                                       if v != given[0])
                    conflicts.append(f"two columns give the {k}: used {given[0]!r} (the "
                                     f"first), ignored {others}")
        if missing_cols:
            # The header lacks a required column: every record is answered with the reason.
            yield InquiryRow(start, None, RowError(
                missing_cols[0], f"missing column {missing_cols[0]!r}: the header "
                f"({','.join(header)}) has no {missing_cols[0]} column",
                hint="Add the column to the header, e.g. called,calling,time"), raw=fields)
            continue
        if len(row) < len(keys):
            absent = keys[len(row):]
            needed = [k for k in absent if k in REQUIRED]
            if needed:
                yield InquiryRow(start, None, RowError(
                    needed[0], f"missing column {needed[0]!r}: the record has {len(row)} "
                    f"field(s), the header has {len(keys)}",
                    hint="Give a value for every column (leave optional ones empty)"),
                    raw=fields)
                continue
        if len(row) > len(keys) and not any(c.strip() for c in row[len(keys):]):
            # Trailing empty fields ("a,b,c,,", as spreadsheets write cleared cells) cannot
            # be half of a value split on an unquoted comma: read the row without them.
            row = row[:len(keys)]
        if len(row) > len(keys):
            yield InquiryRow(start, None, RowError(
                None, f"the record has {len(row)} fields, the header has {len(keys)}",
                hint="Quote values that contain commas"), raw=fields)
            continue
        if bad := next((k for k in ("time", "date") if k in zone_errors), None):
            title, problem = zone_errors[bad]
            yield InquiryRow(start, None, RowError(
                "time", f"the column title {title!r} names a zone tracehop does not read "
                f"({problem})", hint="Name an IANA zone in the title, e.g. "
                "'Time (America/New_York)', or give each time its offset"), raw=fields)
            continue
        got = parse_record(fields, start, region=region, zones=zones)
        if conflicts:
            got = replace(got, warnings=(*got.warnings, *conflicts))
        if "received" in zone_errors:
            title, problem = zone_errors["received"]
            got = replace(got, warnings=(*got.warnings, f"the column title {title!r} names a "
                                         f"zone tracehop does not read ({problem}): received "
                                         "times without an offset are read as UTC"))
        yield got
