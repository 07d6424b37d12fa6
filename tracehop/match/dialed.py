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
exactly, each URI or the value normalised in the region of the switch that wrote it
(:func:`matching_column`, :func:`record_region`), as :func:`tracehop.numbers.normalise` reads
it.

The cut number is the first run of at least as many digits as the national number, once the
visual separators :mod:`tracehop.numbers` allows inside a number are dropped (the last of its
digits are the key). So every form normalise reads as the number is a candidate: separators
(``312-555-0100``, ``(312) 555-0100``, ``tel:+1-312-555-0100``), an end-of-dialling ``#``
(``3125550100#``), a prefix (``*67``, ``#31#``, ``1``, ``011``, ``101XXXX``), an extension
(``312-555-0100 ext. 12``), quotes. Not found: vanity letters (``1-800-FLOWERS``: a switch
records digits), a local number completed by its ``phone-context`` (RFC 3966 §5.1.5: the
user part alone has too few digits) and a spreadsheet's float text (``3125550100.0``,
``3.125550100E+09``: an export's, not a switch's).
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

# Each SIP or tel URI in a value (a Diversion header may list several, RFC 5806 §3): the
# scheme, the user part and its parameters (RFC 3261 §19.1.1, RFC 3966 §3), up to the closing
# ">" of a name-addr or the "," between header values (spaces kept: a switch may write
# "<sip:+1 312 555 0100@h>", and normalise reads it). Normalised whole, so that a
# phone-context (RFC 3966 §5.1.5) is read as normalise reads it.
_URI = re.compile(r"(?:sips?|tel):[^<>,\"]*", re.IGNORECASE)


#: The user part of the first and of the last sip:, sips: or tel: URI in a value (RFC 3261
#: §19.1.1, RFC 3966 §3: before the host "@" or the first ";" parameter, so an LNP
#: ``;rn=`` routing number is never read as the number; RFC 5806 §3: a Diversion header lists
#: the newest diversion first, the original called number last). No backslash: the same text
#: is a regular expression for DuckDB (RE2), Spark (Java) and Python.
_FIRST_URI: Final = "(?i)(?:sips?|tel):([^@;>,]*)"
_LAST_URI: Final = "(?i)^.*(?:sips?|tel):([^@;>,]*)"

#: The visual separators a number may be written with, as tracehop.numbers allows them inside
#: a number (``_SEPARATORS``: space, tab, no-break space, ``( ) . / -``): dropped before the
#: digits are cut, so that ``212-555-0143`` is cut as ``2125550143``. A SQL ``translate``
#: argument too: no quote, no backslash.
SEPARATORS: Final = " \t\xa0()./-"
_DROP_SEPARATORS: Final = str.maketrans("", "", SEPARATORS)

#: A value that is digits as written, maybe after a "+": most dialed numbers, whose key is
#: their last digits with no further work (compared with the value itself, not anchored with
#: "$": Java's "$" also matches before a final line break, RE2's and Python's fullmatch do
#: not).
_PLAIN: Final = "^[+]?[0-9]+"


def _plain(value: str) -> bool:
    """``_PLAIN`` in Python: digits as written, maybe after a "+" (no regex: the single lookup
    tests every leg of its window)."""
    digits = value[1:] if value.startswith("+") else value
    return digits.isascii() and digits.isdigit()

#: What :func:`dialed_sql` returns of a leg: enough to check the number and to fetch the leg.
KEY_COLUMNS: Final[tuple[str, ...]] = ("leg_id", "called_e164", *DIALED_COLUMNS)

#: Four keys a leg is joined on: (column, which URI). A value with a ``:`` holds URIs, and its
#: keys are their users; any other value is a number as written, its own key.
_KEYS: Final[tuple[tuple[str, str], ...]] = tuple(
    (col, which) for col in DIALED_COLUMNS for which in ("first", "last"))


def _run(digits: int) -> str:
    """The first run of at least ``digits`` digits: the number, past any prefix (``*67``,
    ``#31#``, ``%23``) and before any suffix (``#``, ``ext. 12``)."""
    return f"[0-9]{{{int(digits)},}}"


def _key_sql(col: str, which: str, digits: int) -> str:
    """The SQL of one key: the last ``digits`` digits of the number cut out of ``col`` (the
    module doc). A value with a ``:`` holds URIs: the user part of the first or last, its
    separators dropped, then its first long run of digits. A plain value that is digits as
    written (``_PLAIN``: most of them; one regular expression, no ``translate``, which cost
    three times as much) is its own number; any other plain value is cut as a user part."""
    c, n = f"l.{col}", int(digits)
    uri = f"regexp_extract({c}, '{_FIRST_URI if which == 'first' else _LAST_URI}', 1)"
    run = f"'{_run(n)}'"

    def cut(text: str) -> str:
        return f"regexp_extract(translate({text}, '{SEPARATORS}', ''), {run}, 0)"

    if which != "first":
        return f"right(CASE WHEN instr({c}, ':') > 0 THEN {cut(uri)} END, {n})"
    # The plain test first: the engines evaluate a CASE's next WHEN only on the rows the ones
    # before it left, and most values are digits as written (no instr for them).
    return (f"right(CASE WHEN regexp_extract({c}, '{_PLAIN}', 0) = {c} THEN {c} "
            f"WHEN instr({c}, ':') > 0 THEN {cut(uri)} ELSE {cut(c)} END, {n})")


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


@functools.lru_cache(maxsize=32)
def _run_rx(digits: int) -> re.Pattern[str]:
    return re.compile(_run(digits))


def key_of(value: str, which: str, digits: int) -> str | None:
    """One key of a value (``which``: ``first`` or ``last``), as :func:`_key_sql` computes it
    in SQL: the last ``digits`` digits of the number cut out of it, or None (no such key)."""
    if ":" in value:
        m = _URI_RX[which].search(value)
        text = m.group(1) if m is not None else ""
    elif which != "first":
        return None
    elif _plain(value):
        return value[-digits:]
    else:
        text = value
    run = _run_rx(digits).search(text.translate(_DROP_SEPARATORS))
    return run.group(0)[-digits:] if run is not None else ""


def keyed_on(leg: dict[str, object], needle: str) -> bool:
    """Whether one of the leg's keys (:data:`_KEYS`, as :func:`dialed_sql` cuts them) ends in
    ``needle``: the SQL's join in Python, so that a single lookup and a batch find the same
    legs."""
    for col, which in _KEYS:
        value = leg.get(col)
        # A key is the needle's digits in the value, once its separators are dropped: no
        # needle there, no key (and digits as written have no separator to drop).
        if not isinstance(value, str) or (needle not in value and (
                _plain(value) or needle not in value.translate(_DROP_SEPARATORS))):
            continue
        if key_of(value, which, len(needle)) == needle:
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
    ``3125550100``): the digits every written form of it contains, leading zeros included
    (``+39 06 1234 5678`` -> ``0612345678``; ``national_number`` alone, an integer, dropped
    them, and ``+682 00000`` had the needle ``0``)."""
    import phonenumbers

    try:
        return str(phonenumbers.national_significant_number(phonenumbers.parse(e164, None)))
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")


@functools.lru_cache(maxsize=65_536)
def _region(e164: str) -> str | None:
    """The region of an E.164 number, or None (not a number; a non-geographic code)."""
    import phonenumbers

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    # A non-geographic country code (+800 UIFN, +808, +870 Inmarsat, +881-+883, +888;
    # ITU-T E.164 Annex) has phonenumbers' region "001", which is no region to read a national
    # form in: normalise refused it (ConfigError), and the lookup failed instead of answering.
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def record_region(leg: dict[str, object], e164: str) -> str:
    """The region a leg's dialed and Diversion values are read in: the region of the switch
    that wrote them, as the leg's own called number tells it (ingest normalised it in that
    region, and a translated or forwarded-to number is one of the switch's own network), else
    the inquiry number's, else the default.

    Not the inquiry number's first: a US switch writes a call to London as it was dialled,
    ``011 44 20 7946 0958``, null when read in GB (not found), and its ``2079460958`` (Maine)
    read in GB is +44 20 7946 0958 (a leg of another call found)."""
    from tracehop.numbers import DEFAULT_REGION

    called = leg.get("called_e164")
    own = _region(called) if isinstance(called, str) and called else None
    return own or _region(e164) or DEFAULT_REGION


def numbers_in(raw: str) -> list[str]:
    """The pieces of a dialed or Diversion value that each hold one number: each URI in it (a
    Diversion header may list several, RFC 5806 §3), or the value itself."""
    uris = _URI.findall(raw)
    return [u.strip() for u in uris] if uris else [raw.strip()]


def matching_column(leg: dict[str, object], e164: str) -> str | None:
    """The first of :data:`DIALED_COLUMNS` whose number is ``e164``, normalised in the
    region of the switch that wrote it (:func:`record_region`)."""
    from tracehop.numbers import normalise_one

    region = record_region(leg, e164)
    for col in DIALED_COLUMNS:
        raw = leg.get(col)
        if not isinstance(raw, str) or not raw:
            continue
        if any(normalise_one(n, region) == e164 for n in numbers_in(raw)):
            return col
    return None
