"""The last search: a leg whose dialed or diverting number is the number asked about.

Many switches record the called number *after* their own translation or forwarding, and the
number the upstream sent beside it:

- Cisco CUCM: ``finalCalledPartyNumber`` (where the call ended up: a voicemail pilot, a
  forwarded-to mobile) and ``originalCalledPartyNumber`` (stored as ``dialed_raw``);
- a Ribbon SBC ACT record: the called number after translation, and the one before it;
- BroadWorks: ``dialedDigits``, and ``originalCalledNumber`` for a forwarded call
  (``diversion_raw``); an Acme Packet SBC: the SIP Diversion header and the primary routing
  number; a SIP capture: the To user and the Diversion header (RFC 5806 §3); a Kamailio or
  OpenSIPS acc record: ``dst_ouser`` (``$tU``, the To user) beside the rewritten R-URI user.

An inquiry names the number the upstream sent, so a toll-free number translated to its routing
number, or a DID forwarded to voicemail, is not found by the called number. When nothing to the
called number itself is found in any widening step (±24 h), the matcher looks, within the
inquiry's first window, for inbound legs whose ``dialed_raw`` or ``diversion_raw`` is that
number. It comes last: a leg recorded under the number itself is the stronger evidence, and a
store without those columns pays nothing (files whose footer statistics say both columns hold
no value are not read).

How a leg is found: the number is cut out of each column (the users of a value's first and
last URI, or a plain value itself: :data:`_KEYS`), and a leg whose cut number ends in the
inquiry number's national digits is a candidate: by one portable equi-join for a batch
(:func:`dialed_sql`, run by every engine), by the same test in Python over the window's legs
for a single lookup (:func:`window_sql`, :func:`keyed_on`). Each candidate is then checked
exactly, the URI user or the value normalised in the inquiry number's country
(:func:`matching_column`). A value that writes the digits with separators (``312-555-0100``)
is not found.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

import pyarrow as pa

from tracehop.match.spec import Probe

#: The record's numbers that may hold the one the upstream sent, in the order they are tried.
DIALED_COLUMNS: Final[tuple[str, ...]] = ("dialed_raw", "diversion_raw")

#: What an answer's ``searched.step`` says when a leg was found this way.
STEP_LABEL: Final = "dialed or diverted-from number"

#: How each column is named in the answer's warning.
WHAT: Final[dict[str, str]] = {
    "dialed_raw": "dialed number (before the switch's translation)",
    "diversion_raw": "diverted-from number (call forwarding, SIP Diversion)",
}

DIALED_PROBES_SCHEMA: Final = pa.schema([
    pa.field("qid", pa.int64()),
    pa.field("lo_us", pa.int64()),
    pa.field("hi_us", pa.int64()),
    pa.field("needle", pa.string()),
])

# The user part of a SIP or tel URI (RFC 3261 §19.1.1, RFC 3966 §3): what follows the scheme,
# up to the host ("@") or the first parameter (";"), or the closing ">" of a name-addr.
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>,]+)", re.IGNORECASE)


#: The user of the first and of the last sip:, sips: or tel: URI in a value (RFC 3261 §19.1.1,
#: RFC 3966 §3; RFC 5806 §3: a Diversion header lists the newest diversion first, the original
#: called number last), digits only. Only ``[0-9]`` and ``[+]``: the same text is a regular
#: expression for DuckDB (RE2), Spark (Java) and Python, with no backslash to escape.
_FIRST_URI: Final = "(?i)(?:sips?|tel):[+]?([0-9]+)"
_LAST_URI: Final = "(?i)^.*(?:sips?|tel):[+]?([0-9]+)"

#: What :func:`dialed_sql` returns of a leg: enough to check the number and to fetch the leg.
KEY_COLUMNS: Final[tuple[str, ...]] = ("leg_id", "called_e164", *DIALED_COLUMNS)

#: Four keys a leg is joined on: (column, which URI). A value with a ``:`` holds URIs, and its
#: keys are their users; any other value is a number as written, its own key.
_KEYS: Final[tuple[tuple[str, str], ...]] = tuple(
    (col, which) for col in DIALED_COLUMNS for which in ("first", "last"))


def _key_sql(col: str, which: str, digits: int) -> str:
    """The SQL of one key: the last ``digits`` characters of the number cut out of ``col``.
    The regular expression runs only on values with a ``:`` (``instr`` first: a plain
    number, most of them, costs no regex)."""
    uri = f"regexp_extract(l.{col}, '{_FIRST_URI if which == 'first' else _LAST_URI}', 1)"
    plain = f" ELSE l.{col}" if which == "first" else ""
    return (f"right(CASE WHEN instr(COALESCE(l.{col}, ''), ':') > 0 THEN {uri}{plain} END, "
            f"{int(digits)})")


def dialed_sql(lo_us: int, hi_us: int, digits: int, bucket_us: int) -> str:
    """Legs in each probe's range whose dialed or diverted-from number ends in the probe's
    national digits (``needle``, ``digits`` long): a superset, each row checked by
    :func:`matching_column`, then the matcher's columns fetched for the legs that pass
    (``Matcher._dialed_pass``); a leg can come back once per key that matched.

    The number is cut out of each column (:data:`_KEYS`) and its last ``digits`` digits
    joined on ``needle``: an equi-join the engine hashes. A substring test of every leg in
    every probe's window (``instr``) cost 3.0 s for 1,000 probes on a 2M-leg day against 0.24
    s for the rest of their batch. Only the legs in a time bucket (``bucket_us`` wide, a power
    of two) that some probe's window touches are keyed (table ``dialed_buckets``), and only
    :data:`KEY_COLUMNS` are read. ``lo_us``..``hi_us`` spans every probe's range (integers,
    inlined: values tracehop computed)."""
    b = int(bucket_us)
    if b <= 0 or b & (b - 1):
        raise ValueError("bucket_us must be a power of two")
    cols = ", ".join(f"l.{c}" for c in KEY_COLUMNS)
    keys = ",\n".join(f"    {_key_sql(col, which, digits)} AS k{i}"
                       for i, (col, which) in enumerate(_KEYS))
    out = ", ".join(f"k.{c}" for c in KEY_COLUMNS)
    joins = "\nUNION ALL\n".join(
        f"SELECT p.qid, {out}, k.start_us FROM keyed k JOIN dialed_probes p\n"
        f"  ON k.k{i} = p.needle AND k.start_us BETWEEN p.lo_us AND p.hi_us"
        for i in range(len(_KEYS)))
    return (f"WITH keyed AS (\n  SELECT {cols}, l.start_us,\n{keys}\n  FROM legs l\n"
            f"  WHERE l.start_us BETWEEN {int(lo_us)} AND {int(hi_us)}\n"
            f"    AND (l.dialed_raw IS NOT NULL OR l.diversion_raw IS NOT NULL)\n"
            f"    AND CAST(FLOOR(l.start_us / {b}.0) AS BIGINT) IN "
            f"(SELECT bucket FROM dialed_buckets))\n"
            f"{joins}\nORDER BY qid, start_us, leg_id")


def buckets_table(probes: Iterable[Probe], bucket_us: int) -> pa.Table:
    """The ``dialed_buckets`` table: every time bucket a probe's first window touches."""
    out = sorted({b for p in probes
                  for b in range((p.t_us - p.w_us) // bucket_us,
                                 (p.t_us + p.w_us) // bucket_us + 1)})
    return pa.table({"bucket": pa.array(out, pa.int64())})


def window_sql(lo_us: int, hi_us: int) -> str:
    """The one-probe form of :func:`dialed_sql`: :data:`KEY_COLUMNS` of every leg in
    ``lo_us``..``hi_us``, tested by :func:`keyed_on` here. A filter on the time alone is the
    one the engine applies first (one probe on a 2M-leg day: 0.055 s; with the keys or a
    substring test in SQL, 0.17-0.23 s: they were computed for every row of the day)."""
    cols = ", ".join(f"l.{c}" for c in KEY_COLUMNS)
    return (f"SELECT {cols}, l.start_us FROM legs l\n"
            f"  WHERE l.start_us BETWEEN {int(lo_us)} AND {int(hi_us)}")


_URI_RX: Final = {"first": re.compile(_FIRST_URI), "last": re.compile(_LAST_URI)}


def keyed_on(leg: dict[str, object], needle: str) -> bool:
    """Whether one of the leg's keys (:data:`_KEYS`, as :func:`dialed_sql` cuts them) ends in
    ``needle``: the SQL's join in Python, so that a single lookup and a batch find the same
    legs."""
    for col, which in _KEYS:
        value = leg.get(col)
        # A key is a piece of the value that ends in the needle: no needle, no key.
        if not isinstance(value, str) or needle not in value:
            continue
        if ":" in value:
            m = _URI_RX[which].search(value)
            key = m.group(1) if m is not None else ""
        elif which == "first":
            key = value
        else:
            continue
        if key[-len(needle):] == needle:
            return True
    return False


def probes_table(probes: Iterable[Probe]) -> pa.Table:
    """The ``dialed_probes`` table: each probe's first window and national digits."""
    rows = [(p.qid, p.t_us - p.w_us, p.t_us + p.w_us, national_digits(p.called_e164))
            for p in probes]
    return pa.table([list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], []],
                    schema=DIALED_PROBES_SCHEMA)


@functools.lru_cache(maxsize=65_536)
def national_digits(e164: str) -> str:
    """The national significant number of an E.164 number (``+13125550100`` ->
    ``3125550100``): the digits every written form of it contains."""
    import phonenumbers

    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")


@functools.lru_cache(maxsize=65_536)
def _region(e164: str) -> str:
    import phonenumbers

    from tracehop.numbers import DEFAULT_REGION

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return DEFAULT_REGION
    return region if region and region != "ZZ" else DEFAULT_REGION


def numbers_in(raw: str) -> list[str]:
    """The numbers a dialed or Diversion value holds: the user part of each URI in it (a
    Diversion header may list several, RFC 5806 §3), or the value itself."""
    users = _URI_USER.findall(raw)
    return [u.strip() for u in users] if users else [raw.strip().strip("<>\"")]


def matching_column(leg: dict[str, object], e164: str) -> str | None:
    """The first of :data:`DIALED_COLUMNS` whose number is ``e164``, normalised with the
    region of ``e164`` (a national form in the record is read in the inquiry's country)."""
    from tracehop.numbers import normalise_one

    region = _region(e164)
    for col in DIALED_COLUMNS:
        raw = leg.get(col)
        if not isinstance(raw, str) or not raw:
            continue
        if any(normalise_one(n, region) == e164 for n in numbers_in(raw)):
            return col
    return None
