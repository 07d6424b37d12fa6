"""Named transforms a profile can apply to a column (``transform = "NAME"`` in a field spec).

Some layouts need more than "copy this column" or "keep this regex group", and a profile must
stay data (DESIGN.md §2). Each transform here is a small, vectorised Polars expression with a
name; profiles refer to it by that name. Add one here (with a test) rather than writing Python
in a profile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import unquote

import polars as pl


def _strip(e: pl.Expr) -> pl.Expr:
    # FreeSWITCH's compiled-in 13-field template writes `, "${accountcode}"` (a space before the
    # quote, mod_cdr_csv.c), which a CSV reader keeps as ` "1000"`: drop blanks and quotes.
    return e.str.strip_chars().str.strip_chars('"').str.strip_chars()


def _clid_number(e: pl.Expr) -> pl.Expr:
    # Asterisk clid is `"Name" <number>` (cdr_csv.c); without angle brackets it is the number.
    inner = e.str.extract(r"<([^>]*)>\s*$", 1)
    return pl.when(inner.is_not_null()).then(inner).otherwise(e)


def _clid_name(e: pl.Expr) -> pl.Expr:
    return e.str.extract(r'^\s*"?(.*?)"?\s*<[^>]*>\s*$', 1)


def _sip_user(e: pl.Expr) -> pl.Expr:
    # RFC 3261 §19.1.1: sip:user@host;params -> user. Without "@" the value is kept.
    user = e.str.extract(r"^(?:.*<)?(?:sips?:|tel:)?([^@;>]+)[@;>]", 1)
    return pl.when(user.is_not_null()).then(user).otherwise(e)


def _url_decode(e: pl.Expr) -> pl.Expr:
    # FreeSWITCH JSON/XML CDRs URL-encode values when encode-values is on (mod_json_cdr.c).
    # Only values that contain '%' or '+' need decoding; decode each distinct one once.
    def decode(s: pl.Series) -> pl.Series:
        uniq = s.drop_nulls().unique()
        todo = uniq.filter(uniq.str.contains(r"[%+]"))
        if todo.len() == 0:
            return s
        mapping = {v: unquote(v.replace("+", " ")) for v in todo.to_list()}
        return s.replace(mapping)

    return e.map_batches(decode, return_dtype=pl.String)


def _lower(e: pl.Expr) -> pl.Expr:
    return e.str.to_lowercase()


def _int_ip_le(e: pl.Expr) -> pl.Expr:
    # Cisco CUCM writes IPv4 addresses as signed 32-bit little-endian integers
    # (CUCM CDR Administration Guide, "IP addresses"): -1006518518 is 10.191.1.196.
    n = e.cast(pl.Int64, strict=False)
    u = pl.when(n < 0).then(n + (1 << 32)).otherwise(n)
    parts = [((u // (1 << (8 * i))) % 256).cast(pl.String) for i in range(4)]
    return pl.when(n.is_null() | (n == 0)).then(None).otherwise(pl.concat_str(parts, separator="."))


#: Asterisk channel names: ``<technology>/<peer or endpoint>-<sequence in hex>`` (chan_sip,
#: chan_pjsip, chan_iax2, chan_dahdi, chan_motif: ``ast_channel_alloc(..., "%s/%s-%08x")``).


#: The channel name without its hex sequence: what is left must be TECH/<peer>- .
_CHANNEL_HEAD: Final = r"^(?:SIP|PJSIP|IAX2|DAHDI|Motif)/.+-$"
_HEX: Final = "0123456789abcdef"


def _channel_peer_of_heads(heads: pl.Expr) -> pl.Expr:
    # The peer is what lies between the first "/" and the final "-" of a head (the technology
    # name is ASCII, so bytes = characters for the offset). chan_dahdi names an ISDN call
    # DAHDI/i<span>/<caller's number>-<seq> (chan_dahdi.c dahdi_new: "i%d/%s-%x"): the trunk
    # is the span, up to the next "/", not the caller's number after it.
    start = heads.str.find("/", literal=True) + 1
    rest = heads.str.slice(start, heads.str.len_chars() - start - 1)
    # Up to the next "/" by splitting, not by str.find's offset: that offset counts bytes,
    # str.slice characters, and a peer name may hold non-ASCII letters (a hypothesis case:
    # SIP/éSIP/-0000002a gave "éSIP/").
    return pl.when(heads.str.contains(_CHANNEL_HEAD)).then(
        rest.str.split("/", inclusive=False).list.first()
    )


#: Asterisk's own sequence: "-" and exactly 8 hex digits ("%08x").
_SEQ8: Final = "-[0-9a-f]{8}$"


def _strip_sequence(s: pl.Series) -> pl.Series:
    """``s.str.strip_chars_end(_HEX)``, for less CPU: a name that ends in "-" and 8 hex digits
    (all of them, from Asterisk) loses exactly those 8 characters (the "-" before them stops
    the strip), which a test of the end and a cut do in half the time of a strip that checks
    every character against the set (0.04 against 0.08 CPU-s per 1M channel names of the
    bench file; the apply stage of ``python benchmarks/bench_ingest.py --rows 1000000 --stages
    --repeat 3`` went from 0.73-0.84 to 0.68 CPU-s); the other names are stripped as before."""
    seq8 = s.str.contains(_SEQ8).fill_null(True)  # a null stays null either way
    heads = s.str.head(-8)
    if not bool(seq8.all()):
        others = (~seq8).arg_true()
        heads = heads.scatter(others, s.gather(others).str.strip_chars_end(_HEX))
    return heads


def _asterisk_channel_peer(e: pl.Expr) -> pl.Expr:
    # The peer of an Asterisk channel name: `SIP/carrier-b-0000002a` -> `carrier-b`. Same
    # result as the regex ^(?:SIP|PJSIP|IAX2|DAHDI|Motif)/(.+?)-[0-9a-f]+$ (group 1), at a
    # fraction of its cost on millions of rows. Stripping the hex sequence (all trailing hex
    # digits: the peer ends before the last "-", and the sequence after it has no "-")
    # leaves the head `SIP/carrier-b-`; the name matches the regex exactly when something
    # was stripped and the head matches ^TECH/.+-$. Heads repeat (one per trunk, not per
    # call), so the test and the cut run once per distinct head and rows look theirs up.
    def peers(s: pl.Series) -> pl.Series:
        heads = _strip_sequence(s)
        distinct = heads.drop_nulls().unique()
        if distinct.len() * 4 > heads.len():  # mostly distinct: no gain from a lookup
            peer = pl.select(_channel_peer_of_heads(pl.lit(heads))).to_series()
        else:
            cut = pl.select(_channel_peer_of_heads(pl.lit(distinct))).to_series()
            peer = heads.replace_strict(distinct, cut, default=None, return_dtype=pl.String)
        stripped = heads.str.len_bytes() < s.str.len_bytes()
        return pl.select(pl.when(pl.lit(stripped)).then(pl.lit(peer))).to_series().alias(s.name)

    return e.map_batches(peers, return_dtype=pl.String)


#: A channel whose peer part is an address: chan_sip names a call from a host that matches no
#: configured peer after its address (SIP/203.0.113.10-0000001a, allowguest).
_CHANNEL_IP: Final = (r"^(?:SIP|PJSIP|IAX2)/(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])"
                      r"(?::\d+)?-[0-9a-f]+$")


def _asterisk_channel_ip(e: pl.Expr) -> pl.Expr:
    # The caller's address when the channel is named after it (its trunk is then that address
    # too): such a leg maps to a peer by IP. A quick prefix test first: most files have no such
    # channel, and a capture on every row costs twice the test.
    def ips(s: pl.Series) -> pl.Series:
        if not bool(s.str.contains(r"^(?:SIP|PJSIP|IAX2)/[\d\[]").any()):
            return s.clear(n=s.len())
        return s.str.extract(_CHANNEL_IP, 1).str.strip_chars("[]")

    return e.map_batches(ips, return_dtype=pl.String)


#: A Local channel half (chan_local.c / core_local.c): `Local/<exten>@<context>-<hex>;1` or
#: `;2` (`,1`/`,2` and 4 hex digits before Asterisk 1.6); group 1 is the pair's name.
_LOCAL_HALF: Final = r"^(Local/.+-[0-9a-f]{4,8})[;,][12]$"


def _asterisk_local_pair(e: pl.Expr) -> pl.Expr:
    # The key that links the rows of one call in a cdr_csv file without linkedid: a Local
    # channel half's pair name (without ;1/;2); a value without "/" (a linkedid, a uniqueid)
    # as it is; any other channel (SIP/..., PJSIP/...) null, so that the next column is tried.
    # Same result as the regex ^(?:(Local/.+-[0-9a-f]{4,8})[;,][12]|([^/]+))$, whose two
    # captures on every row of four columns cost 0.5 CPU-s per 1M rows (the whole profile
    # apply was 0.6): the prefix test is cheap (Polars keeps a string's first bytes in its
    # view), and the capture runs only on the Local channels.
    def pairs(s: pl.Series) -> pl.Series:
        v = pl.lit(s)
        out = pl.select(pl.when(~v.str.contains("/", literal=True) & (v.str.len_bytes() > 0))
                        .then(v)).to_series().alias(s.name)
        local = s.str.starts_with("Local/").fill_null(False)
        if local.any():
            at = local.arg_true()
            out = out.scatter(at, s.gather(at).str.extract(_LOCAL_HALF, 1))
        return out

    return e.map_batches(pairs, return_dtype=pl.String)


#: For a field's ``chain`` (profile.FieldSpec): which values of its parent and child columns
#: can link, as a cheap test on the raw column, by the field's transform. A channel is linked
#: only by a Local channel half (an id without "/" is a row's own key, never a link); the
#: prefix test costs a few ms per 1M rows, and the transform runs only on the rows it passes.
LINKABLE: Final[dict[str, Callable[[pl.Expr], pl.Expr]]] = {
    "asterisk_local_pair": lambda e: e.str.starts_with("Local/"),
}


TRANSFORMS: Final[dict[str, Callable[[pl.Expr], pl.Expr]]] = {
    "asterisk_channel_peer": _asterisk_channel_peer,
    "asterisk_channel_ip": _asterisk_channel_ip,
    "asterisk_local_pair": _asterisk_local_pair,
    "strip": _strip,
    "clid_number": _clid_number,
    "clid_name": _clid_name,
    "sip_user": _sip_user,
    "url_decode": _url_decode,
    "lower": _lower,
    "int_ip_le": _int_ip_le,
}

# The carrier formats' transforms (CUCM, Ribbon, Acme, CGRateS) live in their own module.
from tracehop.ingest.carrier_transforms import CARRIER_TRANSFORMS  # noqa: E402

TRANSFORMS.update(CARRIER_TRANSFORMS)
