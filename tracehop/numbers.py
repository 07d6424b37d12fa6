"""E.164 normalisation of called and calling numbers (DESIGN.md §3, §5).

A CDR column holds numbers in every form a switch can write: ``3125550100``,
``(312) 555-0100``, ``+1 312 555 0100``, ``0013125550100``, ``tel:+13125550100;phone-context=x``,
``"Name" <sip:+13125550100@host;user=phone>``, and things that are not phone numbers at all
(extensions ``101``, the Asterisk ``s`` extension, ``anonymous``, feature codes ``*72``).
:func:`normalise` turns a whole column into ``+<digits>`` or null, in two tiers:

1. **Fast path** (Polars expressions, no Python per row). Bare digits (``3125550100``,
   ``13125550100``, ``+13125550100``) and punctuated NANP forms are settled first by one
   regex pass each, since they are most of any CDR column. For the rest, it takes the user
   part out of a display name / ``tel:`` / ``sip:`` / ``sips:`` URI (RFC 3966 §3, RFC 3261
   §19.1.1: the number is the user part, before ``@`` and before any ``;`` parameter; an
   escaped ``%2B`` is its ``+``, ``%23`` its ``#``; a local number's
   ``phone-context=+<digits>`` is its prefix, RFC 3966 §5.1.5), strips visual separators
   (space, tab, no-break space, ``- . ( ) /``; full-width digits and ``+`` and the other
   Unicode spaces are read as ASCII first; a spreadsheet's float text ``2125550143.0`` is its
   digits, and scientific notation ``2.125550143E+09`` too when the mantissa spells every
   digit, else null: ``2.12555E+09`` lost digits) and decides:

   - no digit at all, or a ``*`` / ``#`` (feature codes, DTMF) -> null; but one trailing ``#``
     is dropped first: it ends the dialling (ISUP's ST digit as TDM gateways write it, a
     handset's send key), so ``3125550100#`` is that number, while ``*21*3125550100#`` (an
     MMI code that turns call forwarding on) stays null; a leading ``#31#`` / ``*31#`` (GSM
     CLIR for this call only: 3GPP TS 22.081 clause 2, temporary mode; TS 22.030 Annex B) is
     dropped in every region, and in NANP regions a leading ``*67`` / ``*82`` (the NANP codes
     for the same) too, and so is a carrier access code ``101XXXX`` before ``1`` or ``011``;
   - an international form: a leading ``+``; or, without ``+``, the IDD ``011`` (NANP regions)
     or ``00`` (NANP regions, and every region whose IDD is exactly ``00``); or a ``+``
     before that IDD (``+011 44 ...``: no country code starts with 0). Country code 1 is
     decided by the NANP rule below (a trunk ``1`` after it, ``+1 1 312 ...``, is dropped), and
     an unassigned country code is null. For other country
     codes the fast path accepts the number when the national part has one of the lengths
     phonenumbers calls *possible* for that country (and the whole has E.164's 7 to 15
     digits, as on the phonenumbers path), and does not start with the country's
     national prefix (so ``+44 (0)20 ...`` goes to phonenumbers, which drops the ``(0)``);
   - a national form in a NANP region (``US``, ``CA``, ...): ten digits ``NXX NXX XXXX``
     (area code and exchange start with 2-9), optionally preceded by ``1``, become
     ``+1`` + the ten digits; anything else is null (``555-0100`` has no area code; ``101`` is an
     extension).

   NANP numbers are checked by structure, not against the list of assigned area codes: a
   spoofed caller ID in an unassigned area code is still the number the call carried, and the
   matcher must compare it as such. The same rule applies to a ``+1`` number from phonenumbers.
   ``00`` is read as an international prefix in NANP regions too, although the North American
   IDD is ``011``: no NANP national number starts with 0, and gateway switches write ``00``.

2. **phonenumbers** for what the fast path cannot decide: other characters (letters, ``ext``),
   national forms outside NANP regions (``020 7946 0958`` with region ``GB``), international
   forms the length table cannot settle; a NANP vanity number with more letters than it
   dials (``1-800-FLOWERS-NOW``) is cut to the ten digits a switch routes on first. Each
   *distinct* value is parsed once (an LRU cache
   across calls), never once per row. A national form outside NANP must be **valid** for the
   region (``phonenumbers.is_valid_number``: right length *and* an assigned range), because
   reading the region into a number is a guess that validity makes safe (a NANP national form
   is settled by the NANP structure, as on the fast path); an explicit international
   form (``+CC`` or IDD) only has to be **possible** (right length for the country), because
   the sender stated the country and numbering plans change faster than metadata.

:func:`normalise_one` applies the same rules to one value (the inquiry path) in plain Python;
the property tests check that both agree on arbitrary text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from typing import TYPE_CHECKING, Final

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumber import CountryCodeSource

from tracehop.errors import ConfigError

if TYPE_CHECKING:
    # Polars is imported where the vectorised path runs: the one-value path
    # (normalise_one, used by `tracehop lookup`) must not pay ~0.25 s to import it.
    import polars as pl

__all__ = ["normalise", "normalise_expr", "normalise_one", "refusal"]

DEFAULT_REGION: Final = "US"

# Characters trimmed from both ends, and separators allowed inside a number. They are listed
# explicitly (not "whitespace") so that the Polars and the Python paths agree on every input.
_TRIM: Final = " \t\r\n\f\v\xa0"
_SEPARATORS: Final = " \t\xa0()./-"
# Quotes around a whole value, trimmed from its ends with _TRIM before anything else, and one
# leading "=" then: a CSV written for a spreadsheet ("'3125550100", '"3125550100"',
# '="3125550100"', Excel's way to keep a number as text), a CDR field quoted twice by a
# broken writer, a portal's copy. They were read right, but by phonenumbers, one distinct value
# at a time: a quoted column of distinct numbers normalised ~30x slower (100,000 values: 5 s
# against 0.16 s). Typographic quotes are folded to these first (_FOLD).
_QUOTES: Final = "\"'`"
_ENDS: Final = _TRIM + _QUOTES
# Read as their ASCII counterparts before anything else: full-width digits and plus (an East
# Asian input method, a PDF, a chat) and the Unicode spaces typeset pages group digits with
# (thin, narrow no-break, figure, ideographic). Without this "３１２５５５０１００" had no
# digit [0-9] and was null, though phonenumbers reads it, and "+1 312 555 0100" with thin
# spaces was null on both paths. Invisible format characters that copying from a chat, an
# e-mail or a web portal brings along (bidi marks, zero-width space, word joiner, BOM, soft
# hyphen) are dropped: they sent "\u202a0013125550100" to phonenumbers, which does not read
# "00" as a prefix in the US (null). A short explicit table, the same for Polars and Python.
_FOLD: Final = {
    **{chr(0xFF10 + d): str(d) for d in range(10)},
    "\uff0b": "+",
    **dict.fromkeys("\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                    "\u200a\u202f\u205f\u3000", " "),
    # typographic dashes (hyphen, non-breaking hyphen, figure, en and em dash, minus sign,
    # full-width hyphen) and full-width brackets, dot and slash: visual separators, as their
    # ASCII forms ("001\u2013312\u2013555\u20130100" was null, like the other cases here)
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d", "-"),
    # typographic quotes (a word processor's, a web page's): as the ASCII quotes (_QUOTES)
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\uff02", '"'),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\uff07", "'"),
    "\uff08": "(",
    "\uff09": ")",
    "\uff0e": ".",
    "\uff0f": "/",
    **dict.fromkeys("\xad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c"
                    "\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
                    "\ufeff", ""),
}
_FOLD_TABLE: Final = str.maketrans(_FOLD)

# The patterns below are used by both Rust's regex crate (Polars) and Python's re, so they keep
# to the syntax both read the same way: no look-around, no \d (Unicode in both, but tables
# differ), no (?i) (both fold the long s 'ſ' to 's').
_ANGLE: Final = "<([^>]*)>"  # name-addr: the URI between < and > (RFC 3261 §20.10)
_SCHEME: Final = "^(?:[tT][eE][lL]|[sS][iI][pP][sS]?):"  # RFC 3966 tel:, RFC 3261 sip:/sips:
_USER: Final = "^([^@;]*)"  # user part: before @host, before ;params
# RFC 3966 §5.1.5: a local number's phone-context, when it is global digits ("+1312", "+44"),
# is the prefix that makes it global (IMS sends national forms so, in tel: and in the user part
# of sip:...;user=phone). Read without it, "tel:2079460958;phone-context=+44" was the US
# number +12079460958. A domain name context adds nothing; a global number keeps its digits.
_CONTEXT: Final = ";[Pp][Hh][Oo][Nn][Ee]-[Cc][Oo][Nn][Tt][Ee][Xx][Tt]=(\\+[0-9().-]+)"
# A user part may carry "+" escaped (RFC 3261 §19.1.2; §19.1.4: escaped and plain are the same
# URI), and some SIP stacks send sip:%2B13125550100@host: without this it was null. "#" may
# not appear unescaped in a user part at all (RFC 3261 §25.1: it is neither unreserved nor
# user-unreserved), so a conforming stack writes a dialled end-of-dialling "#" or a "#31#"
# prefix as %23: "sip:3125550100%23@host" was null where "sip:3125550100#@host" was read.
# "*" may be escaped too (%2A). Only these three: no other escaped character can be part of a
# number, and a fixed table reads the same in Polars and in Python.
_UNESCAPE: Final = {"%2B": "+", "%2b": "+", "%23": "#", "%2A": "*", "%2a": "*"}
_ESCAPED: Final = "%2[Bb3Aa]"
# Per-call caller-ID presentation codes dialled before the number. They only set whether this
# call shows the caller's number, and the call went to the number after them: a PBX, a mobile
# core or an SBC that records the digits dialled (a dialed column, an R-URI user) writes
# "*673125550100" or "#31#3125550100", and a traceback names 3125550100, so the code is dropped.
# - GSM/3GPP CLIR, temporary mode: "#31#<number>" hides the caller ID for this call,
#   "*31#<number>" shows it (3GPP TS 22.081 clause 2, temporary mode; the codes: TS 22.030
#   Annex B, "#31# <called number> SEND"). A handset standard, so read in every region (GSM
#   handsets in the US use it too).
# - NANP vertical service codes *67 (hide) and *82 (show), NANP regions only: elsewhere "*67"
#   means something else, and any other "*" still makes the value a feature code ("*72
#   <number>" turns forwarding on).
# One or more of them (a caller who dialled both), each maybe followed by a space.
_CLIR_GSM: Final = "[*#]31#"
_PRIVACY_ANY: Final = f"^(?:{_CLIR_GSM}[{_TRIM}]*)+"
_PRIVACY_NANP: Final = f"^(?:(?:{_CLIR_GSM}|\\*(?:67|82))[{_TRIM}]*)+"
# A NANP carrier access code, 101XXXX ("dial-around": this call's long-distance carrier), as an
# end office that records the digits dialled writes it before 1 + the number or 011 + an
# international one. Dropped, keeping the 1 / 011 (NANP regions only): no NANP national number
# starts with 1, so nothing else can be misread; without the 1 / 011 the value stays null.
_CAC: Final = "^101[0-9]{4}[" + _SEPARATORS + "]*(1|011)"
# "+" before the international prefix: "+011 44 20 7946 0958", "+0044 20 7946 0958", as a user
# types it and as a pipeline writes it that puts "+" before every number it was given in
# international form (an SBC adding "+" for an international nature of address). ITU-T
# E.164 assigns no country code that starts with 0, so the only reading is the IDD's: the "+"
# is dropped, with the prefixes above, and the IDD read as without it (the region's own,
# "011" / "00", as below). It was null on the fast path (phonenumbers read it with an
# extension). A "+0" with no IDD after it stays null. Keyed by (idd_011, idd_00).
_PLUS_IDD: Final = {
    (True, True): "^\\+[" + _SEPARATORS + "]*(011|00)",
    (False, True): "^\\+[" + _SEPARATORS + "]*(00)",
}
_DIAL_PREFIX_NANP: Final = (
    f"^(?:{_CLIR_GSM}|\\*(?:67|82)|101[0-9]{{4}}[" + _SEPARATORS + "]*(?:1|011)"
    "|\\+[" + _SEPARATORS + "]*0)"
)
_DIAL_PREFIX_ANY: Final = f"^(?:{_CLIR_GSM}|\\+[" + _SEPARATORS + "]*0)"
_CLEAN: Final = "\\+?[0-9" + _SEPARATORS + "]+"
_NANP_NATIONAL: Final = "1?[2-9][0-9]{2}[2-9][0-9]{6}"
_NANP_INTL: Final = "1[2-9][0-9]{2}[2-9][0-9]{6}"
# "+1" then NANP's trunk "1" and the ten digits: "+113125550100" (a pipeline that put "+1" before
# a number already written 1 + ten digits), "tel:13125550100;phone-context=+1". No area code
# starts with 1, so the only reading is the number after the trunk 1, as phonenumbers reads it
# (and as it drops the "0" of "+44 (0)20"); it was null. The trunk 1 is dropped.
_NANP_TRUNK: Final = "11[2-9][0-9]{2}[2-9][0-9]{6}"
# Quick tiers of normalise(): strict subsets of the full rules, for the forms most CDRs use.
# Both only test (no capture group, so the regex crate runs its fast DFA, about twice as fast
# as a capture) and then take the last ten digits: tier 1 the bare digits (10 digits, 1 + 10,
# +1 + 10), tier 2 the punctuated forms "(312) 555-0100", "1-312-555-0100", "+1 312.555.0100",
# whose last ten digits are then the number. *_NANP for NANP regions, *_PLUS1 for the others.
_QUICK_NANP: Final = "^(?:\\+1|1)?[2-9][0-9]{2}[2-9][0-9]{6}$"
_QUICK_PLUS1: Final = "^\\+1[2-9][0-9]{2}[2-9][0-9]{6}$"
_PUNCT_NANP: Final = "^(?:\\+1|1)?[ .-]?\\(?[2-9][0-9]{2}\\)?[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}$"
_PUNCT_PLUS1: Final = "^\\+1[ .-]?\\(?[2-9][0-9]{2}\\)?[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}$"
_E164: Final = re.compile("\\+[1-9][0-9]{6,14}")
# A number that went through a spreadsheet (or a dataframe with gaps) as a float and came back
# as text: "2125550143.0", "12125550143.0" (pandas, a CSV export of a float column), "2125550143.00"
# (a two-decimal number format). Only digits then one "." and zeros: no dialling plan writes a
# last group of zeros after a single dot, and the integer part is long enough to be a number
# (a "." elsewhere stays a separator: "312.555.0100"). "+12125550143.0" (a pipeline that put
# "+" before such text) keeps its "+": the "+" was written for the number, a float has none.
# They were null: "2125550143.0" is eleven digits.
_FLOAT_DOT: Final = "^(\\+?[0-9]{7,15})\\.0+$"
# The same in scientific notation, as Excel's General format shows a number of more than 11
# characters ("2.12555E+09") and a CSV export then writes it. Only a mantissa that spells every
# digit of the integer ("2.125550143E+09": 10 digits, exponent 9) is read back; fewer digits
# ("2.12555E+09") means the spreadsheet rounded the number and its last digits are lost (or,
# for a number ending in zeros, cannot be told from lost ones), and more is no whole number:
# both are null, never the zero-filled wrong number. Before, phonenumbers read the "e" as a
# keypad letter ("2.125550143e9" -> 12 digits). A spreadsheet in a locale with a decimal comma
# writes "2,12555E+09". Groups: leading digit, fraction, exponent.
_SCI: Final = "^([1-9])(?:[.,]([0-9]*))?[Ee]\\+?([0-9]{1,3})$"
_SPREADSHEET: Final = f"{_FLOAT_DOT}|{_SCI}"
# Vanity numbers (letters on the keypad, ITU-T E.161: ABC=2 ... WXYZ=9). phonenumbers maps the
# letters itself; what it cannot know is that an advertised NANP vanity number often has more
# letters than digits ("1-800-FLOWERS-NOW", "1-800-CONTACTS"): the switch routes on 1 + ten
# digits and ignores whatever is keyed after them, so the call went to the first ten national
# digits. phonenumbers kept the surplus (+18003569377669, null by the NANP rule). _vanity cuts
# it, only when the ten digits end inside a word (the tenth is a letter, and so are three) and
# the rest is letters and separators: a digit after the ten ("1-800-FLOWERS1") or a complete
# digit number before words ("3125550100 NOW") stays as it was, for phonenumbers to refuse.
_KEYPAD: Final = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "22233344455566677778889999" * 2,
)
_LETTER_RE: Final = re.compile("[A-Za-z]")
_VANITY_TAIL_RE: Final = re.compile("[A-Za-z" + re.escape(_SEPARATORS) + "]*")


def _privacy(plan: _Plan) -> str:
    """The caller-ID presentation codes read before a number in ``plan``'s region."""
    return _PRIVACY_NANP if plan.nanp else _PRIVACY_ANY


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


@dataclass(frozen=True)
class _Plan:
    """Everything the fast path needs for one default region, built once from the metadata."""

    region: str
    nanp: bool  # the region is in the North American Numbering Plan (country code 1)
    idd_00: bool  # "00" is read as an international prefix
    idd_011: bool  # "011" is read as an international prefix

    # The country table is the same for every region, and building it reads the metadata of
    # every country (~0.3 s): it is built on first use, so that one NANP number (the
    # `tracehop lookup` path) never pays for it.
    @property
    def assigned(self) -> str:
        """Regex: digits that start with an assigned country code."""
        return _country_table()[0]

    @property
    def shape(self) -> str:
        """Regex: country code + a national part that does not start with its prefix."""
        return _country_table()[1]

    @property
    def lengths(self) -> str:
        """Regex: country code + a national part of a possible length."""
        return _country_table()[2]


_Trie = dict[str, "_Trie"]


def _not_prefixed(literals: list[str]) -> str | None:
    """A regex for digit strings that start with none of ``literals`` (no look-ahead needed).

    It walks the trie of the literals: at each node, either a digit that leaves the trie (then
    anything), or a child that is not the end of a literal. Strings that stop inside the trie
    (a proper prefix of a literal) are not matched, which only sends them to phonenumbers.
    """
    trie: _Trie = {}
    for lit in literals:
        node = trie
        for ch in lit:
            node = node.setdefault(ch, {})
        node["$"] = {}  # a literal ends here

    def walk(node: _Trie) -> str | None:
        if "$" in node:
            return None
        parts: list[str] = []
        free = "".join(d for d in "0123456789" if d not in node)
        if free:
            parts.append(f"[{free}][0-9]*")
        for d in sorted(k for k in node if k != "$"):
            sub = walk(node[d])
            if sub is not None:
                parts.append(f"{d}(?:{sub})")
        return "|".join(parts) if parts else None

    return walk(trie)


@cache
def _country_table() -> tuple[str, str, str]:
    """(assigned, shape, lengths) regexes over international digits, for all country codes.

    A country code takes the fast path only when phonenumbers' parse cannot rewrite its
    national part: its national-prefix-for-parsing is absent or a plain list of literal digit
    strings (``0``, ``8``, ``06``, ``0|180020``). Countries with a pattern (Argentina's
    ``15`` mobile token, Brazil's carrier codes, ...) always go to phonenumbers.
    """
    assigned: list[str] = []
    shape: list[str] = []
    lengths: list[str] = []
    for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        assigned.append(str(cc))
        if cc == 1:
            continue  # decided by the NANP rule
        md = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        if md is None or md.general_desc is None:
            continue
        desc = md.general_desc
        possible = sorted(
            set(desc.possible_length or ()) - set(desc.possible_length_local_only or ())
        )
        # E.164 numbers have 7 to 15 digits here (_E164, which the phonenumbers path applies):
        # a length the metadata allows beyond them (+598 with 13 digits: 16) was accepted by
        # the fast path alone, and the matcher then refused the "E.164" it had stored.
        possible = [n for n in possible if 7 <= len(str(cc)) + n <= 15]
        if not possible:
            continue
        npfp = md.national_prefix_for_parsing
        if npfp is None:
            national = "[0-9]+"
        elif re.fullmatch(r"[0-9]+(?:\|[0-9]+)*", npfp):
            not_pre = _not_prefixed(npfp.split("|"))
            if not_pre is None:
                continue
            national = not_pre
        else:
            continue
        shape.append(f"{cc}(?:{national})")
        lengths.append(f"{cc}(?:" + "|".join(f"[0-9]{{{n}}}" for n in possible) + ")")
    return (
        "(?:" + "|".join(assigned) + ")[0-9]*",
        "|".join(shape),
        "|".join(lengths),
    )


@lru_cache(maxsize=64)
def _plan(region: str) -> _Plan:
    code = region.strip().upper() if isinstance(region, str) else ""
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"unknown region {region!r} for number normalisation",
            hint="Give an ISO 3166 two-letter region that has a phone numbering plan, e.g. US, "
            "GB or DE",
        )
    md = PhoneMetadata.metadata_for_region(code)
    nanp = md is not None and md.country_code == 1
    idd_00 = nanp or (md is not None and md.international_prefix == "00")
    return _Plan(code, nanp, idd_00, nanp)


# -- the slow path: phonenumbers, once per distinct value ------------------------------------

_NATIONAL_SOURCES: Final = (
    CountryCodeSource.FROM_DEFAULT_COUNTRY,
    CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN,
)


def _vanity(text: str, plan: _Plan) -> str:
    """The NANP number a vanity form with surplus letters dials (``+1`` and ten digits), or
    ``text`` unchanged when it is not one (see _KEYPAD)."""
    sep = re.escape(_SEPARATORS)
    idd = "|".join(p for p, on in (("\\+", True), ("011", plan.idd_011), ("00", plan.idd_00))
                   if on)
    intl = re.match(f"[{sep}]*(?:{idd})[{sep}]*1", text)
    if intl is not None:
        rest = text[intl.end():]
    elif plan.nanp:  # a national form, with or without the trunk 1
        rest = re.sub(f"^[{sep}]*1", "", text, count=1)
    else:
        return text
    dialled: list[str] = []
    for i, ch in enumerate(rest):
        if ch in _SEPARATORS:
            continue
        if not (ch.isascii() and ch.isalnum()):
            return text
        dialled.append(ch)
        if len(dialled) == 10:
            tail = rest[i + 1:]
            break
    else:
        return text
    # At least three letters in the ten: phonenumbers' threshold for reading letters as a
    # vanity number at all (with fewer it ignores trailing ones), so the cut only ever
    # shortens what phonenumbers reads as letters.
    if (not tail or not dialled[-1].isalpha() or sum(c.isalpha() for c in dialled) < 3
            or not _VANITY_TAIL_RE.fullmatch(tail)):
        return text
    return "+1" + "".join(dialled).translate(_KEYPAD)


@lru_cache(maxsize=1 << 18)
def _slow(key: str, region: str) -> str | None:
    """phonenumbers' verdict on one value the fast path could not decide (see module doc)."""
    text = key
    if _plan(region).nanp:
        # "00" is an international prefix in NANP regions here too (module doc); phonenumbers
        # knows only 011 for them, so "0013125550100 x12" was null where "0013125550100" is
        # the number. Its first digits "00" are written as the "+" they stand for.
        text = _LEADING_00_RE.sub("\\1+", key, count=1)
    if _LETTER_RE.search(text):
        text = _vanity(text, _plan(region))
    try:
        num = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    # A national NANP form (country code 1 read from a NANP region) is settled by structure,
    # as on the fast path (below): validity would need an assigned area code and exchange, and
    # "(242) 555-0100 ext. 5" was null while "2425550100" was +12425550100.
    if num.country_code_source in _NATIONAL_SOURCES and num.country_code != 1:
        ok = phonenumbers.is_valid_number(num)
    else:
        reason = phonenumbers.is_possible_number_with_reason(num)
        ok = reason == phonenumbers.ValidationResult.IS_POSSIBLE
    if not ok:
        return None
    e164: str = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    if not _E164.fullmatch(e164):
        return None
    if e164.startswith("+1") and not _NANP_INTL_RE.fullmatch(e164[1:]):
        return None  # the NANP structural rule holds whichever path decides
    if e164 != key:
        # phonenumbers can strip a national prefix again from its own output for degenerate
        # numbers (+53 0000001 -> +53 000001): a result must be a fixed point of the rules.
        decided, again = _intl_verdict(e164[1:], _plan(region))
        if (again if decided else _slow(e164, region)) != e164:
            return None
    return e164


def _slow_series(keys: pl.Series, region: str) -> pl.Series:
    """Map the non-null keys through :func:`_slow`, calling it once per distinct key."""
    import polars as pl

    distinct = keys.drop_nulls().unique()
    if distinct.len() == 0:
        return pl.Series(keys.name, [None] * keys.len(), dtype=pl.String)
    verdicts = [_slow(k, region) for k in distinct.to_list()]
    return keys.replace_strict(distinct, verdicts, default=None, return_dtype=pl.String)


# -- the fast path, as Polars expressions ------------------------------------------------------


def _sci_series(s: pl.Series) -> pl.Series:
    """``s`` with each value in scientific notation (_SCI) replaced by its digits when the
    mantissa spells them all, else by null; other values as they were."""
    import polars as pl

    parts = s.str.extract_groups(_SCI)
    lead = parts.struct.field("1")
    frac = parts.struct.field("2").fill_null("")
    exact = frac.str.len_chars().cast(pl.Int64) == parts.struct.field("3").cast(pl.Int64)
    return (
        pl.DataFrame({"s": s, "lead": lead, "frac": frac, "exact": exact})
        .select(
            pl.when(pl.col("lead").is_null())
            .then(pl.col("s"))
            .when(pl.col("exact"))
            .then(pl.col("lead") + pl.col("frac"))
            .otherwise(None)
            .alias(s.name)
        )
        .to_series()
    )


def _core(raw: pl.Series) -> pl.Series:
    """The candidate number: the user part of a name-addr / URI, trimmed.

    A step is skipped when no value in the batch has the character it needs (``<``, ``:``,
    ``@``/``;``): its result would be the input unchanged, and plain CDR columns have none.
    """
    s = raw
    # Only a batch with a non-ASCII value (more bytes than characters: no regex pass) can
    # hold a character of _FOLD.
    if (s.str.len_bytes() != s.str.len_chars()).any():
        s = s.str.replace_many(list(_FOLD), list(_FOLD.values()))
    s = s.str.strip_chars(_ENDS)
    if s.str.starts_with("=").any():
        s = s.str.strip_prefix("=").str.strip_chars(_ENDS)
    # One anchored scan for both spreadsheet forms (it fails at the first character of a URI
    # or a name-addr), and their rewrites only when a value has one.
    if s.str.contains(_SPREADSHEET).any():
        s = _sci_series(s.str.replace(_FLOAT_DOT, "${1}"))
    if s.str.contains("<", literal=True).any():
        s = s.str.extract(_ANGLE, 1).fill_null(s).str.strip_chars(_TRIM)
    if s.str.contains(":", literal=True).any():
        s = s.str.replace(_SCHEME, "")
    # One scan for both rare marks: a "%" escape, a "=+" of phone-context=+<digits>.
    marked = s.str.contains("%|=\\+").any()
    if s.str.contains("[@;]").any():
        user = s.str.extract(_USER, 1)
        if marked and s.str.contains(_CONTEXT).any():
            ctx = s.str.extract(_CONTEXT, 1)
            local = ctx.is_not_null() & ~user.str.strip_chars(_TRIM).str.starts_with("+")
            user = (ctx + user).zip_with(local.fill_null(False), user)
        s = user
    if marked and s.str.contains("%", literal=True).any():
        s = s.str.replace_many(list(_UNESCAPE), list(_UNESCAPE.values()))
    s = s.str.strip_chars(_TRIM)
    # One trailing "#" ends the dialling (ISUP's ST digit, a handset's send key): the number is
    # the digits before it. Any other "*" / "#" still makes the value a feature code.
    if s.str.ends_with("#").any():
        s = s.str.strip_suffix("#").str.strip_chars(_TRIM)
    return s


def _decide(frame: pl.DataFrame, plan: _Plan) -> pl.DataFrame:
    """Columns ``fast`` (the fast path's E.164 or null) and ``key`` (the value to hand to
    phonenumbers, or null when the fast path decided) from a frame with a ``core`` column.

    Staged ``with_columns`` so that each intermediate is computed once per row.
    """
    import polars as pl

    core = pl.col("core")
    frame = frame.with_columns(
        decided_null=core.is_null() | ~core.str.contains("[0-9]") | core.str.contains("[*#]"),
        clean=core.str.contains(_anchored(_CLEAN)),
        digits=core.str.replace_all("[^0-9]", ""),
        plus=core.str.starts_with("+"),
    )
    digits = pl.col("digits")
    # Built inside out, so the priority is: "+", then "011", then "00". ("+" before the IDD
    # was dropped with the dialling prefixes: _plus_idd.)
    intl = pl.lit(None, dtype=pl.String)
    if plan.idd_00:
        intl = pl.when(digits.str.starts_with("00")).then(digits.str.slice(2)).otherwise(intl)
    if plan.idd_011:
        intl = pl.when(digits.str.starts_with("011")).then(digits.str.slice(3)).otherwise(intl)
    frame = frame.with_columns(intl=pl.when(pl.col("plus")).then(digits).otherwise(intl))
    intl_c = pl.col("intl")
    frame = frame.with_columns(
        intl=pl.when(intl_c.str.contains(_anchored(_NANP_TRUNK)))
        .then(intl_c.str.slice(1))
        .otherwise(intl_c)
    )
    frame = frame.with_columns(
        accept=intl_c.str.contains(_anchored(_NANP_INTL))
        | (
            intl_c.str.contains(_anchored(plan.shape))
            & intl_c.str.contains(_anchored(plan.lengths))
        ),
        reject=intl_c.str.starts_with("1") | ~intl_c.str.contains(_anchored(plan.assigned)),
    )
    if plan.nanp:
        national = (
            pl.when(digits.str.contains(_anchored(_NANP_NATIONAL)))
            .then(pl.lit("+1") + digits.str.slice(-10))
            .otherwise(None)
        )
        national_key = pl.lit(None, dtype=pl.String)
    else:
        national = pl.lit(None, dtype=pl.String)
        national_key = digits
    undecided_null, clean, accept = pl.col("decided_null"), pl.col("clean"), pl.col("accept")
    return frame.select(
        fast=pl.when(undecided_null | ~clean)
        .then(None)
        .when(intl_c.is_not_null())
        .then(pl.when(accept).then(pl.lit("+") + intl_c).otherwise(None))
        .otherwise(national),
        key=pl.when(undecided_null)
        .then(None)
        .when(~clean)
        .then(pl.col("core"))
        .when(intl_c.is_not_null())
        .then(pl.when(accept | pl.col("reject")).then(None).otherwise(pl.lit("+") + intl_c))
        .otherwise(national_key),
    )


#: Columns at least this long are checked for repeats (a sample of _REPEAT_SAMPLE values):
#: called and calling numbers repeat a lot in real CDRs (a robocall campaign's callers, a
#: call centre's lines), and then each distinct value is normalised once and mapped back.
_REPEAT_MIN: Final = 50_000
_REPEAT_SAMPLE: Final = 20_000


def normalise(values: pl.Series, region: str = DEFAULT_REGION) -> pl.Series:
    """Normalise a column of raw numbers to E.164 (``+<digits>``) or null, keeping its name.

    Raises :class:`~tracehop.errors.ConfigError` for an unknown region.
    """
    import polars as pl

    plan = _plan(region)
    if values.dtype == pl.Float64 or values.dtype.is_decimal():
        # A column a reader (or a dataframe with gaps) typed as floating point: 3125550100.0 as
        # text is "3125550100.0", which no rule reads (it was null). A whole value is the
        # integer it holds; any other is no number. E.164 numbers have at most 15 digits, which
        # a double holds exactly; a Float32 does not (3125550100 is 3125550080 there), so its
        # values stay unread.
        whole = values.cast(pl.Int64, strict=False)
        values = whole.zip_with((whole.cast(pl.Float64) == values.cast(pl.Float64))
                                .fill_null(False), pl.Series([None], dtype=pl.Int64))
    elif values.dtype == pl.Float32:
        # Its text is the rounded value ("3125550000.0" for 3125550100), which the float-text
        # rule (_FLOAT_DOT) would read as a wrong number: unread, as documented.
        values = pl.Series(values.name, [None] * values.len(), dtype=pl.String)
    raw = values.cast(pl.String)
    if raw.len() >= _REPEAT_MIN:
        sample = raw.gather_every(max(1, raw.len() // _REPEAT_SAMPLE))
        if sample.n_unique() * 2 <= sample.len():
            distinct = raw.drop_nulls().unique()
            mapped = _normalise(distinct, plan)
            return raw.replace_strict(
                distinct, mapped, default=None, return_dtype=pl.String
            ).alias(values.name)
    return _normalise(raw, plan).alias(values.name)


def _normalise(raw: pl.Series, plan: _Plan) -> pl.Series:
    """:func:`normalise` of a String column, value by value (no repeat detection)."""
    import polars as pl

    # Most CDR values are bare NANP digits; one regex test settles them, and only the rest go
    # through the full pipeline. The quick pattern is a strict subset of the full rules.
    col = pl.col("raw")
    out = (
        pl.DataFrame({"raw": raw})
        .select(
            pl.when(col.str.contains(_QUICK_NANP if plan.nanp else _QUICK_PLUS1))
            .then(pl.lit("+1") + col.str.slice(-10))
            .alias(raw.name)
        )
        .to_series()
    )
    rest_idx = (out.is_null() & raw.is_not_null()).arg_true()
    if rest_idx.len() == 0:
        return out
    rest_raw = raw.gather(rest_idx)
    punct = rest_raw.str.contains(_PUNCT_NANP if plan.nanp else _PUNCT_PLUS1)
    if punct.any():
        ten = rest_raw.filter(punct).str.replace_all("[^0-9]", "").str.slice(-10)
        out = out.scatter(rest_idx.filter(punct), "+1" + ten)
        rest_idx, rest_raw = rest_idx.filter(~punct), rest_raw.filter(~punct)
        if rest_idx.len() == 0:
            return out
    core = _core(rest_raw)
    # Caller-ID codes (#31#, and in NANP regions *67 / *82), 101XXXX and the "+" before an IDD
    # are dropped only from the values that start with one (a test anchored at the start is
    # cheap; a replace of every value cost ~15 % of this path, since extensions such as "101"
    # are common).
    hit = core.str.contains(_DIAL_PREFIX_NANP if plan.nanp else _DIAL_PREFIX_ANY)
    hit = hit.fill_null(False)
    if hit.any():
        idx = hit.arg_true()
        fixed = core.gather(idx).str.replace(_privacy(plan), "").str.strip_chars(_TRIM)
        if plan.nanp:
            fixed = fixed.str.replace(_CAC, "${1}")
        if (plus_idd := _PLUS_IDD.get((plan.idd_011, plan.idd_00))) is not None:
            fixed = fixed.str.replace(plus_idd, "${1}")
        core = core.scatter(idx, fixed)
    frame = pl.DataFrame({"core": core})
    frame = _decide(frame, plan)
    rest = frame.get_column("fast")
    keys = frame.get_column("key")
    if keys.null_count() != keys.len():
        rest = rest.fill_null(_slow_series(keys, plan.region))
    if rest.null_count() == rest.len():
        return out
    return out.scatter(rest_idx, rest)


def normalise_expr(col: pl.Expr, region: str = DEFAULT_REGION) -> pl.Expr:
    """:func:`normalise` as an elementwise expression, for lazy pipelines (same result)."""
    import polars as pl

    plan = _plan(region)  # fail on a bad region when the plan is built, not when it runs
    return col.map_batches(
        partial(normalise, region=plan.region), return_dtype=pl.String, is_elementwise=True
    )


# -- one value, in plain Python (same rules) ---------------------------------------------------


@lru_cache(maxsize=64)
def _compiled(plan: _Plan) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return re.compile(plan.assigned), re.compile(plan.shape), re.compile(plan.lengths)


# The same patterns as the Polars path, compiled once for the per-value path.
_ANGLE_RE: Final = re.compile(_ANGLE)
_SCHEME_RE: Final = re.compile(_SCHEME)
_USER_RE: Final = re.compile(_USER)
_CONTEXT_RE: Final = re.compile(_CONTEXT)
_ESCAPED_RE: Final = re.compile(_ESCAPED)
_PRIVACY_NANP_RE: Final = re.compile(_PRIVACY_NANP)
_PRIVACY_ANY_RE: Final = re.compile(_PRIVACY_ANY)
_CAC_RE: Final = re.compile(_CAC)
_CLEAN_RE: Final = re.compile(_CLEAN)
_DIGIT_RE: Final = re.compile("[0-9]")
_FEATURE_RE: Final = re.compile("[*#]")
_NON_DIGITS_RE: Final = re.compile("[^0-9]")
_NANP_NATIONAL_RE: Final = re.compile(_NANP_NATIONAL)
_NANP_INTL_RE: Final = re.compile(_NANP_INTL)
_NANP_TRUNK_RE: Final = re.compile(_NANP_TRUNK)
_LEADING_00_RE: Final = re.compile("^([^0-9+]*)00")
_PLUS_IDD_RES: Final = {k: re.compile(v) for k, v in _PLUS_IDD.items()}
_FLOAT_DOT_RE: Final = re.compile(_FLOAT_DOT)
_SCI_RE: Final = re.compile(_SCI)


def _sci_verdict(s: str) -> tuple[bool, str] | None:
    """For a value in scientific notation (_SCI): (True, its digits) when the mantissa spells
    every digit of the integer, else (False, why); None for any other value."""
    m = _SCI_RE.fullmatch(s)
    if m is None:
        return None
    frac, exp = m.group(2) or "", int(m.group(3))
    if len(frac) == exp:
        return True, m.group(1) + frac
    if len(frac) < exp:
        return False, (f"it is in scientific notation with {1 + len(frac)} significant "
                       f"digits, as a spreadsheet rounds a number, and its last "
                       f"{exp - len(frac)} digit(s) are lost")
    return False, "it is a number in scientific notation with a fraction, not a whole number"


def _intl_verdict(intl: str, plan: _Plan) -> tuple[bool, str | None]:
    """(decided, E.164 or None) for international digits; undecided goes to phonenumbers."""
    if _NANP_INTL_RE.fullmatch(intl):
        return True, "+" + intl  # before the country table: see _Plan
    assigned, shape, lengths = _compiled(plan)
    if shape.fullmatch(intl) and lengths.fullmatch(intl):
        return True, "+" + intl
    if intl.startswith("1") or not assigned.fullmatch(intl):
        return True, None
    return False, None


def _text_one(raw: str) -> str:
    """The value with folds, quotes and a spreadsheet's float text undone (as _core does)."""
    s = str(raw).translate(_FOLD_TABLE).strip(_ENDS)
    if s.startswith("="):
        s = s[1:].strip(_ENDS)
    return _FLOAT_DOT_RE.sub("\\1", s, count=1)


def normalise_one(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Normalise one raw number with the same rules as :func:`normalise`."""
    plan = _plan(region)
    if raw is None:
        return None
    s = _text_one(raw)
    sci = _sci_verdict(s)
    if sci is not None:
        if not sci[0]:
            return None
        s = sci[1]
    angle = _ANGLE_RE.search(s)
    if angle is not None:
        s = angle.group(1)
    s = _SCHEME_RE.sub("", s.strip(_TRIM), count=1)
    user = _USER_RE.match(s)
    core = user.group(1) if user else ""
    ctx = _CONTEXT_RE.search(s)
    if ctx is not None and not core.strip(_TRIM).startswith("+"):
        core = ctx.group(1) + core
    core = _ESCAPED_RE.sub(lambda m: _UNESCAPE[m.group(0)], core)
    core = core.strip(_TRIM).removesuffix("#").strip(_TRIM)
    core = (_PRIVACY_NANP_RE if plan.nanp else _PRIVACY_ANY_RE).sub("", core, count=1)
    core = core.strip(_TRIM)
    if plan.nanp:
        core = _CAC_RE.sub("\\1", core, count=1)
    if (plus_idd := _PLUS_IDD_RES.get((plan.idd_011, plan.idd_00))) is not None:
        core = plus_idd.sub("\\1", core, count=1)
    if not _DIGIT_RE.search(core) or _FEATURE_RE.search(core):
        return None
    if not _CLEAN_RE.fullmatch(core):
        return _slow(core, plan.region)
    digits = _NON_DIGITS_RE.sub("", core)
    intl: str | None = None
    if core.startswith("+"):
        intl = digits
    elif plan.idd_011 and digits.startswith("011"):
        intl = digits[3:]
    elif plan.idd_00 and digits.startswith("00"):
        intl = digits[2:]
    if intl is not None:
        if _NANP_TRUNK_RE.fullmatch(intl):
            intl = intl[1:]
        decided, e164 = _intl_verdict(intl, plan)
        return e164 if decided else _slow("+" + intl, plan.region)
    if plan.nanp:
        return "+1" + digits[-10:] if _NANP_NATIONAL_RE.fullmatch(digits) else None
    return _slow(digits, plan.region)


_LOCAL_NANP_RE: Final = re.compile("[" + re.escape(_SEPARATORS) + "]*[2-9]([0-9]|["
                                   + re.escape(_SEPARATORS) + "])*")


def refusal(raw: str, region: str = DEFAULT_REGION) -> tuple[str, str] | None:
    """Why :func:`normalise_one` gives no number for ``raw``, as (reason, hint), for the
    refusals whose fix the asker needs to know (an inquiry's number); None for the others.

    - scientific notation that lost digits in a spreadsheet (_SCI): nothing can restore them;
    - a NANP local number (7 digits) in a NANP region: E.164 needs the area code;
    - letters that dial no number (a vanity number too short, or with digits after it).
    """
    plan = _plan(region)
    s = _text_one(raw)
    sci = _sci_verdict(s)
    if sci is not None and not sci[0]:
        return sci[1], ("Give the number in digits as dialled; in the spreadsheet, format the "
                        "column as Text (or the number format as 0) and type the number again")
    s = _SCHEME_RE.sub("", s.strip(_TRIM), count=1)
    if plan.nanp and _LOCAL_NANP_RE.fullmatch(s) and len(_NON_DIGITS_RE.sub("", s)) == 7:
        return ("it has 7 digits and no area code, so it has no E.164 form",
                "Give the area code too, e.g. (312) 555-0143 or +13125550143")
    # A vanity number: digits and at least three letters (phonenumbers' threshold), and no
    # extension, whose marks are letters too.
    if (_DIGIT_RE.search(s) and len(_LETTER_RE.findall(s)) >= 3
            and not re.search("[Ee][Xx][Tt]|[Xx][ .]*[0-9]|;", s)):
        dialled = _NON_DIGITS_RE.sub("", s.translate(_KEYPAD))
        return (f"read as a vanity number (letters on the phone keypad) it dials {dialled}, "
                "which is no valid phone number",
                "Give the number in digits as dialled; in North America that is 1 and ten "
                "digits, letters after the tenth are not dialled (1-800-FLOWERS-NOW is "
                "+18003569377)")
    return None
