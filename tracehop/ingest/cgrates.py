"""CGRateS CDR CSV exports (the index-based default template), times normalised.

Layout: cgrates ``config/config_defaults.go`` (the ``*file_csv`` reader/exporter default
template, formerly cdrc/cdre); research/cdr_formats.md §12. No header; by index: 0 CGRID,
1 RunID, 2 ToR, 3 OriginID, 4 RequestType, 5 Direction (legacy ``*out``/``*in``), 6 Tenant,
7 Category, 8 Account, 9 Subject, 10 Destination, 11 SetupTime, 12 AnswerTime, 13 Usage,
14 Cost; any further fields are the template's extras, read as ``extra_1``, ``extra_2``, ...

CGRateS v0.10 and later have no Direction at all (``engine/cdr.go``'s CDR has no such field),
so their default exporter writes the same columns without index 5: RequestType is followed by
Tenant, and SetupTime sits at index 10. The layout is told per record (:func:`_layout`): a
Direction value (``*out``/``*in``) at index 5 is the legacy layout, a timestamp at index 10
(where the legacy layout has the Destination number) is the current one.

Timestamps come as Go ``time.Time.String()`` (``2013-11-07 08:42:25 +0000 UTC``, optionally
with fractional seconds and a ``m=+0.001`` monotonic suffix) or RFC 3339
(``2013-11-07T08:42:25Z``, CDRE exports). Both carry their offset, so they are converted to
UTC here; a stamp without one (the exporter's ``timezone`` option) is kept as local time and
read with ``--tz``. Go's zero time (``0001-01-01 00:00:00 +0000 UTC``) means "never" (an
unanswered call). ``Usage`` is a Go duration (``10s``, ``1m30s``) or, in CDRE exports, a number
of seconds: the profile converts it with the ``go_duration`` transform. CGRateS records no end
of an unanswered call; an answered call ends at AnswerTime + Usage.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Final

import polars as pl

from tracehop.ingest.carrier_records import Collected, physical_lines, read_text, split_csv
from tracehop.ingest.carrier_transforms import go_duration
from tracehop.ingest.formats import register_reader

READER: Final = "cgrates_csv"
COLUMNS: Final = ("CGRID", "RunID", "ToR", "OriginID", "RequestType", "Direction", "Tenant",
                  "Category", "Account", "Subject", "Destination", "SetupTime", "AnswerTime",
                  "Usage", "Cost")
#: v0.10 and later: the same columns without the legacy Direction (module docstring).
CURRENT_COLUMNS: Final = tuple(c for c in COLUMNS if c != "Direction")
MIN_FIELDS: Final = 14  # up to Usage: the mandatory fields of the default template
_STAMP: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?(?:\s+[A-Za-z][A-Za-z0-9+/_-]*)?(?:\s+m=[+-][\d.]+)?$"
)


def parse_stamp(text: str | None) -> tuple[str | None, bool]:
    """(ISO text, is_utc): UTC when the stamp carries an offset, else local as written.
    Go's zero time is None. Unparseable text is returned as is (the profile rejects it)."""
    if text is None or not text.strip():
        return None, False
    m = _STAMP.match(text.strip())
    if not m:
        return text, False
    y, mo, d, hh, mi, ss, frac, off = m.groups()
    if y == "0001":
        return None, False  # Go's zero time.Time: the event never happened
    micro = int((frac or ".0")[1:7].ljust(6, "0"))
    t = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss), micro)
    if off is None:
        return t.strftime("%Y-%m-%d %H:%M:%S.%f"), False
    if off != "Z":
        sign = -1 if off[0] == "-" else 1
        digits = off[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        t = t.replace(tzinfo=timezone(sign * delta)).astimezone(UTC).replace(tzinfo=None)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f"), True


def _layout(fields: list[str]) -> tuple[str, ...]:
    """The columns of one record: the legacy layout when index 5 holds a Direction or index 10
    is no timestamp (the legacy Destination); the current one (no Direction) when index 10 is
    a timestamp, which the legacy layout never has there."""
    if fields[5].strip() in ("*out", "*in"):
        return COLUMNS
    if len(fields) > 10 and _STAMP.match(fields[10].strip()):
        return CURRENT_COLUMNS
    return COLUMNS


def read_cgrates(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    for no, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        fields = split_csv(line)
        # Usage is the last mandatory field: index 13 (legacy) or 12 (no Direction).
        columns = _layout(fields) if len(fields) >= MIN_FIELDS - 1 else COLUMNS
        need = columns.index("Usage") + 1
        if len(fields) < need:
            out.reject(no, f"expected at least {need} fields (CGRID ... Usage of the "
                       f"default template), found {len(fields)}", line)
            continue
        if fields[0] == "CGRID":
            continue  # a header line some exporters add
        row: dict[str, str | None] = {
            c: (fields[i].strip() or None) if i < len(fields) else None
            for i, c in enumerate(columns)
        }
        for i, v in enumerate(fields[len(columns):], start=1):
            row[f"extra_{i}"] = v.strip() or None
        setup, setup_utc = parse_stamp(row["SetupTime"])
        answer, answer_utc = parse_stamp(row["AnswerTime"])
        row["setup"], row["answer"] = setup, answer
        utc = setup_utc or answer_utc
        row["zone"] = "UTC" if utc else None
        # The end is answer + usage only when both stamps are read in the same frame.
        row["_same_frame"] = "1" if answer_utc == setup_utc else None
        out.add(no, line, row)
    rows, rejects = out.frames()
    for c in (*COLUMNS, "setup", "answer", "zone", "extra_1", "extra_2", "_same_frame"):
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    fmt = "%Y-%m-%d %H:%M:%S%.f"
    usage_us = (go_duration(pl.col("Usage")).cast(pl.Float64) * 1e6).round(0).cast(pl.Int64)
    answered = pl.col("answer").str.strptime(pl.Datetime("us"), fmt, strict=False)
    end = pl.when(pl.col("_same_frame").is_not_null()).then(
        (answered + pl.duration(microseconds=usage_us)).dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
    )
    return rows.with_columns(end.alias("end")).drop("_same_frame"), rejects


register_reader(READER, read_cgrates)
