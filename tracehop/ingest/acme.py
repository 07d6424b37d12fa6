"""Oracle (Acme Packet) SBC local CDR files: RADIUS accounting records flattened to CSV.

Layout: Oracle Communications SBC *Accounting Guide*, appendix "Local CDR Start/Interim/Stop
Record (RADIUS)" (CSV placement of each attribute, per release); research/cdr_formats.md §10.
No header; field 1 is ``Acct-Status-Type`` (1 Start, 2 Stop, 3 Interim). The columns depend on
the release and the record type, so the layout is chosen per record by (type, field count):

==========  ======  =====================================================================
type        fields  release
==========  ======  =====================================================================
Start       116     C6.1
Start       118     C6.2
Start       122     C6.3, C6.4 (Interim records share the Start layout)
Start       127     D7.1
Stop        169     C6.1
Stop        171     C6.2
Stop        175     C6.3, C6.4
Stop        269     C6.4 with 94 undocumented columns inserted after column 115 (seen mixed
                    with 175-column rows in one file by Freeside's importer, acmepacket.pm)
==========  ======  =====================================================================

A record with another field count is rejected with the count and the known ones (describe
that release in your own profile). Times are Cisco-VSA style, ``HH:MM:SS.mmm TZ MON DD
YYYY`` (``15:54:56.868 PST DEC 18 2017``). An abbreviation names different zones in different
places (``CST`` is US Central and China), so the zone is read by
:func:`tracehop.ingest.acme_zones.read_zone`: Acme-Local-Time-Zone when its abbreviation at
that time is the record's, then ``--tz`` on the same test, then the US meaning (acme_zones.
ZONE_ABBREVIATIONS; a warning when the tz database also uses it elsewhere); any other
abbreviation rejects the record with the fix. A call across a DST change writes two
abbreviations (``01:59:50 EDT`` .. ``01:00:30 EST``): each time is read by its own
(:func:`_one_offset`).
``Calling-Station-Id``/``Called-Station-Id`` are SIP header values with display names and
tags (``"ROBO CALLER" <sip:2025550111@198.51.100.7;user=phone>;tag=a1``); Acme does not
escape quotes inside quoted values, so records are split leniently: as CSV, and when that
gives no known layout, with a quoted value ending only at a quote before a comma
(``""Doe, John" <sip:...>;tag=9f8e"`` is one value, its display name's comma included).

One call, one leg: the records of one ``Acct-Session-Id`` are folded into the most complete
one (Stop, else the last Interim, else Start).

STIR/SHAKEN: none of the layouts above (C6.1-D7.1) carries STIR attributes, so none is read.
Oracle adds them in S-Cz9.1 (Acme-Stir-Signed-Request, VSA 249 ext. 11, -Exception-Id 12,
Acme-Stir-Verification-Request 13, ...; later Stir-VS-Verstat, -Reason, -Attest) and says
they go into local CSV CDRs for RADIUS as well as Diameter ("STIR/SHAKEN Attributes",
Accounting Guide S-Cz9.2-10.0). Their CSV positions sit past the media-flow block of the
S-Cz9.x/10.x appendix B tables ("Local CDR Stop Record (RADIUS)", 185+ positions); the copies
of those tables available to us end after position 30, so the positions are unverified and
not guessed here (a wrong position would put another attribute into ``verstat``). A wider
S-Cz9.x row is rejected naming its field count; the SBC's ``dump_csv_format`` command writes
the device's exact layout. docs/carrier_formats.md lists what was and was not found.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import polars as pl

from tracehop.ingest.acme_zones import read_zone
from tracehop.ingest.carrier_records import (
    Collected,
    physical_lines,
    read_text,
    split_csv,
    split_unescaped_quotes,
)
from tracehop.ingest.formats import register_zoned_reader
from tracehop.ingest.readers import WARNING

READER: Final = "acme_local_cdr"
STATUS: Final = {"1": "Start", "2": "Stop", "3": "Interim"}

_START_C61: Final = {
    "nas_ip": 2, "session_id": 4, "ingress_call_id": 5, "calling_station": 9,
    "called_station": 10, "setup_time": 11, "connect_time": 12, "egress_realm": 17,
    "ingress_realm": 18, "local_time_zone": 70, "primary_routing_number": 72,
    "originating_trunk_group": 73, "terminating_trunk_group": 74,
    "originating_trunk_context": 75, "p_asserted_id": 77, "ingress_remote_addr": 79,
    "egress_remote_addr": 81, "sip_diversion": 82,
}
_START_C62: Final = {
    "nas_ip": 2, "session_id": 4, "ingress_call_id": 5, "calling_station": 10,
    "called_station": 11, "setup_time": 12, "connect_time": 13, "egress_realm": 18,
    "ingress_realm": 19, "local_time_zone": 71, "primary_routing_number": 73,
    "originating_trunk_group": 74, "terminating_trunk_group": 75,
    "originating_trunk_context": 76, "p_asserted_id": 78, "ingress_remote_addr": 80,
    "egress_remote_addr": 82, "sip_diversion": 83,
}
_START_D71: Final = {
    **_START_C62, "local_time_zone": 80, "primary_routing_number": 82,
    "originating_trunk_group": 83, "terminating_trunk_group": 84,
    "originating_trunk_context": 85, "p_asserted_id": 87, "ingress_remote_addr": 89,
    "egress_remote_addr": 91, "sip_diversion": 92,
}
_STOP_C61: Final = {
    "nas_ip": 2, "session_id": 4, "ingress_call_id": 5, "calling_station": 9,
    "called_station": 10, "terminate_cause": 11, "session_time": 12, "setup_time": 13,
    "connect_time": 14, "disconnect_time": 15, "h323_disconnect_cause": 16,
    "egress_realm": 21, "ingress_realm": 22, "local_time_zone": 118,
    "primary_routing_number": 120, "originating_trunk_group": 121,
    "terminating_trunk_group": 122, "originating_trunk_context": 123, "p_asserted_id": 125,
    "ingress_remote_addr": 127, "egress_remote_addr": 129, "sip_diversion": 130,
    "session_disposition": 131, "disconnect_initiator": 132, "disconnect_cause": 133,
    "sip_status": 134,
}
_STOP_C64: Final = {k: (v + 1 if v >= 9 else v) for k, v in _STOP_C61.items()}
#: The 269-column Stop rows: 94 undocumented columns after column 115 (Freeside acmepacket.pm).
_STOP_269: Final = {k: (v + 94 if v > 115 else v) for k, v in _STOP_C64.items()}

LAYOUTS: Final[dict[tuple[str, int], dict[str, int]]] = {
    ("Start", 116): _START_C61,
    ("Start", 118): _START_C62,
    ("Start", 122): _START_C62,
    ("Start", 127): _START_D71,
    ("Stop", 169): _STOP_C61,
    ("Stop", 171): _STOP_C64,
    ("Stop", 175): _STOP_C64,
    ("Stop", 269): _STOP_269,
}
COLUMNS: Final = tuple(sorted({c for lay in LAYOUTS.values() for c in lay}))

_MONTHS: Final = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_H323_TIME: Final = re.compile(
    r"^\s*[.*]?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s+(?:([A-Za-z]{1,5})\s+)?"
    r"(?:[A-Za-z]{3}\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{4})\s*$"
)


def h323_time(value: str | None) -> tuple[str | None, str | None]:
    """``15:54:56.868 PST DEC 18 2017`` -> (``2017-12-18 15:54:56.868000``, ``PST``).
    An optional weekday (``Mon``) before the month is accepted; a leading ``.`` or ``*``
    (Cisco's marks on these times, as on ``show clock``: ``*`` the clock is not authoritative,
    ``.`` authoritative but NTP not synchronised; Cisco RADIUS VSA Voice Implementation Guide)
    is ignored. Unparseable text comes back as is, so the
    profile rejects the record naming the value."""
    if value is None or not value.strip():
        return None, None
    m = _H323_TIME.match(value)
    if not m:
        return value, None
    hh, mi, ss, frac, abbr, mon, dd, yyyy = m.groups()
    month = _MONTHS.get(mon.upper())
    if month is None:
        return value, None
    return (f"{int(yyyy):04d}-{month:02d}-{int(dd):02d} {int(hh):02d}:{mi}:{ss}."
            f"{(frac or '0').ljust(6, '0')}", abbr)


def _wall(text: str | None) -> datetime | None:
    """h323_time's text as a datetime (fromisoformat: strptime cost 40 µs a record)."""
    try:
        return datetime.fromisoformat(text or "")
    except ValueError:
        return None


def read_acme(path: Path, wanted: frozenset[str],
              tz: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    doubts: dict[str, tuple[int, int, int]] = {}  # note -> (row index, first line, count)
    best: dict[str, int] = {}  # Acct-Session-Id -> index in out.rows of the record kept
    rank = {"Start": 0, "Interim": 1, "Stop": 2}
    known = ", ".join(f"{t} {n}" for t, n in sorted(LAYOUTS))
    for no, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        fields = split_csv(line)
        status = STATUS.get(fields[0].strip()) if fields else None
        if status is None:
            out.reject(no, "not an Acme local CDR record: field 1 (Acct-Status-Type) is "
                       f"{(fields[0] if fields else '')[:20]!r}, not 1, 2 or 3", line)
            continue
        kind = "Start" if status == "Interim" else status
        layout = LAYOUTS.get((kind, len(fields)))
        if layout is None and '"' in line:
            # A quoted value with unescaped quotes inside (a display name with a comma) splits
            # into too many fields as CSV: read it with quotes closing only before a comma.
            lenient = split_unescaped_quotes(line)
            layout = LAYOUTS.get((kind, len(lenient)))
            if layout is not None:
                fields = lenient
            elif len(lenient) != len(fields):
                out.reject(no, f"a {status} record with {len(fields)} fields as CSV, "
                           f"{len(lenient)} with quotes closing only before a comma: its "
                           "quoting is broken (a quote inside a quoted value, unescaped), or "
                           f"no known Acme layout has that many (known: {known})", line)
                continue
        if layout is None:
            out.reject(no, f"a {status} record with {len(fields)} fields: no known Acme "
                       f"layout has that many (known: {known}); describe this release in "
                       "your own profile (S-Cz9.x and later, with STIR/SHAKEN attributes, "
                       "write wider rows; the SBC's dump_csv_format command writes the "
                       "device's exact column layout)", line)
            continue
        row: dict[str, str | None] = {c: (fields[p - 1].strip() or None) for c, p in layout.items()}
        row["record_type"] = status
        abbr = wall = None
        others: list[tuple[str, str]] = []  # (column, abbreviation) not the first one's
        for col in ("setup_time", "connect_time", "disconnect_time"):
            text, a = h323_time(row.get(col))
            row[col] = text
            if a and not abbr:
                abbr, wall = a, _wall(text)
            elif a and abbr and a.upper() != abbr.upper():
                others.append((col, a))
        reading = read_zone(abbr, wall, row.get("local_time_zone"), tz)
        if reading.reason is not None:
            out.reject(no, reading.reason, line)
            continue
        row["zone"] = reading.zone
        if others and reading.zone and wall is not None:
            _one_offset(row, others, reading.zone, wall, tz)
        sid = row.get("session_id") or f"line {no}"
        prev = best.get(sid)
        if prev is not None:
            kept = out.rows[prev]
            if rank[status] >= rank[str(kept["record_type"])]:
                out.rows[prev], out.lines[prev], out.raws[prev] = row, no, line
            _note(doubts, reading.doubt, prev, no)
            continue
        _note(doubts, reading.doubt, len(out.rows), no)
        best[sid] = len(out.rows)
        out.add(no, line, row)
    for doubt, (at, first, count) in doubts.items():
        out.rows[at][WARNING] = (f"{path}: {count} record(s), the first at line {first}: "
                                 f"{doubt}")
    rows, rejects = out.frames()
    for c in (*COLUMNS, "record_type", "zone"):
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    return rows.sort("_line"), rejects


def _one_offset(row: dict[str, str | None], others: list[tuple[str, str]], zone: str,
                wall: datetime, tz: str | None) -> None:
    """A call across a DST change writes its times with two abbreviations (``01:59:50 EDT``
    set up, ``01:00:30 EST`` ended: the clock went back meanwhile), but the record is read in
    one zone, that of its first abbreviation: the end was read as EDT, an hour before the
    start (a negative duration). Each time whose abbreviation differs is read in its own
    zone (:func:`read_zone`) and written again on the fixed UTC offset of the first one, which
    becomes the record's zone. Only for a whole-hour offset (an ``Etc/GMT`` zone; a
    half-hour one, Newfoundland's or Adelaide's, is left as it was); a time whose own
    abbreviation reads as no zone is left as it was too."""
    first = wall.replace(tzinfo=ZoneInfo(zone)).utcoffset()
    if first is None:
        return
    hours, rest = divmod(int(first.total_seconds()), 3600)
    if rest:
        return
    fixed = "UTC" if not hours else f"Etc/GMT{'+' if hours < 0 else '-'}{abs(hours)}"
    for col, a in others:
        when = _wall(row.get(col))
        own = read_zone(a, when, row.get("local_time_zone"), tz).zone if when else None
        if when is None or own is None:
            continue
        instant = when.replace(tzinfo=ZoneInfo(own)).astimezone(UTC)
        row[col] = (instant + first).replace(tzinfo=None).isoformat(sep=" ",
                                                                    timespec="microseconds")
    row["zone"] = fixed


def _note(doubts: dict[str, tuple[int, int, int]], doubt: str | None, at: int,
          line: int) -> None:
    """Count a doubtful zone reading; its warning goes on the first leg it concerns (one
    warning per file and doubt, not one per record)."""
    if doubt is None:
        return
    first = doubts.get(doubt)
    doubts[doubt] = (at, line, 1) if first is None else (first[0], first[1], first[2] + 1)


register_zoned_reader(READER, read_acme)
