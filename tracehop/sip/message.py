"""SIP messages (RFC 3261 §7, §20, §25): start line, headers, body.

Two entry points:

- :func:`parse_message` reads a whole message into a :class:`SipMessage`: header names are
  case-insensitive (§7.3.1) and compact forms are expanded (§7.3.3, plus ``y`` = Identity from
  RFC 8224 §4 and the RFC 3265/3515/4028 ones); folded lines are joined (§7.3.1); repeated headers
  and comma-separated values are kept apart (§7.3.1, :func:`split_values` splits outside quotes and
  angle brackets); bare LF line endings are accepted (§7.5 asks a parser to be lenient, and HEP
  agents emit them). ``strict=True`` also applies the checks the RFC 4475 §3.1.2 torture
  messages exercise and raises :class:`SipParseError` with the reason.
- :func:`quick_fields` is the fast path's look at a non-INVITE message: Call-ID, CSeq and the
  top Via branch with ``bytes.find`` on the lower-cased header block, falling back to the full
  parser for anything unusual (folding, space before the colon, compact forms).

URIs: :func:`parse_name_addr` takes ``"Display" <uri>;params`` or a bare addr-spec (§20.10: a
bare URI's ``;params`` belong to the header, not to the URI) and :func:`uri_user` the user part
of a sip:/sips:/tel: URI, percent-decoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple
from urllib.parse import unquote

#: RFC 3261 §7.3.3 compact forms, with those registered later (IANA "Header Fields").
COMPACT: Final[dict[str, str]] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_TOKEN_CHARS: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)


#: Registered methods (IANA "Methods"): tokens, so a start line with one needs no byte check.
_METHODS: Final = frozenset({b"INVITE", b"ACK", b"BYE", b"CANCEL", b"OPTIONS", b"REGISTER",
                             b"PRACK", b"UPDATE", b"INFO", b"SUBSCRIBE", b"NOTIFY", b"REFER",
                             b"MESSAGE", b"PUBLISH"})


class SipParseError(ValueError):
    """A message that is not SIP, or breaks RFC 3261 in a way that matters (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SipMessage:
    """One parsed SIP message. Header names are lower-case long forms."""

    method: str | None  # requests
    ruri: str | None
    status: int | None  # responses
    reason: str | None
    version: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    start_line: str = ""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact or long form)."""
        vals = self.headers.get(_canon(name))
        return vals[0] if vals else None

    def values(self, name: str) -> list[str]:
        """Every value of ``name``: repeated headers and comma-separated lists, in order."""
        out: list[str] = []
        for v in self.headers.get(_canon(name), []):
            out.extend(split_values(v))
        return out

    @property
    def cseq(self) -> tuple[int | None, str | None]:
        raw = self.header("cseq")
        if not raw:
            return None, None
        parts = raw.split()
        # ASCII digits only (§25.1 1*DIGIT): str.isdigit() is also true of '¹', int() is not
        num = int(parts[0]) if parts and parts[0].isascii() and parts[0].isdigit() else None
        return num, parts[1] if len(parts) > 1 else None

    @property
    def top_via_branch(self) -> str | None:
        vias = self.values("via")
        return via_branch(vias[0]) if vias else None


def _canon(name: str) -> str:
    n = name.strip().lower()
    return COMPACT.get(n, n)


def is_sip_start(p: bytes | bytearray) -> bool:
    """Does this payload begin with a SIP request or status line (RFC 3261 §7.1, §7.2)?"""
    if p[:8] == b"SIP/2.0 ":
        return True
    eol = p.find(b"\n", 0, 8192)
    line = p[:eol] if eol >= 0 else p[:8192]
    if line[-1:] == b"\r":
        line = line[:-1]
    if line[-8:] != b" SIP/2.0":
        return False
    sp = line.find(b" ")
    return 0 < sp < len(line) - 8 and (bytes(line[:sp]) in _METHODS
                                       or all(c in _TOKEN_CHARS for c in line[:sp]))


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """(start line + headers, body), split at the first empty line (CRLF CRLF or LF LF)."""
    he = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if lf >= 0 and (he < 0 or lf < he):
        return data[:lf], data[lf + 2:]
    if he < 0:
        return data, b""
    return data[:he], data[he + 4:]


def content_length(head: bytes) -> int | None:
    """Content-Length (or ``l``) from a header block; None when absent or unreadable."""
    low = head.lower()
    for key in (b"\ncontent-length", b"\nl"):
        at = low.find(key)
        while at >= 0:
            p = at + len(key)
            while p < len(low) and low[p] in (32, 9):
                p += 1
            if p < len(low) and low[p] == 58:  # ':'
                eol = low.find(b"\n", p)
                val = low[p + 1:eol if eol >= 0 else len(low)].strip()
                return int(val) if val.isdigit() else None
            at = low.find(key, at + 1)
    return None


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def parse_headers(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """Start line and headers (folding joined, names canonical) of a header block.

    The block is decoded once (UTF-8, bad bytes replaced) and scanned line by line: this is
    the INVITE hot path, so no regular expressions and no per-header decoding.
    """
    text = head.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    start = lines[0].rstrip("\r")
    hdrs: dict[str, list[str]] = {}
    last: list[str] | None = None
    compact = COMPACT
    for line in lines[1:]:
        if not line:
            continue
        c0 = line[0]
        if c0 == " " or c0 == "\t":  # folded continuation (§7.3.1): one space replaces the LWS
            if last is not None:
                last[-1] = (last[-1] + " " + line.strip()).strip()
                continue
            raise SipParseError("header block starts with a continuation line")
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError(f"header line without a colon: {line[:60]!r}")
        name = line[:colon].rstrip().lower()
        if " " in name or "\t" in name or not name:
            raise SipParseError(f"bad header name {name!r}")
        if len(name) == 1:
            name = compact.get(name, name)
        value = line[colon + 1:].strip()
        lst = hdrs.get(name)
        if lst is None:
            last = hdrs[name] = [value]
        else:
            lst.append(value)
            last = lst
    return start, hdrs


#: Bytes allowed in a header name (RFC 3261 §25.1 ``token``), for ``bytes.translate``.
_TOKEN_BYTES: Final = bytes(sorted(_TOKEN_CHARS))


#: One header line: the name up to the first colon, and the rest of the line (CR included;
#: the caller strips it, as str.strip() does for a whole line).
_HEADER_LINE: Final = re.compile(rb"^([^:\n]*):(.*)$", re.MULTILINE)

#: Headers an INVITE usually carries that no leg column reads: :func:`scan_request` passes over
#: them without a second look (any other name costs a token check and a lower-case lookup).
_COMMON_UNREAD: Final = ("Max-Forwards", "Contact", "Content-Type", "Content-Length", "Allow",
                         "Supported", "User-Agent", "Record-Route", "Route", "Session-Expires",
                         "Min-SE", "Accept", "Expires", "Subject", "Date", "Privacy", "Require",
                         "P-Charging-Vector", "Allow-Events", "Server", "Organization", "l", "m",
                         "c", "k")


def name_table(names: set[str] | frozenset[str]) -> dict[bytes, str]:
    """The lookup :func:`scan_request` takes: every spelling of ``names`` (lower-case long
    forms) it should recognise without lower-casing (as given, Title-Case, upper case, the
    usual ``Call-ID`` / ``CSeq`` forms, and their compact letters, §7.3.3), mapped to the long
    form; and common headers outside ``names`` mapped to ``""`` (not read)."""
    out: dict[bytes, str] = {}
    for sp in _COMMON_UNREAD:
        if _canon(sp) not in names:
            out[sp.encode()] = ""
            out[sp.lower().encode()] = ""
    special = {"call-id": ["Call-ID", "Call-Id"], "cseq": ["CSeq"]}
    for n in names:
        spellings = [n, "-".join(w.capitalize() for w in n.split("-")), *special.get(n, [])]
        spellings += [c for c, long in COMPACT.items() if long == n]
        for sp in spellings:
            out[sp.encode()] = n
            out[sp.upper().encode()] = n
    return out


def scan_request(data: bytes, names: Mapping[bytes, str]
                 ) -> tuple[str, dict[str, list[str]]] | None:
    """(Request-URI, headers in ``names`` only) of a request, or None: use :func:`parse_message`.

    The INVITE hot path. It gives exactly what :func:`parse_message` would for those headers
    (same names, values, order) and declines (None) whatever it cannot read that way: no CRLF
    CRLF, an LF LF before it (split_head would cut there), a non-ASCII header block (decoding
    rules), a line without a colon, a header name that is not a plain token. The last two also
    catch folded lines (§7.3.1): a continuation line starts with SP or HTAB, which no token
    holds. The full parser then reads the message, or rejects it with the reason. (Measured:
    one ``re.findall`` of (name, rest of line) pairs, with a greedy value, beats a split on LF
    and a find per line by a little; a lazy value pattern is slow on a 500-byte Identity.)"""
    he = data.find(b"\r\n\r\n")
    if he < 0:
        return None
    head = data[:he]
    if not head.isascii():
        return None
    eol = head.find(b"\n")
    start = head if eol < 0 else head[:eol]
    parts = start.rstrip(b"\r").decode("ascii").split()  # str.split, as parse_message
    if len(parts) != 3 or not parts[2].upper().startswith("SIP/"):
        return None
    hdrs: dict[str, list[str]] = {}
    if eol < 0:
        return parts[1], hdrs
    # Every header line as (name, value) in one C call; a line without a colon (an empty
    # line too: an LF LF ended the headers earlier) has no pair, so the counts differ.
    pairs = _HEADER_LINE.findall(head, eol + 1)
    if len(pairs) != head.count(b"\n"):
        return None
    get = names.get
    for raw, rest in pairs:
        name = get(raw)
        if name is None:
            if not raw or raw.translate(None, _TOKEN_BYTES):
                return None  # LWS before the colon, a folded line, a stray byte, no name
            name = get(raw.lower())
            if name is None:
                continue  # a header the legs do not read
        if name:
            value = rest.decode("ascii").strip()
            if name in hdrs:
                hdrs[name].append(value)
            else:
                hdrs[name] = [value]
    return parts[1], hdrs


def parse_message(data: bytes, strict: bool = False) -> SipMessage:
    """Parse one SIP message. ``strict`` adds the RFC 4475 §3.1.2 validity checks."""
    head, body = split_head(data)
    if not head.strip():
        raise SipParseError("empty message")
    start, hdrs = parse_headers(head)
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2 or not (parts[1].isascii() and parts[1].isdigit()):  # §25.1 3DIGIT
            raise SipParseError(f"bad status line {start[:80]!r}")
        msg = SipMessage(None, None, int(parts[1]), parts[2] if len(parts) > 2 else "",
                         parts[0], hdrs, body, start)
    else:
        parts = start.split()
        if len(parts) != 3 or not parts[2].upper().startswith("SIP/"):
            raise SipParseError(f"not a SIP request or status line: {start[:80]!r}")
        msg = SipMessage(parts[0], parts[1], None, None, parts[2], hdrs, body, start)
    if strict:
        problems = validate(msg)
        if problems:
            raise SipParseError("; ".join(problems))
    return msg


_DATE_RE: Final = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def _balanced(value: str) -> str | None:
    """Why quotes or angle brackets in a header value do not balance (None if they do)."""
    in_q = False
    depth = 0
    i = 0
    while i < len(value):
        c = value[i]
        if in_q:
            if c == "\\":
                i += 1
            elif c == '"':
                in_q = False
        elif c == '"':
            in_q = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
            if depth < 0:
                return "'>' without '<'"
        i += 1
    if in_q:
        return "unterminated quoted string"
    if depth:
        return "unterminated '<'"
    return None


def validate(msg: SipMessage) -> list[str]:
    """Checks of RFC 3261 rules that the RFC 4475 invalid messages break; [] when valid."""
    probs: list[str] = []
    if msg.version != "SIP/2.0":
        probs.append(f"unsupported SIP version {msg.version!r} (RFC 3261 §7.1)")
    if msg.is_request:
        if msg.start_line.count(" ") != 2 or msg.start_line != msg.start_line.strip():
            probs.append("request line must be Method SP Request-URI SP SIP-Version (§7.1)")
        ruri = msg.ruri or ""
        if ruri.startswith("<") or ">" in ruri:
            probs.append("Request-URI enclosed in <> (§25.1)")
        if not all(c in _TOKEN_CHARS for c in (msg.method or "").encode()):
            probs.append("method is not a token")
        if ":" not in ruri:
            probs.append("Request-URI has no scheme")
        if "?" in ruri[ruri.rfind("@") + 1:]:  # a '?' in the userinfo is legal (intmeth)
            probs.append("Request-URI carries escaped headers, forbidden there (§19.1.5)")
    elif msg.status is not None and not 100 <= msg.status <= 699:
        probs.append(f"status code {msg.status} out of range (§7.2)")
    for req in ("call-id", "cseq", "from", "to", "via"):
        if req not in msg.headers:
            probs.append(f"missing mandatory header {req} (§8.1.1)")
    num, cmeth = msg.cseq
    raw_cseq = msg.header("cseq")
    if raw_cseq is not None:
        if num is None or num > 2**31 - 1:
            probs.append(f"CSeq number not a 32-bit integer below 2**31: {raw_cseq!r} (§8.1.1.5)")
        if msg.is_request and cmeth is not None and cmeth != msg.method:
            probs.append(f"CSeq method {cmeth!r} differs from request method {msg.method!r}")
    mf = msg.header("max-forwards")
    if mf is not None and (not (mf.isascii() and mf.isdigit()) or int(mf) > 255):
        probs.append(f"Max-Forwards {mf!r} is not 0-255 (§20.22)")
    for name in ("expires",):
        v = msg.header(name)
        if v is not None and (not (v.isascii() and v.isdigit()) or int(v) > 2**32 - 1):
            probs.append(f"{name} {v!r} is not a 32-bit delta-seconds (§20.19)")
    cl = msg.headers.get("content-length", [])
    if len(set(cl)) > 1:
        probs.append("conflicting Content-Length headers")
    if cl:
        if not (cl[0].isascii() and cl[0].isdigit()):
            probs.append(f"Content-Length {cl[0]!r} is not a number")
        elif int(cl[0]) > len(msg.body):
            probs.append(f"Content-Length {cl[0]} exceeds the {len(msg.body)}-byte body (§18.3)")
    date = msg.header("date")
    if date is not None and not _DATE_RE.match(date):
        probs.append(f"Date {date!r} is not an RFC 1123 date in GMT (§20.17)")
    for name in ("from", "to", "contact", "route", "record-route", "p-asserted-identity"):
        for v in msg.headers.get(name, []):
            why = _balanced(v)
            if why:
                probs.append(f"{name}: {why}")
                continue
            if name in ("from", "to", "contact") and v.strip() != "*":
                probs.extend(f"{name}: {p}" for p in _addr_problems(v))
    for name in ("from", "to", "call-id", "cseq", "max-forwards"):
        vals = msg.headers.get(name, [])
        if len(vals) > 1 or (name in ("from", "to") and vals and len(split_values(vals[0])) > 1):
            probs.append(f"{name} must have exactly one value (§20), has several (or an "
                         "unquoted display name with a comma)")
    for v in msg.headers.get("via", []):
        for one in split_values(v):
            if not re.sub(r"\s*/\s*", "/", one).upper().startswith("SIP/2.0/"):
                probs.append(f"Via {one[:40]!r} is not SIP/2.0/transport (§20.42)")
    return probs


def _addr_problems(value: str) -> list[str]:
    for one in split_values(value):
        s = one.strip()
        if "<" in s:
            inner = s[s.index("<") + 1:s.find(">")]
            if inner != inner.strip():
                return [f"whitespace inside <{inner}> (§25.1 name-addr)"]
            disp = s[:s.index("<")].strip()
            if disp and not disp.startswith('"') and not all(
                    c in _TOKEN_CHARS or c in b" \t" for c in disp.encode()):
                return [f"display name {disp!r} must be quoted (§25.1)"]
        else:
            # addr-spec form: a URI with '?', ',' or ';' parameters of its own must use <>
            uri = s.split(";", 1)[0].strip()
            if "?" in uri:
                return [f"addr-spec {uri!r} with headers must be in <> (§20.10)"]
            if " " in uri or '"' in uri:
                return [f"addr-spec {uri!r} contains whitespace or quotes (§20.10)"]
    return []


def split_values(value: str) -> list[str]:
    """Split a header value on commas outside quotes and <> (RFC 3261 §7.3.1)."""
    if "," not in value:
        return [value.strip()] if value.strip() else []
    out: list[str] = []
    buf: list[str] = []
    in_q = False
    depth = 0
    i = 0
    while i < len(value):
        c = value[i]
        if in_q:
            if c == "\\" and i + 1 < len(value):
                buf.append(c)
                i += 1
                c = value[i]
            elif c == '"':
                in_q = False
        elif c == '"':
            in_q = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth = max(depth - 1, 0)
        elif c == "," and depth == 0:
            part = "".join(buf).strip()
            if part:
                out.append(part)
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    part = "".join(buf).strip()
    if part:
        out.append(part)
    return out


class NameAddr(NamedTuple):
    """A parsed name-addr / addr-spec. A named tuple, not a frozen dataclass: it is built for
    every From/To/PAI of every INVITE, and a frozen dataclass costs a ``__setattr__`` per field."""

    display: str | None
    uri: str
    params: dict[str, str]


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in text.split(";"):
        p = p.strip()
        if not p:
            continue
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


def _display_end(s: str) -> int:
    """Where the URI of a name-addr may start: after a quoted display name (RFC 3261 §25.1
    ``quoted-string``, with ``\\``-escapes), which may hold any character, '<' and '>' too
    (``"<unknown>" <sip:+12025550123@x>``); 0 when ``s`` does not start with one."""
    if s[:1] != '"':
        return 0
    i = 1
    while True:
        q = s.find('"', i)
        if q < 0:
            return 0  # unterminated: read it as before, from the first '<'
        bs = q
        while bs > 1 and s[bs - 1] == "\\":
            bs -= 1
        if (q - bs) % 2 == 0:  # not escaped: the closing quote
            return q + 1
        i = q + 1


def parse_name_addr(value: str) -> NameAddr:
    """``"Display" <uri>;params`` or ``uri;params`` (RFC 3261 §20.10, §25.1 name-addr)."""
    s = value.strip()
    lt = s.find("<", _display_end(s))
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            gt = len(s)
        disp = s[:lt].strip()
        if disp.startswith('"') and disp.endswith('"') and len(disp) >= 2:
            disp = disp[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return NameAddr(disp or None, s[lt + 1:gt].strip(), _params(s[gt + 1:]))
    uri, _, rest = s.partition(";")
    return NameAddr(None, uri.strip(), _params(rest))


def addr_uri(value: str) -> str:
    """``parse_name_addr(value).uri`` without parsing the parameters (the leg hot path)."""
    s = value.strip()
    lt = s.find("<", _display_end(s) if s[:1] == '"' else 0)
    if lt >= 0:
        gt = s.find(">", lt)
        return s[lt + 1:gt if gt >= 0 else len(s)].strip()
    return s.partition(";")[0].strip()


def uri_user(uri: str | None) -> str | None:
    """The user part of a sip:, sips: or tel: URI, percent-decoded; None if there is none."""
    if not uri:
        return None
    u = uri.strip()
    colon = u.find(":")
    if colon < 0:
        return None
    scheme = u[:colon].lower()
    rest = u[colon + 1:]
    if scheme == "tel":
        user = rest.split(";", 1)[0]
    elif scheme in ("sip", "sips"):
        at = rest.rfind("@")
        if at < 0:
            return None
        user = rest[:at].split(";", 1)[0].split(":", 1)[0]  # user;params, user:password
    else:
        return None
    if "%" in user:  # (unquote's own first test, without the call: most users have no escape)
        user = unquote(user)
    return user or None


def header_user(value: str | None) -> str | None:
    """The user of the URI in a From/To/P-Asserted-Identity style header value."""
    if not value:
        return None
    return uri_user(addr_uri(split_values(value)[0] if "," in value else value))


#: ``branch=value`` in a Via (any case), the value up to the next ';', ',' or whitespace: the
#: usual spelling, read in one C call; LWS around '=' goes the long way in :func:`via_branch`.
_BRANCH_RE: Final = re.compile(r"branch=([^;, \t]*)", re.IGNORECASE | re.ASCII)


def via_branch(via: str) -> str | None:
    """The ``branch`` parameter of one Via value (RFC 3261 §8.1.1.7; LWS around '=' allowed)."""
    if via.isascii():  # (str.lower() of other text may change its length: the long way)
        m = _BRANCH_RE.search(via)
        if m is not None:
            return m.group(1) or None
    low = via.lower()
    at = low.find("branch=")
    if at >= 0:
        start = at + 7
    else:
        at = low.find("branch")
        if at < 0:
            return None
        eq = low.find("=", at)
        if eq < 0 or low[at + 6:eq].strip():
            return None
        start = eq + 1
        while start < len(via) and via[start] in " \t":
            start += 1
    end = len(via)
    for stop in (";", ",", " ", "\t"):
        j = via.find(stop, start)
        if 0 <= j < end:
            end = j
    return via[start:end] or None


def _line_value(head: bytes, low: bytes, key: bytes) -> str | None:
    """Value of the first header line starting with ``key`` (lower-case, with the colon).

    None when there is no such line *or* it is folded onto the next one: callers then fall
    back to the full parser, which knows compact forms, spaces before ':' and folding."""
    at = low.find(key)
    if at < 0:
        return None
    s = at + len(key)
    e = low.find(b"\n", s)
    if e < 0:
        e = len(low)
    elif e + 1 < len(low) and low[e + 1] in (32, 9):
        return None
    return head[s:e].strip().decode("utf-8", "replace")


def invite_response_key(head: bytes) -> tuple[str, str] | None:
    """(Call-ID, top Via branch) of a response to an INVITE; None for other responses.

    The fast path's look at a response: only an INVITE's responses matter to a leg."""
    # _line_value for CSeq, Call-ID and Via, each one regex search of the lower-cased block
    # (the value up to the line end, and whether the next line folds onto it), and only CSeq
    # decoded unless it is an INVITE's.
    # (The three searches written out, not looped: this runs for every final response.)
    low = head.lower()
    m = _CSEQ_LINE.search(low)
    m2 = m3 = None
    if m is not None and m.group(2) is None:  # absent, or folded: the full parser joins it
        m2 = _CALL_ID_LINE.search(low)
        if m2 is not None and m2.group(2) is None:
            m3 = _VIA_LINE.search(low)
    if m3 is None or m3.group(2) is not None or m is None or m2 is None:
        cid2, cs, br = quick_fields(head)
        return (cid2, br or "") if cid2 and cs and cs.upper().endswith("INVITE") else None
    found = (head[m.start(1):m.end(1)], head[m2.start(1):m2.end(1)],
             head[m3.start(1):m3.end(1)])
    cseq = found[0]
    if cseq.isascii():  # the usual case: compared as bytes, no decoding
        if not cseq.strip().upper().endswith(b"INVITE"):
            return None
    elif not cseq.strip().decode("utf-8", "replace").upper().endswith("INVITE"):
        return None
    cid = found[1].strip().decode("utf-8", "replace")
    via = found[2].strip().decode("utf-8", "replace")
    comma = via.find(",")
    return cid, via_branch(via if comma < 0 else via[:comma]) or ""


#: The first CSeq, Call-ID and Via lines of a lower-cased header block: the value to the line
#: end, and group 2 set when the next line starts with SP/HTAB (a folded value, §7.3.1). The
#: top Via is the first Via line in either form, "Via:" or compact "v:", with or without LWS
#: before the colon (§7.3.1, §7.3.3: a sender may mix the forms, "v:" above "Via:").
_RESPONSE_LINES: Final = tuple(re.compile(k + rb"([^\n]*)(\n[ \t])?")
                               for k in (b"\ncseq:", b"\ncall-id:", rb"\nv(?:ia)?[ \t]*:"))
_CSEQ_LINE, _CALL_ID_LINE, _VIA_LINE = _RESPONSE_LINES


#: The tag parameter of a From or To header line, long or compact form (RFC 3261 §7.3.3,
#: §19.3: the tags and the Call-ID identify a dialog, §12).
_TAG = re.compile(rb"(?im)^(from|f|to|t)[ \t]*:[^\r\n]*?;[ \t]*tag[ \t]*=[ \t]*([^;>,\s]+)")


def dialog_tags(head: bytes) -> tuple[str | None, str | None]:
    """(From tag, To tag) of a header block; None where the header has no tag."""
    found: dict[str, str] = {}
    for m in _TAG.finditer(head):
        which = "from" if m.group(1).lower() in (b"from", b"f") else "to"
        found.setdefault(which, m.group(2).decode("latin-1"))
    return found.get("from"), found.get("to")


def call_id_of(head: bytes) -> str | None:
    """The Call-ID of a header block (fast, with the full parser as fallback)."""
    cid = _line_value(head, head.lower(), b"\ncall-id:")
    return cid if cid is not None else quick_fields(head)[0]


def quick_fields(head: bytes) -> tuple[str | None, str | None, str | None]:
    """(Call-ID, CSeq, top Via branch) of a header block, the fast way.

    Looks for the usual long forms at line starts in the lower-cased block (the top Via in
    either form); any doubt (another compact form, a folded line, a space before the colon)
    falls back to :func:`parse_headers`.
    """
    low = head.lower()
    out: list[str | None] = []
    for key in (b"\ncall-id:", b"\ncseq:"):
        at = low.find(key)
        if at < 0:
            break
        s = at + len(key)
        e = head.find(b"\n", s)
        if e < 0:
            e = len(head)
        elif e + 1 < len(head) and head[e + 1] in (32, 9):
            break  # folded: let the full parser join it
        out.append(head[s:e].strip().decode("utf-8", "replace"))
    else:
        m = _VIA_LINE.search(low)  # the top Via, "Via:" or "v:" (whichever comes first)
        if m is not None and m.group(2) is None:  # (folded: the full parser joins it)
            out.append(head[m.start(1):m.end(1)].strip().decode("utf-8", "replace"))
    if len(out) != 3:
        _, hdrs = parse_headers(head)
        cid = hdrs.get("call-id", [None])[0]
        cseq = hdrs.get("cseq", [None])[0]
        vias = split_values(hdrs["via"][0]) if hdrs.get("via") else []
        return cid, cseq, via_branch(vias[0]) if vias else None
    via = out[2] or ""
    comma = via.find(",")
    return out[0], out[1], via_branch(via if comma < 0 else via[:comma])
