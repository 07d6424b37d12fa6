"""Cisco BroadWorks accounting CDRs (CSV, R18 column layout and later).

Layout: "BroadWorks Accounting Call Detail Record Interface Specification" (05-BD5020-00);
column names of R18 in research/cdr_formats.md §11 (336 columns; later releases append
columns, so positions are stable and trailing extra fields are tolerated). The first line of
a file is skipped when it is not a record (importers treat it as a header/metadata line; a
file without one keeps its first record, :func:`_is_record`). One record per user and call:
``direction`` is ``Originating`` (the BroadWorks user placed the call: outbound) or
``Terminating`` (the call came to the user: inbound). Only ``type`` = ``Normal`` records are
call legs; other types are rejected with their type as the reason.

Times are ``yyyymmddhhmmss.mmm``, read in the record's ``userTimeZone``: an IANA name is used
as is; the spec's offset form ``<DST flag><±hhmmss>`` (``1-040000``) is taken as the offset in
effect (the DST flag only says whether daylight time applies) and mapped to a fixed-offset
zone (``Etc/GMT+4``); a zone that cannot be told falls back to ``--tz``. (The spec is not
public; this reading of userTimeZone is an assumption recorded in docs/carrier_formats.md.)

The network-side ingress of a Terminating call is its ``route`` (the network device or route
that delivered it; an address when it holds one); an Originating call's ingress is the user's
own access device (``accessDeviceAddress``) and, for a trunking user, its ``trunkGroupName``.
``trunkGroupName`` is the trunk group of the record's own user (BroadWorks Trunk Group: the
access side of a customer's PBX), so on a Terminating record it is where the call was
delivered to the called customer: the egress, with ``accessDeviceAddress``, never the
ingress (an on-net call to a trunking customer, no route, answered ``originating`` naming
the called customer). An Originating record leaves by its ``route``.

The records of one call share one key (``call_key``, the profile's correlation_id): a
redirected call (call forwarding) has a Terminating record (the call as it came in) and an
Originating record (the redirection going out), each with its own ``localCallId`` and a
``relatedCallId`` that names the other's; the key is the lesser of the two, so both records get
the same one and the egress record leads to the carrier's Terminating record.

The account (``caller_account``) is set only where it names the caller: see
:func:`caller_account`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import polars as pl

from tracehop.ingest.carrier_records import Collected, physical_lines, read_text, split_csv
from tracehop.ingest.formats import register_reader

READER: Final = "broadworks_csv"
R18_FIELDS: Final = 336
#: 1-based positions (R18 field list; stable in later releases).
POSITIONS: Final = {
    "recordId": 1, "serviceProvider": 2, "type": 3, "userNumber": 4, "groupNumber": 5,
    "direction": 6, "callingNumber": 7, "calledNumber": 9, "startTime": 10,
    "userTimeZone": 11, "answerIndicator": 12, "answerTime": 13, "releaseTime": 14,
    "terminationCause": 15, "networkType": 16, "dialedDigits": 18, "route": 24,
    "networkCallID": 25, "accessDeviceAddress": 27, "accessCallID": 28, "accountCode": 34,
    "originalCalledNumber": 36, "redirectingNumber": 39, "localCallId": 45, "remoteCallId": 46,
    "trunkGroupName": 135, "relatedCallId": 147, "trunkGroupInfo": 182, "q850Cause": 188,
    "sipErrorCode": 220, "receivedCallingNumber": 222, "callingAssertedNumber": 322,
}
_OFFSET: Final = re.compile(r"^[01]?([+-])(\d{2})(\d{2})(\d{2})?$")
_ADDRESS: Final = re.compile(
    r"^(?:sips?:)?\[?((?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f:]+:[0-9A-Fa-f:]+)"
)


def user_zone(value: str | None) -> str | None:
    """userTimeZone -> an IANA zone name, or None when it cannot be told."""
    if not value or not value.strip():
        return None
    v = value.strip()
    if "/" in v:
        return v
    m = _OFFSET.match(v)
    if not m or m.group(3) != "00":
        return None  # Etc/ zones exist for whole hours only: fall back to --tz
    hours = int(m.group(2))
    if hours == 0:
        return "UTC"
    return f"Etc/GMT{'-' if m.group(1) == '+' else '+'}{hours}"  # POSIX sign


def _address(value: str | None) -> str | None:
    if not value:
        return None
    m = _ADDRESS.match(value.strip())
    return m.group(1) if m else None


def _is_record(fields: list[str]) -> bool:
    """Line 1 is a record rather than the file's metadata line (``BroadWorks CDR file header,
    ...``, a few fields) or a line of column names (``recordId,serviceProvider,...``). A line
    whose direction field says Originating or Terminating is a record even when it is short
    (an older release, a cut record): it is then rejected with its field count, not skipped
    as the metadata line without a word."""
    if fields and fields[0].strip() == "recordId":
        return False
    if len(fields) >= R18_FIELDS:
        return True
    direction = POSITIONS["direction"] - 1
    return len(fields) > direction and fields[direction].strip() in ("Originating", "Terminating")


def call_key(local_id: str | None, related_id: str | None) -> str | None:
    """One key for the records of one call: each redirect record's relatedCallId is the other
    record's localCallId, so the lesser of the pair is the same on both."""
    if local_id and related_id:
        return min(local_id, related_id)
    return local_id or related_id


def caller_account(row: dict[str, str | None]) -> str | None:
    """The account of the customer who placed the call: on an Originating record, the code the
    user entered (accountCode), else the user's group. Not on a Terminating record (the group
    is the called customer's), nor on an Originating record that only carries a redirection
    (originalCalledNumber / redirectingNumber set: the user forwarded a call someone else
    placed, and the carrier that handed it over is on the call's Terminating record)."""
    if (row["direction"] or "").lower() != "originating":
        return None
    if row["originalCalledNumber"] or row["redirectingNumber"]:
        return None
    return row["accountCode"] or row["groupNumber"]


def read_broadworks(path: Path, wanted: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = Collected()
    for no, line in physical_lines(read_text(path)):
        if not line.strip():
            continue
        fields = split_csv(line)
        if no == 1 and not _is_record(fields):
            continue  # the file's header/metadata line
        if len(fields) < R18_FIELDS:
            out.reject(no, f"expected at least {R18_FIELDS} fields (the R18 layout), found "
                       f"{len(fields)}: an older release or a cut record", line)
            continue
        row: dict[str, str | None] = {
            c: (fields[p - 1].strip() or None) for c, p in POSITIONS.items()
        }
        if (row["type"] or "").lower() != "normal":
            out.reject(no, f"record type {row['type']!r}: only Normal records are call legs",
                       line)
            continue
        row["zone"] = user_zone(row["userTimeZone"])
        terminating = (row["direction"] or "").lower() == "terminating"
        row["ingress_ip"] = (
            _address(row["route"]) if terminating else _address(row["accessDeviceAddress"])
        )
        # trunkGroupName names the record's own user's trunk group (module docstring): the
        # ingress of what that user placed, the egress of what was delivered to it.
        row["ingress_trunk"] = row["route"] if terminating else row["trunkGroupName"]
        row["egress_trunk"] = row["trunkGroupName"] if terminating else row["route"]
        row["egress_ip"] = (
            _address(row["accessDeviceAddress"]) if terminating else _address(row["route"])
        )
        row["caller_account"] = caller_account(row)
        row["call_key"] = call_key(row["localCallId"], row["relatedCallId"])
        out.add(no, line, row)
    rows, rejects = out.frames()
    for c in (*POSITIONS, "zone", "ingress_ip", "ingress_trunk", "egress_ip", "egress_trunk",
              "call_key", "caller_account"):
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    return rows, rejects


register_reader(READER, read_broadworks)
