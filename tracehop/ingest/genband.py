"""Genband G6 (Tekelec T6000) CDRs: fixed-width text records.

Layout: the only public field map is third-party, Freeside ``FS/FS/cdr/genband.pm``
(``fixedlength_format``: name, width, first and last 1-based column); research/cdr_formats.md
§12. No vendor document and no real record is public, so the value formats below are the
plausible ones, stated as assumptions in docs/carrier_formats.md: times are 19 characters
(``YYYY-MM-DD HH:MM:SS`` or ``MM/DD/YYYY HH:MM:SS``) in the switch's local time (``--tz``);
``CallDirection`` is one character (``I`` incoming, ``O`` outgoing). Fields are space-padded,
and a writer (or a copy through a text tool) may strip a record's trailing blanks: the missing
columns of a shorter record are empty fields. A record is read when it reaches the end of
``CallDirection`` (column 404), so that every time, number, trunk and the direction are there;
a shorter one is rejected with its length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from tracehop.ingest.carrier_records import Collected, physical_lines, read_text
from tracehop.ingest.formats import register_reader

READER: Final = "genband_g6"
#: name -> (first, last) 1-based columns, inclusive (genband.pm fixedlength_format).
FIELDS: Final[dict[str, tuple[int, int]]] = {
    "Type": (1, 2), "Sequence": (3, 6), "OIDCall": (7, 36), "StartTime": (37, 55),
    "AnswerTime": (56, 74), "EndTime": (75, 93), "SourceName": (94, 123),
    "SourceEndName": (124, 153), "SourceCallerID": (154, 173),
    "SourceCallerName": (174, 203), "DestinationName": (204, 233),
    "DestinationEndName": (234, 263), "DestCallerID": (264, 283),
    "DestCallerIDInfo": (284, 313), "DialedDigits": (314, 343), "Billing": (344, 373),
    "AuthCode": (374, 403), "CallDirection": (404, 404), "ExtendedCall": (405, 405),
    "ExternalCall": (406, 406), "Duration": (407, 415), "SIPCallID": (416, 479),
    "IncomingDigits": (480, 509), "OutpulsedDigits": (510, 539),
    "CarrierIdentificationCode": (540, 543), "CompletionReason": (544, 547),
    "OriginationPartition": (548, 577), "DestinationPartition": (578, 607),
    "BilledSourceDID": (608, 628), "VideoCall": (629, 629),
}
MIN_LENGTH: Final = 629
#: The fields tracehop needs (times, numbers, trunks, direction) end with CallDirection.
NEEDED_LENGTH: Final = FIELDS["CallDirection"][1]


def read_g6(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    for no, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        if len(line) < NEEDED_LENGTH:
            out.reject(no, f"expected a fixed-width record of at least {NEEDED_LENGTH} "
                       f"characters (the Genband G6 layout through CallDirection; {MIN_LENGTH} "
                       f"in all), found {len(line)}", line)
            continue
        padded = line.ljust(MIN_LENGTH)  # trailing blanks stripped: the rest is empty
        row: dict[str, str | None] = {
            name: (padded[a - 1:b].strip() or None) for name, (a, b) in FIELDS.items()
        }
        out.add(no, line, row)
    rows, rejects = out.frames()
    for c in FIELDS:
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    return rows, rejects


register_reader(READER, read_g6)
