"""INVITE transactions and dialogs -> call legs (RFC 3261 §12, §13, §17).

One initial INVITE (no To tag) is one leg. Its client transaction is identified by the top Via
``branch`` and the Call-ID (§17.1.3); responses with the same pair are that transaction's
responses, so the two legs a proxy makes from one call (same Call-ID and CSeq, different branch)
stay apart. An INVITE challenged (407/401) and sent again with credentials over the same hop
(same Call-ID, higher CSeq, new branch: RFC 3261 §22.2) is one leg, the one sent again.
Times:

- ``start_utc``: the INVITE as first seen (retransmissions, HEP duplicates and copies from a
  second capture point are the same leg: dedupe key Call-ID + CSeq + top-Via branch + direction);
- ``answer_utc``: the first 2xx; ``end_utc``: the first BYE on the Call-ID after the answer, or
  the final failure response (>= 300) when the call was never answered.

Direction. A capture does not say which addresses are the provider's own, so
:class:`SipConfig.local_nets` says it: an INVITE whose **source** is in a local net is
``outbound`` (``egress_ip`` = its destination); every other INVITE is ``inbound`` with
``ingress_ip`` = its source address. Without local nets the reader finds the own side from the
calls: an address that carries on the calls it receives (a B2BUA's or a proxy's onward INVITE
for the same called number or Call-ID) is taken as ours, and says so
(:meth:`LegBuilder._infer_own_side`). ``ingress_trunk`` (``egress_trunk``) holds the peer's
``address:port`` ("198.51.100.7:5060", "[2001:db8::7]:5060"), so a peer directory can match the
port with a trunk glob (``"198.51.100.7:*"``) while ``ingress_ip`` stays a bare address.

Numbers: called = Request-URI user (To user when the R-URI has none, or no telephone number:
a registered Contact's account, RFC 3261 §10.2.1; :func:`_called_from_to`), calling = From user,
``dialed_raw`` = the To user (what the caller dialled, before any R-URI translation),
``pai_raw`` = the user of the first P-Asserted-Identity (a tel: one preferred), ``diversion_raw``
= the Diversion (or History-Info) values as sent. ``cause_raw`` = the final status code;
disposition: 2xx answered, 486/600 busy, 487 cancelled, 408/480 no_answer, any other failure
failed, none seen unknown.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from tracehop.errors import ConfigError
from tracehop.schema import LEG_SCHEMA, REJECT_SCHEMA, conform
from tracehop.sip.message import (
    SipParseError,
    addr_uri,
    call_id_of,
    dialog_tags,
    header_user,
    invite_response_key,
    name_table,
    parse_message,
    parse_name_addr,
    scan_request,
    split_values,
    uri_user,
    via_branch,
)
from tracehop.sip.passport import CertDirectory, IdentityInfo, decode_identity, verify

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network

BUSY: Final = frozenset({486, 600})
#: The columns a leg row holds, in order: an INVITE makes one list of these (a list per leg,
#: not a dict: finish() transposes them into columns in one C call). The STIR/SHAKEN ones are
#: filled in finish(). finish() adds the dialog times and results, and the columns that are the
#: same for every leg of a reading; conform() adds the rest as nulls.
ROW_FIELDS: Final = (
    "leg_id", "source_file", "format", "source_record", "start_utc", "called_raw",
    "calling_raw", "pai_raw", "ruri_raw", "diversion_raw", "dialed_raw", "direction",
    "call_id", "raw_record", "ingress_ip", "ingress_trunk", "egress_ip", "egress_trunk",
    # STIR/SHAKEN, from _stir():
    "attest", "origid", "orig_tn", "dest_tn", "iat_utc", "x5u", "signer_spc", "stir_verified",
    "identity_raw", "verstat",
)
(_SOURCE_FILE, _START, _INGRESS_IP, _ATTEST, _ORIGID, _ORIG_TN, _DEST_TN, _IAT, _X5U, _SPC,
 _VERIFIED, _IDENTITY, _VERSTAT) = (ROW_FIELDS.index(n) for n in (
    "source_file", "start_utc", "ingress_ip", "attest", "origid", "orig_tn", "dest_tn",
    "iat_utc", "x5u", "signer_spc", "stir_verified", "identity_raw", "verstat"))
_CALLED, _DIRECTION = ROW_FIELDS.index("called_raw"), ROW_FIELDS.index("direction")
assert ROW_FIELDS[_INGRESS_IP:_INGRESS_IP + 4] == (
    "ingress_ip", "ingress_trunk", "egress_ip", "egress_trunk")
_STIR_NONE: Final = [None] * (len(ROW_FIELDS) - _ATTEST)
NO_ANSWER: Final = frozenset({408, 480})
#: How soon after the INVITE that brought a call our onward INVITE of it leaves
#: (:meth:`LegBuilder._infer_own_side`): a routing decision takes milliseconds, but a route
#: that does not answer is given up after Timer B (64*T1 = 32 s, RFC 3261 §17.1.1.2) before
#: the next route is tried.
ONWARD_WITHIN_US: Final = 60_000_000
#: How soon after a call reached one address another address must send it on to be named as
#: its other side (LegBuilder._warn_relays): a B2BUA's routing, not a retry of the call.
RELAY_WITHIN_US: Final = 5_000_000


_NON_DIGITS: Final = re.compile(r"\D+")
_T = TypeVar("_T")


def _called_tail(user: str | None) -> str:
    """The called number as two INVITEs of one call are compared: its last ten digits (a
    B2BUA may write +13125550100 where the upstream wrote 3125550100), or the user part as
    it stands when it has fewer than seven digits."""
    if not user:
        return ""
    digits = user if user.isdigit() else (
        user[1:] if user[0] == "+" and user[1:].isdigit() else _NON_DIGITS.sub("", user))
    return digits[-10:] if len(digits) >= 7 else user


#: How many INVITEs _infer_own_side weighs at most: blocks of consecutive ones (a call's
#: INVITEs are moments apart, so its pairs stay within a block) spread over the capture. An
#: element's behaviour is the same all through a capture; weighing every INVITE of a 1M-message
#: capture cost 0.7 s of its 10 s reading.
SAMPLE_BLOCKS: Final = 10
SAMPLE_BLOCK: Final = 2_000


def _sample(items: list[_T]) -> list[_T]:
    """``items`` when they are few, else :data:`SAMPLE_BLOCKS` runs of :data:`SAMPLE_BLOCK`
    consecutive ones, evenly spread (the first run at the start, the last at the end)."""
    n = len(items)
    if n <= SAMPLE_BLOCKS * SAMPLE_BLOCK:
        return items
    step = (n - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1)
    out: list[_T] = []
    for i in range(SAMPLE_BLOCKS):
        at = round(i * step)
        out.extend(items[at:at + SAMPLE_BLOCK])
    return out


def _is_loopback(addr: bytes) -> bool:
    """A packed IPv4 or IPv6 address on the loopback (127.0.0.0/8, ::1; RFC 1122 §3.2.1.3,
    RFC 4291 §2.5.3)."""
    return (len(addr) == 4 and addr[0] == 127) or addr == b"\x00" * 15 + b"\x01"


class _Hop(NamedTuple):
    """One INVITE of a capture read without local nets, as _infer_own_side weighs it."""

    key: tuple[str, str, str, str]  # the leg's dedupe key (Call-ID first)
    src: bytes
    dst: bytes
    dport: int
    t: int  # capture time, µs
    called: str  # _called_tail of its called number


@dataclass
class SipConfig:
    """Options of the capture reader (env: TRACEHOP_SIP_LOCAL_NETS, TRACEHOP_CERT_DIR,
    TRACEHOP_SIP_TSHARK)."""

    local_nets: list[IpNet] = field(default_factory=list)
    cert_dir: Path | None = None
    tshark: str = "auto"  # auto: for what the fast path cannot read | never | always
    verify_stir: bool = True

    @classmethod
    def from_env(cls) -> SipConfig:
        nets = os.environ.get("TRACEHOP_SIP_LOCAL_NETS", "")
        cert = os.environ.get("TRACEHOP_CERT_DIR") or None
        mode = os.environ.get("TRACEHOP_SIP_TSHARK", "auto")
        return cls(local_nets=parse_nets(nets), cert_dir=Path(cert) if cert else None,
                   tshark=mode)


def parse_nets(text: str) -> list[IpNet]:
    """Comma- or space-separated CIDRs/addresses -> networks; ConfigError naming the bad one."""
    out: list[IpNet] = []
    for part in text.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError as e:
            raise ConfigError(f"not an IP network: {part!r}",
                              hint="Give CIDRs like 192.0.2.0/24 or 2001:db8::/32, "
                                   "separated by commas (--sip-local-net / "
                                   "TRACEHOP_SIP_LOCAL_NETS)") from e
    return out


def ip_text(raw: bytes) -> str:
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw.hex()


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def disposition(code: int | None) -> str:
    if code is None:
        return "unknown"
    if 200 <= code < 300:
        return "answered"
    if code in BUSY:
        return "busy"
    if code == 487:
        return "cancelled"
    if code in NO_ANSWER:
        return "no_answer"
    return "failed"


#: Final responses that challenge a request for credentials (RFC 3261 §22.2 407 from a proxy,
#: §22.3 401 from a UAS): the caller sends the same request again with them.
CHALLENGES: Final = frozenset({401, 407})


class _Leg:
    __slots__ = ("answer", "cseq", "end", "final", "key", "ok_head", "row", "tag")

    def __init__(self, row: list[Any], key: tuple[str, str, str, str]) -> None:
        self.row = row
        self.key = key  # its key in LegBuilder.legs (Call-ID, CSeq, branch, direction)
        # the INVITE's CSeq number: a retry with credentials has a higher one (RFC 3261 §22.2)
        self.cseq = int(key[1]) if key[1].isdigit() else 0
        self.answer: int | None = None
        self.end: int | None = None
        self.final: int | None = None
        # A forked INVITE can get a 2xx from several forks, and the caller hangs up the extra
        # ones at once (RFC 3261 §13.2.2.4): a BYE then ends the call only if it belongs to
        # the dialog of the 2xx that answered it (its To tag; §12). The tags are read only
        # once a second 2xx shows a fork (measured: parsing them on every call cost 15% of
        # the fast path), so the first 2xx's header block is kept until then.
        self.ok_head: bytes | None = None
        self.tag: str | None = None  # set when forked; None takes any BYE of the Call-ID

    def complete(self) -> bool:
        """Ended: failed/unanswered at its final response (>= 300), or answered and hung up."""
        return self.final is not None and (self.final >= 300 or self.end is not None)


def _pick_pai(values: list[str]) -> str | None:
    if len(values) == 1:  # the usual single PAI: what the loops below give for one value
        return uri_user(addr_uri(values[0]))
    uris = [addr_uri(v) for v in values]
    users = [(u, uri_user(u)) for u in uris]
    for uri, user in users:
        if uri.lower().startswith("tel:") and user:
            return user
    for _, user in users:
        if user:
            return user
    return None


def _param(values: list[str], name: str) -> str | None:
    for v in values:
        if name not in v.lower():
            continue
        na = parse_name_addr(v)
        p = na.params.get(name)
        if p:
            return p
        if ";" in na.uri:  # verstat inside a tel: URI: <tel:+1...;verstat=...>
            for kv in na.uri.split(";")[1:]:
                k, _, val = kv.partition("=")
                if k.strip().lower() == name and val:
                    return val
    return None


#: The headers a leg is built from (lower-case long forms); :func:`scan_request` reads only
#: these from an INVITE.
_LEG_HEADERS: Final = frozenset({
    "call-id", "cseq", "from", "to", "via", "p-asserted-identity", "diversion", "history-info",
    "identity", "p-stir-verstat", "x-stir-verstat", "p-attestation-indicator",
    "x-attestation-indicator", "attestation-info", "attestation", "p-origination-id",
    "x-origination-id",
})
_LEG_NAMES: Final = name_table(_LEG_HEADERS)


def _first(hdrs: dict[str, list[str]], name: str) -> str | None:
    """The first value of a header, as :meth:`SipMessage.header` gives it."""
    vals = hdrs.get(name)
    return vals[0] if vals else None


def _first_value(vals: list[str]) -> str | None:
    """The first element of a list header (§7.3.1): ``SipMessage.values(name)[0]``."""
    for v in vals:
        parts = split_values(v)
        if parts:
            return parts[0]
    return None


def _all_values(vals: list[str]) -> list[str]:
    """Every element of a list header, as :meth:`SipMessage.values` gives them."""
    out: list[str] = []
    for v in vals:
        out.extend(split_values(v))
    return out


def _cseq_number(raw: str | None) -> int | None:
    """The CSeq sequence number, as :attr:`SipMessage.cseq` reads it (None if not digits)."""
    if not raw:
        return None
    parts = raw.split()
    # ASCII digits only (RFC 3261 §25.1 CSeq = 1*DIGIT): str.isdigit() is also true of '¹',
    # which int() refuses, and a fuzzed INVITE must be a reject, never stop the reading.
    return int(parts[0]) if parts and parts[0].isascii() and parts[0].isdigit() else None


#: An INVITE prepared by ``LegBuilder._prepare_invite``, booked by ``_apply_invite``.
Prepared = tuple[Any, ...]


class LegBuilder:
    """Collects SIP messages (in capture order) and turns INVITE dialogs into leg rows."""

    def __init__(self, source_file: str, source: str | None, fmt: str, config: SipConfig,
                 certs: CertDirectory | None = None) -> None:
        self.source_file = source_file
        self.source = source
        self.format = fmt
        self.config = config
        self.certs = certs
        if certs is None and config.cert_dir is not None and config.verify_stir:
            self.certs = CertDirectory(config.cert_dir)
        self.messages = 0
        self.invites = 0
        self.duplicates = 0
        self.reinvites = 0
        #: re-INVITEs (a To tag) of a Call-ID with no leg: (file, frame) each
        self._orphans: list[tuple[str, int]] = []
        self.legs: dict[tuple[str, str, str, str], _Leg] = {}
        #: keys of challenged legs replaced by the INVITE sent again with credentials
        self._superseded: set[tuple[str, str, str, str]] = set()
        self._tx: dict[tuple[str, str], _Leg] = {}
        self._by_cid: dict[str, list[_Leg]] = {}
        #: (frame, reason, raw text, source file, format): a builder fed several files (a
        #: capture directory) keeps each reject's own file
        self.rejects: list[tuple[int | None, str, str | None, str, str]] = []
        self.warnings: list[str] = []
        #: Without local nets: the addresses INVITEs came from and went to (raw bytes), to
        #: name in finish() those that did both (a B2BUA or proxy: most likely our own).
        self._invite_src: set[bytes] = set()
        self._invite_dst: set[bytes] = set()
        #: Without local nets: each new leg's (key, source, destination, destination port),
        #: for :meth:`_infer_own_side`.
        self._hops: list[tuple[tuple[str, str, str, str], bytes, bytes, int]] = []
        #: the latest capture time seen (µs): the clock of the open-dialog horizon (hold_open)
        self.last_ts = 0
        self.restored = 0  # open dialogs taken over from an earlier run (restore)
        self._stir_problems: dict[tuple[str, str], int] = {}  # (file, problem) -> INVITEs
        #: legs whose STIR/SHAKEN columns finish() fills: (row, headers, PAI values)
        self._stir_todo: list[tuple[list[Any], dict[str, list[str]], list[str]]] = []
        self._ip_cache: dict[bytes, str] = {}
        self._local_cache: dict[str, bool] = {}

    # -- feeding -----------------------------------------------------------------------------

    def reject(self, frame: int | None, reason: str, raw: bytes | None = None) -> None:
        text = raw[:4096].decode("utf-8", "replace") if raw else None
        self.rejects.append((frame, reason, text, self.source_file, self.format))

    def add(self, frame: int, ts: int, src: bytes, dst: bytes, sport: int, dport: int,
            transport: str, data: bytes) -> None:
        """One SIP message, as bytes, with where and when it was seen."""
        self.messages += 1
        if ts > self.last_ts:
            self.last_ts = ts
        if data[:8] == b"SIP/2.0 ":
            code_b = data[8:11]
            if not code_b.isdigit():
                self.reject(frame, f"malformed SIP status line (status code {code_b!r})", data)
                return
            if code_b[0] == 49:  # 1xx: provisional responses never change a leg
                return
            he = data.find(b"\r\n\r\n")
            head = data[:he] if he >= 0 else data[:data.find(b"\n\n")]
            try:
                key = invite_response_key(head)
            except SipParseError as e:
                self.reject(frame, f"malformed SIP response: {e.reason}", data)
                return
            if key is None:
                return
            leg = self._tx.get(key)
            if leg is None:
                return
            code = int(code_b)
            if code >= 200 and leg.final is None:
                leg.final = code
                if code < 300:
                    leg.answer = ts
                    leg.ok_head = head
                else:
                    leg.end = ts
            elif code < 300 and leg.ok_head is not None and leg.tag is None:
                leg.tag = dialog_tags(leg.ok_head)[1]  # a second fork answered
            return
        sp = data.find(b" ", 0, 64)
        method = data[:sp]
        if method == b"INVITE":
            self._invite(frame, ts, src, dst, sport, dport, transport, data)
        elif method == b"BYE":
            he = data.find(b"\r\n\r\n")
            head = data[:he] if he >= 0 else data[:data.find(b"\n\n")]
            try:
                cid = call_id_of(head)
            except SipParseError as e:
                self.reject(frame, f"malformed SIP BYE: {e.reason}", data)
                return
            legs = self._by_cid.get(cid or "", ())
            # A BYE belongs to the dialog whose remote tag it carries, as From (the callee
            # hangs up) or To (the caller does): not to another fork of the same INVITE.
            tags = dialog_tags(head) if any(x.tag for x in legs) else (None, None)
            for leg in legs:
                if leg.end is None and leg.answer is not None and ts >= leg.answer and (
                        leg.tag is None or leg.tag in tags):
                    leg.end = ts
                    leg.ok_head = None

    def _invite(self, frame: int, ts: int, src: bytes, dst: bytes, sport: int, dport: int,
                transport: str, data: bytes) -> None:
        prep = self._prepare_invite(frame, ts, src, dst, sport, dport, data)
        self._apply_invite(frame, data, prep)
        if not self.config.local_nets and (src != dst or _is_loopback(src)):
            # (An INVITE from an address to itself, a capture on one host's loopback where
            # every element shares 127.0.0.1, says nothing of whose side it is: naming that
            # address as "your own" would have every INVITE read as outbound. Its hop is
            # kept only for _loopback_onward.)
            if src != dst:
                self._invite_src.add(src)
                self._invite_dst.add(dst)
            leg = self.legs.get(prep[1]) if prep[0] == "leg" and prep[4] is not None else None
            if leg is not None and leg.row is prep[4]:  # a new leg, not a copy of one
                self._hops.append((prep[1], src, dst, dport))

    def _prepare_invite(self, frame: int, ts: int, src: bytes, dst: bytes, sport: int,
                        dport: int, data: bytes) -> Prepared:
        """What one INVITE says, apart from the dialog state: ``("reject", reason)``,
        ``("reinvite", Call-ID)`` or ``("leg", key, cid, branch, row, headers, PAI values,
        None)`` (row None for a leg already known; the last item: see
        :meth:`stir_prepared`). It depends on no message before it (only the duplicate short
        cut looks at the legs): a seam for preparing INVITEs elsewhere, in a batch or a
        worker, while _apply_invite books them in capture order."""
        # The common message goes through scan_request (only the headers a leg reads, no
        # decoding of the rest); anything unusual through the full RFC 3261 parser.
        scanned = scan_request(data, _LEG_NAMES)
        if scanned is None:
            try:
                msg = parse_message(data)
            except SipParseError as e:
                return ("reject", f"malformed SIP INVITE: {e.reason}")
            ruri, hdrs = msg.ruri, msg.headers
        else:
            ruri, hdrs = scanned
        v = hdrs.get("call-id")
        cid = v[0] if v else None
        v = hdrs.get("from")
        from_v = v[0] if v else None
        v = hdrs.get("to")
        to_v = v[0] if v else None
        v = hdrs.get("cseq")
        cseq_num = _cseq_number(v[0] if v else None)
        if cid is None or from_v is None or to_v is None or cseq_num is None:
            missing = [n for n, x in (("Call-ID", cid), ("From", from_v), ("To", to_v),
                                      ("CSeq", cseq_num)) if x is None]
            return ("reject", "malformed SIP INVITE: missing " + ", ".join(missing)
                    + " (RFC 3261 §8.1.1; a message cut by the snap length looks like this)")
        # "tag" in the To parameters (parsed only when the letters occur at all)
        if "tag" in to_v.lower() and "tag" in parse_name_addr(to_v).params:
            return ("reinvite", cid)  # re-INVITE inside a dialog: not a new leg (§14)
        vias = hdrs.get("via")
        top_via = _first_value(vias) if vias else None
        branch = (via_branch(top_via) if top_via is not None else None) or ""
        src_ip = self._ip_cache.get(src) or self._ip_text(src)
        outbound = bool(self.config.local_nets) and self._is_local(src_ip)
        direction = "outbound" if outbound else "inbound"
        key = (cid, str(cseq_num), branch, direction)
        if key in self.legs:
            return ("leg", key, cid, branch, None, None, None, None)  # a duplicate
        dst_ip = self._ip_cache.get(dst) or self._ip_text(dst)
        ruri_user = uri_user(ruri)
        to_user = uri_user(addr_uri(to_v))
        pai_hdr = hdrs.get("p-asserted-identity")
        pai_vals = _all_values(pai_hdr) if pai_hdr else []
        div_vals = hdrs.get("diversion") or hdrs.get("history-info")
        peer: tuple[str | None, str | None, str | None, str | None]
        if outbound:
            peer = (None, None, dst_ip, _hostport(dst_ip, dport))
        else:
            peer = (src_ip, _hostport(src_ip, sport), None, None)
        row: list[Any] = [
            hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:32],
            self.source_file, self.format, frame,
            ts,  # integer microseconds until finish() builds the columns
            ruri_user or to_user,
            header_user(from_v),
            _pick_pai(pai_vals) if pai_vals else None,
            ruri,
            ", ".join(div_vals) if div_vals else None,
            to_user, direction, cid,
            data,  # raw_record: bytes until finish() builds the column (text_column)
            *peer,
            *_STIR_NONE,
        ]
        return ("leg", key, cid, branch, row, hdrs, pai_vals, None)

    def stir_prepared(self, prep: Prepared) -> Prepared:
        """A prepared INVITE with its row's STIR/SHAKEN columns filled now (decoded, and
        verified when this builder has certificates), as ``finish()`` would fill them: the
        headers are dropped and the last item holds the PASSporT's problems instead of None.
        For preparing INVITEs elsewhere (tracehop.sip.parallel): only the row travels back,
        and the reading process has no decoding left to do for it."""
        if prep[0] != "leg" or prep[4] is None:
            return prep
        problems = self._stir(prep[5], prep[6], prep[4])
        return (*prep[:5], None, None, problems)

    def _apply_invite(self, frame: int, data: bytes, prep: Prepared) -> None:
        """Book one prepared INVITE (:meth:`_prepare_invite`), in capture order."""
        if prep[0] == "reject":
            self.reject(frame, prep[1], data)
            return
        self.invites += 1
        if prep[0] == "reinvite":
            self.reinvites += 1
            if prep[1] not in self._by_cid:  # (a call this reading never saw begin)
                self._orphans.append((self.source_file, frame))
            return
        _, key, cid, branch, row, hdrs, pai_vals, stirred = prep
        if key in self.legs or key in self._superseded:
            self.duplicates += 1
            return
        challenged = self._challenged(cid, key, row)
        if challenged is not None:
            self._supersede(challenged)
        if stirred is None:
            # STIR/SHAKEN is decoded (and verified) in finish(), over all legs at once: the
            # PASSporT header and the Identity parameters repeat from call to call and are
            # decoded once, and legs that a later pass replaces never cost a decode.
            self._stir_todo.append((row, hdrs, pai_vals))
        elif stirred:  # filled where it was prepared (stir_prepared): count its problems
            self._count_stir_problems(row, stirred)
        leg = _Leg(row, key)
        self.legs[key] = leg
        self._tx[(cid, branch)] = leg
        self._by_cid.setdefault(cid, []).append(leg)

    def _challenged(self, cid: str, key: tuple[str, str, str, str], row: list[Any]
                    ) -> _Leg | None:
        """The leg a new INVITE (``key``, ``row``) sends again with credentials, if any.

        RFC 3261 §22.2/§22.3 (and §8.1.3.5): a request challenged with 407 or 401 is sent
        again by the same client with the same Call-ID, To and From (tag included) and a higher
        CSeq, as a new transaction (new branch). That is one call: the challenged attempt never
        rang anything. It is taken as such when the earlier leg of the Call-ID was challenged,
        never answered, and went over the same hop (same source, same destination as read):
        an INVITE of the same Call-ID from another address (a peer's failover) stays a leg."""
        cseq = int(key[1])
        for leg in self._by_cid.get(cid, ()):
            old = leg.row
            if (leg.final in CHALLENGES and leg.answer is None and leg.cseq < cseq
                    and leg.key[3] == key[3]
                    and old[_INGRESS_IP] == row[_INGRESS_IP]
                    and old[_INGRESS_IP + 2] == row[_INGRESS_IP + 2]):
                return leg
        return None

    def _supersede(self, leg: _Leg) -> None:
        """Drop a challenged leg for the INVITE sent again with credentials, which carries
        the call on (and is the leg's evidence: the request the call was accepted on). A
        retransmission of the challenged INVITE seen later is a duplicate, not a new leg."""
        key = leg.key
        del self.legs[key]
        self._superseded.add(key)
        if self._tx.get((key[0], key[2])) is leg:
            del self._tx[(key[0], key[2])]
        same = [x for x in self._by_cid.get(key[0], ()) if x is not leg]
        if same:
            self._by_cid[key[0]] = same
        else:
            self._by_cid.pop(key[0], None)
        # (Its PASSporT problems stay counted: the count is of INVITEs, and the parallel
        # reading has counted them already when the challenged INVITE was booked.)

    def _infer_own_side(self) -> None:
        """Without local nets, find the capture's own side from the calls themselves, and read
        the INVITEs it sent as outbound legs, as ``--sip-local-net`` would have them read.

        Our own onward INVITE of a call (a B2BUA's new dialog, RFC 3261 §6 "back-to-back user
        agent"; a proxy's forwarded request, §16.6) leaves the address the call arrived at,
        for the same called number (or, from a proxy, with the same Call-ID), moments after
        the INVITE that brought it. Read as inbound, that onward leg would answer a lookup
        naming ourselves, and every call would come out ambiguous between the real upstream
        and our own address. An address is taken as ours when at least half of the INVITEs
        it sent (and at least one) each followed, within :data:`ONWARD_WITHIN_US`, an INVITE
        it received for the same call. A peer whose trunk carries calls both ways does not
        qualify: the calls it sends us are not the calls we send it, short of a routing
        loop. Legs without recorded addresses (open dialogs carried over from an earlier
        reading) keep their direction."""
        if self.config.local_nets or not self._hops:
            return
        # An INVITE from an address to itself (a capture on one host's loopback, where every
        # element shares 127.0.0.1) tells nothing about whose side an address is.
        legs = self.legs
        every = [h for h in self._hops if h[1] != h[2] and h[0] in legs]
        loops = [h for h in self._hops if h[1] == h[2] and h[0] in legs]
        self._hops = []
        if loops and every:
            self._loopback_onward(loops, every)
        hops = [_Hop(key, src, dst, dport, legs[key].row[_START],
                     _called_tail(legs[key].row[_CALLED]))
                for key, src, dst, dport in _sample(every)]
        # Every INVITE by its called number and by its Call-ID: the INVITEs one could carry
        # on are a dict lookup away (a few per call), not a scan of the capture's time window
        # (on a 1M-message capture that scan cost 1.2 s).
        calls: dict[str, list[_Hop]] = {}
        for h in hops:
            if h.called:
                calls.setdefault(h.called, []).append(h)
            calls.setdefault("\x00" + h.key[0], []).append(h)
        both = {h.src for h in hops} & {h.dst for h in hops}
        self._warn_relays(hops, both, calls)
        if not both:
            return
        sent: dict[bytes, list[_Hop]] = {}
        paired: dict[bytes, int] = {}
        for h in hops:
            if h.src not in both:
                continue
            sent.setdefault(h.src, []).append(h)
            got = [*(calls.get(h.called, ()) if h.called else ()),
                   *calls.get("\x00" + h.key[0], ())]
            if any(a.dst == h.src and h.t - ONWARD_WITHIN_US <= a.t <= h.t for a in got):
                paired[h.src] = paired.get(h.src, 0) + 1
        own = sorted((a for a in both if paired.get(a, 0) * 2 >= len(sent[a]) > 0
                      and paired.get(a, 0) > 0), key=self._ip_text)
        mine = set(own)
        for key, src, dst, dport in every:  # all of their INVITEs, not only the sample's
            if src in mine:
                self._mark_outbound(key, dst, dport)
        sampled = " weighed (a sample of the capture)" if len(hops) < len(every) else ""
        for addr in own:
            self._invite_src.discard(addr)
            self._invite_dst.discard(addr)
            self.warnings.append(
                f"no local network was given: {self._ip_text(addr)} was taken as your own side "
                f"(an SBC or proxy), since {paired[addr]} of the {len(sent[addr])} INVITEs it "
                f"sent{sampled} carried on a call it had just received; all its INVITEs are read "
                f"as outbound legs. Give --sip-local-net to name your own addresses instead")

    def _mark_outbound(self, key: tuple[str, str, str, str], dst: bytes, dport: int) -> None:
        """Read the leg of ``key`` as one we sent on to ``dst``: outbound, its ingress cleared,
        its egress the address it went to."""
        row = self.legs[key].row
        dst_ip = self._ip_text(dst)
        row[_DIRECTION] = "outbound"
        row[_INGRESS_IP] = row[_INGRESS_IP + 1] = None
        row[_INGRESS_IP + 2], row[_INGRESS_IP + 3] = dst_ip, _hostport(dst_ip, dport)
        # the leg id of the same INVITE read with --sip-local-net (the dedupe key holds the
        # direction)
        row[0] = hashlib.sha256("\x1f".join((*key[:3], "outbound")).encode()).hexdigest()[:32]

    def _loopback_onward(self, loops: list[tuple[tuple[str, str, str, str], bytes, bytes, int]],
                         every: list[tuple[tuple[str, str, str, str], bytes, bytes, int]]
                         ) -> None:
        """Read as outbound each INVITE sent over the loopback (127.0.0.1 to itself) moments
        after the same call reached this host from outside: one element of the host handing
        the call to another (a Kamailio in front of a FreeSWITCH on 127.0.0.1:5080, captured
        with ``tcpdump -i any``). No peer hands a call over on the loopback, and read as
        inbound that hop was a second candidate naming 127.0.0.1 beside the real upstream:
        every such call answered ``ambiguous``. The same call is the same Call-ID (a proxy,
        RFC 3261 §16.6) or the same called number (a B2BUA's new dialog), within
        :data:`ONWARD_WITHIN_US`. A capture where every element shares the loopback (no INVITE
        from outside) is left as it was."""
        legs = self.legs
        arrived: dict[str, list[int]] = {}
        for key, src, _dst, _dport in every:
            if _is_loopback(src):
                continue
            row = legs[key].row
            t = row[_START]
            arrived.setdefault("\x00" + key[0], []).append(t)
            called = _called_tail(row[_CALLED])
            if called:
                arrived.setdefault(called, []).append(t)
        for key, _src, dst, dport in loops:
            row = legs[key].row
            t = row[_START]
            called = _called_tail(row[_CALLED])
            times = [*arrived.get("\x00" + key[0], ()),
                     *(arrived.get(called, ()) if called else ())]
            if any(t - ONWARD_WITHIN_US <= a <= t for a in times):
                self._mark_outbound(key, dst, dport)

    def _warn_relays(self, hops: list[_Hop], both: set[bytes],
                     calls: dict[str, list[_Hop]]) -> None:
        """Name an address that only sends INVITEs, most of them moments after the same call
        reached another address: an SBC with one interface toward its peers and another toward
        the core (or a pair of our own elements), seen from a capture of both sides. Its
        INVITEs are our onward legs, but nothing in the capture proves the two addresses are
        one element's, so they are not read as outbound: the reading says which address to
        give as a local net (without it, each of those calls has two inbound legs and a
        lookup answers ambiguous). ``calls``: the INVITEs by called number, and by
        ``"\\x00" + Call-ID``."""
        sent: dict[bytes, int] = {}
        relayed: dict[bytes, dict[bytes, int]] = {}
        for h in hops:
            if h.src in both:
                continue  # _infer_own_side decides these
            sent[h.src] = sent.get(h.src, 0) + 1
            got = [*(calls.get(h.called, ()) if h.called else ()),
                   *calls.get("\x00" + h.key[0], ())]
            for a in got:
                # Not this INVITE's own continuation (sent on by the address it went to,
                # stamped the same microsecond by a capture of both sides).
                if (h.t - RELAY_WITHIN_US <= a.t <= h.t and a.dst != h.src and a.src != h.src
                        and a.src != h.dst):
                    into = relayed.setdefault(h.src, {})
                    into[a.dst] = into.get(a.dst, 0) + 1
                    break
        for src, into in sorted(relayed.items(), key=lambda kv: self._ip_text(kv[0])):
            n = sum(into.values())
            if n < 2 or n * 2 < sent[src]:
                continue
            via = max(into, key=lambda d: into[d])
            ip = self._ip_text(src)
            self.warnings.append(
                f"{ip} sent {n} of its {sent[src]} INVITEs moments after the same called number "
                f"reached {self._ip_text(via)}: if both are yours (an SBC's two sides), read the "
                f"capture again with --sip-local-net {ip}/{128 if ':' in ip else 32}, else a "
                f"lookup finds two inbound legs for each such call and answers ambiguous")

    def _warn_unknown_own_side(self) -> None:
        """Without local nets every INVITE is read as inbound, and our own onward INVITE of a
        call (a B2BUA's or a proxy's) is then a leg that can answer, naming ourselves. An
        address that both received and sent INVITEs, and that :meth:`_infer_own_side` could
        not tell to be ours, is most likely ours (or a peer whose trunk carries calls both
        ways): name it, with the option that settles it."""
        both = self._invite_src & self._invite_dst
        if not both:
            return
        names = sorted(self._ip_text(b) for b in both)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        self.warnings.append(
            f"{shown} both received and sent INVITEs, and no local network was given, so "
            f"every INVITE was read as inbound: if {'it is' if len(names) == 1 else 'they are'}"
            f" your own (an SBC or proxy), read the capture again with --sip-local-net "
            f"{names[0]}/{128 if ':' in names[0] else 32} (or your network), else a lookup may "
            f"answer with your own onward leg")
        self._invite_src.clear()
        self._invite_dst.clear()

    def _count_stir_problems(self, row: list[Any], problems: list[str]) -> None:
        for p in problems:
            k = (row[_SOURCE_FILE], p.split(" in /")[0])  # one line per kind, counted
            self._stir_problems[k] = self._stir_problems.get(k, 0) + 1

    def _ip_text(self, raw: bytes) -> str:
        text = self._ip_cache.get(raw)
        if text is None:
            text = self._ip_cache[raw] = ip_text(raw)
        return text

    def _is_local(self, ip: str) -> bool:
        hit = self._local_cache.get(ip)
        if hit is None:
            hit = self._local_cache[ip] = _in(ip, self.config.local_nets)
        return hit

    def _stir(self, headers: dict[str, list[str]], pai: list[str], row: list[Any]
              ) -> list[str]:
        """Fill the row's STIR/SHAKEN columns; the main PASSporT's problems."""
        problems: list[str] = []
        idents = identity_values(headers)
        if idents:
            infos: list[IdentityInfo] = [decode_identity(v) for v in idents]
            main = None
            for i in infos:
                if (i.ppt or "").lower() == "shaken":
                    main = i
                    break
            if main is None and infos:
                main = infos[0]
            if main is not None:
                if self.certs is not None:
                    verify(main, self.certs)
                problems = main.problems
                iat = main.iat
                row[_ATTEST:_VERSTAT] = (
                    main.attest, main.origid, main.orig_tn, main.dest_tn,
                    # the iat only if it is a time (what IdentityInfo.iat_utc accepts),
                    # checked by its range: no datetime object per leg
                    iat * 1_000_000 if iat is not None and IAT_MIN <= iat <= IAT_MAX else None,
                    main.x5u, main.signer_spc, main.verified, "\n".join(idents))
        verstat = _param(pai, "verstat") if pai else None
        if verstat is None:
            from_vals = headers.get("from")
            verstat = _param(from_vals, "verstat") if from_vals else None
        for name in ("p-stir-verstat", "x-stir-verstat"):
            if verstat is None and headers.get(name):
                verstat = headers[name][0]
        row[_VERSTAT] = verstat
        if row[_ATTEST] is None:
            for name in ("p-attestation-indicator", "x-attestation-indicator",
                         "attestation-info", "attestation"):
                if headers.get(name):
                    row[_ATTEST] = headers[name][0].strip()
                    break
        if row[_ORIGID] is None:
            for name in ("p-origination-id", "x-origination-id"):
                if headers.get(name):
                    row[_ORIGID] = headers[name][0].strip()
                    break
        return problems

    # -- dialogs carried from one reading to the next ----------------------------------------

    def _decode_stir(self) -> None:
        for row, hdrs, pai in self._stir_todo:
            problems = self._stir(hdrs, pai, row)
            if problems:
                self._count_stir_problems(row, problems)
        self._stir_todo = []

    def hold_open(self, horizon_us: int | None = None) -> tuple[pa.Table, int]:
        """Take the legs whose dialog is still open out of this builder, for a later reading.

        Open: no final response to the INVITE yet, or answered and no BYE yet (RFC 3261
        §13.3.1.4, §15). A dialog whose INVITE is more than ``horizon_us`` older than the
        latest message seen (capture time, not the wall clock) is not held: it stays, to be
        written as it stands by :meth:`finish`, and a warning says so. Returns the held
        dialogs as a :data:`DIALOG_SCHEMA` table (STIR/SHAKEN already decoded: the headers are
        not kept) and the number of dialogs written open past the horizon.
        """
        self._decode_stir()
        self._infer_own_side()  # before the open dialogs leave with their direction
        cutoff = None if horizon_us is None else self.last_ts - horizon_us
        held: list[tuple[tuple[str, str, str, str], _Leg]] = []
        expired: list[str] = []
        for key, leg in self.legs.items():
            if leg.complete():
                continue
            if cutoff is not None and leg.row[_START] < cutoff:
                expired.append(key[0])
                continue
            held.append((key, leg))
        for key, leg in held:
            del self.legs[key]
            self._tx.pop((key[0], key[2]), None)
            same = [x for x in self._by_cid.get(key[0], ()) if x is not leg]
            if same:
                self._by_cid[key[0]] = same
            else:
                self._by_cid.pop(key[0], None)
        if expired:
            hours = (horizon_us or 0) / 3.6e9
            self.warnings.append(
                f"{len(expired)} dialogs open for longer than the {hours:g} h horizon were "
                f"written as they stood (no final response or no BYE seen), e.g. Call-ID "
                f"{', '.join(expired[:3])}: raise --horizon if calls last longer")
        cols: dict[str, list[Any]] = {f: [leg.row[i] for _, leg in held]
                                      for i, f in enumerate(ROW_FIELDS)}
        cols["cseq"] = [k[1] for k, _ in held]
        cols["branch"] = [k[2] for k, _ in held]
        cols["answer_us"] = [leg.answer for _, leg in held]
        cols["end_us"] = [leg.end for _, leg in held]
        cols["final"] = [leg.final for _, leg in held]
        raw = text_column(cols.pop("raw_record"))
        table = pa.table({f.name: raw if f.name == "raw_record" else
                          pa.array(cols[f.name], type=f.type) for f in DIALOG_SCHEMA})
        return table, len(expired)

    def open_dialogs(self) -> int:
        """How many of the legs have a dialog still open (see :meth:`hold_open`)."""
        return sum(not leg.complete() for leg in self.legs.values())

    def restore(self, dialogs: pa.Table) -> int:
        """Continue the open dialogs a :meth:`hold_open` of an earlier reading returned: the
        responses and BYEs read now complete them. Returns how many were taken over."""
        cols = dialogs.select([f.name for f in DIALOG_SCHEMA]).to_pydict()
        cid_i, dir_i = ROW_FIELDS.index("call_id"), ROW_FIELDS.index("direction")
        for i in range(dialogs.num_rows):
            row = [cols[f][i] for f in ROW_FIELDS]
            cid, branch = row[cid_i], cols["branch"][i]
            key = (cid, cols["cseq"][i], branch, row[dir_i])
            if key in self.legs:
                continue  # already known to this builder
            leg = _Leg(row, key)
            leg.answer, leg.end, leg.final = (cols["answer_us"][i], cols["end_us"][i],
                                              cols["final"][i])
            self.legs[key] = leg
            self._tx[(cid, branch)] = leg
            self._by_cid.setdefault(cid, []).append(leg)
            self.restored += 1
        return self.restored

    # -- results -----------------------------------------------------------------------------

    def finish(self) -> tuple[pa.Table, pa.Table]:
        """(legs conformed to LEG_SCHEMA, rejects conformed to REJECT_SCHEMA)."""
        self._decode_stir()
        self._infer_own_side()
        self._warn_unknown_own_side()
        legs_in = list(self.legs.values())
        if legs_in:
            # Column by column from the leg objects: times stay integer microseconds up to
            # here, and Arrow takes them as timestamp[us] directly, far cheaper than a
            # datetime object per value.
            n = len(legs_in)
            columns: dict[str, Sequence[Any]] = dict(
                zip(ROW_FIELDS, zip(*[leg.row for leg in legs_in], strict=True), strict=True))
            starts = columns["start_utc"]
            ends = [leg.end for leg in legs_in]
            answers = [leg.answer for leg in legs_in]
            finals = [leg.final for leg in legs_in]
            columns.update({
                "answer_utc": answers,
                "end_utc": ends,
                "cause_raw": [str(f) if f is not None else None for f in finals],
                "disposition": [disposition(f) for f in finals],
                "duration_s": [(e - st) / 1e6 if e is not None else None
                               for e, st in zip(ends, starts, strict=True)],
                "billsec_s": [None if e is None else (e - a) / 1e6 if a is not None else 0.0
                              for e, a in zip(ends, answers, strict=True)],
                "source": [self.source] * n,
                "time_basis": ["setup"] * n,
                "source_tz": ["UTC"] * n,
                "time_ambiguous": [False] * n,
            })
            raw = text_column(columns.pop("raw_record"))
            cols = {f.name: raw if f.name == "raw_record" else
                    pa.array(columns[f.name], type=f.type)
                    for f in LEG_SCHEMA if f.name in columns or f.name == "raw_record"}
            legs = _normalise_numbers(conform(pa.table(cols)))
        else:
            legs = LEG_SCHEMA.empty_table()
        files = {f: i for i, f in enumerate(dict.fromkeys(r[3] for r in self.rejects))}
        self.rejects.sort(key=lambda r: (files[r[3]], r[0] or 0))
        now = datetime.now(UTC)
        rej = pa.table({
            "source": pa.array([self.source] * len(self.rejects), pa.string()),
            "format": pa.array([r[4] for r in self.rejects], pa.string()),
            "source_file": pa.array([r[3] for r in self.rejects], pa.string()),
            "source_record": pa.array([r[0] for r in self.rejects], pa.int64()),
            "reason": pa.array([r[1] for r in self.rejects], pa.string()),
            "raw_record": pa.array([r[2] for r in self.rejects], pa.string()),
            "rejected_at": pa.array([now] * len(self.rejects), REJECT_SCHEMA.field(
                "rejected_at").type),
        })
        if self._orphans:
            # RFC 3261 §12.2: only a request inside a dialog carries a To tag. These name a
            # dialog this reading never saw begin: calls set up before the capture started,
            # or a dialer that tags its initial INVITEs; either way no leg was made of them.
            n = len(self._orphans)
            file, frame = self._orphans[0]
            self.warnings.append(
                f"{file}: {n} INVITE{'s' if n > 1 else ''} with a To tag (a re-INVITE) on a "
                f"Call-ID whose call was not seen (the first at frame {frame}): no leg made; "
                "calls set up before the capture began, or a sender that tags its initial "
                "INVITEs")
            self._orphans = []
        for (f, p), n in sorted(self._stir_problems.items()):
            self.warnings.append(f"{f}: STIR/SHAKEN: {p} ({n} INVITEs)")
        return legs, conform(rej, REJECT_SCHEMA)


#: An open dialog as :meth:`LegBuilder.hold_open` hands it on: the leg row built so far
#: (ROW_FIELDS, typed as in LEG_SCHEMA but with times as integer µs, the builder's own form),
#: the rest of its dedupe key (CSeq number, top-Via branch) and the dialog's progress.
DIALOG_SCHEMA: Final = pa.schema(
    [pa.field(n, pa.int64() if n in ("start_utc", "iat_utc") else LEG_SCHEMA.field(n).type)
     for n in ROW_FIELDS]
    + [pa.field("cseq", pa.string()), pa.field("branch", pa.string()),
       pa.field("answer_us", pa.int64()), pa.field("end_us", pa.int64()),
       pa.field("final", pa.int32())])


#: The NumericDates a datetime can hold (years 1 to 9999, as ``datetime.fromtimestamp`` in
#: UTC accepts them): an iat outside is no time (``IdentityInfo.iat_utc`` is None).
IAT_MIN: Final = -62_135_596_800
IAT_MAX: Final = 253_402_300_799


def identity_values(headers: dict[str, list[str]]) -> list[str]:
    """Every PASSporT of an INVITE: several (shaken + div, RFC 8946) come as repeated headers
    or one comma-separated header (RFC 8224 §4: Identity is a list header)."""
    raws = headers.get("identity")
    if not raws:
        return []
    if len(raws) == 1:
        return split_values(raws[0])
    return [v for raw in raws for v in split_values(raw)]


def text_column(values: Sequence[Any]) -> pa.Array:
    """The raw_record column: each message's bytes as UTF-8 text, invalid bytes replaced.

    The messages are joined into one buffer and handed to Arrow with their offsets (one copy,
    no Python string per message: a str per INVITE and Arrow's copy of it cost ~3 µs a leg,
    measured); Arrow's UTF-8 validation then shows whether any needs the replacement
    character, and only then is each decoded as ``bytes.decode("utf-8", "replace")`` does.
    A column that is not all bytes (dialogs restored from an earlier reading hold text) is
    decoded value by value."""
    raws: list[bytes] = [v for v in values if type(v) is bytes]
    if len(raws) == len(values):
        blob = b"".join(raws)
        if len(blob) < 1 << 31:  # string offsets are int32
            offsets = pa.array([0, *accumulate(map(len, raws))], pa.int32())
            arr = pa.Array.from_buffers(pa.string(), len(raws),
                                        [None, offsets.buffers()[1], pa.py_buffer(blob)])
            try:
                arr.validate(full=True)  # UTF-8 throughout: the text is the bytes as they are
                return arr
            except pa.ArrowInvalid:
                pass
    return pa.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                     for v in values], pa.string())


def _in(ip: str, nets: list[IpNet]) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr in n for n in nets)


def _normalise_numbers(legs: pa.Table) -> pa.Table:
    """E.164 columns through tracehop.numbers (the project's one normaliser)."""
    try:
        import polars as pl

        from tracehop.numbers import normalise
    except ImportError:  # numbers.py lands with the core work; raw values are kept meanwhile
        return legs
    out = legs
    for raw, e164 in (("called_raw", "called_e164"), ("calling_raw", "calling_e164"),
                      ("pai_raw", "pai_e164")):
        series = pl.from_arrow(legs.column(raw))
        assert isinstance(series, pl.Series)
        norm = normalise(series).to_arrow()
        out = out.set_column(out.schema.get_field_index(e164), e164, norm.cast(pa.string()))
    return _called_from_to(out, normalise)


def _called_from_to(legs: pa.Table, normalise: Any) -> pa.Table:
    """The To user as the called number where the Request-URI user is no telephone number.

    An INVITE to a registered trunk carries the Contact the SBC registered as its Request-URI
    (RFC 3261 §10.2.1, §16.5: ``sip:acct12345@10.20.0.5``), and a switch routing on a label
    puts a token there (``sip:s@...``); the number called is then only in To, the "desired
    logical recipient" (§8.1.1.2). Left as the called number, such a user has no E.164 form,
    and a lookup of the number finds the leg only when no other leg to it is within a day.
    A Request-URI that holds a number keeps it (a translated call: To is the dialed number)."""
    import polars as pl

    called = legs.column("called_e164")
    if not called.null_count:
        return legs
    dialed = pl.from_arrow(legs.column("dialed_raw"))
    assert isinstance(dialed, pl.Series)
    to_e164 = normalise(dialed).to_arrow().cast(pa.string())
    use_to = pc.and_(pc.is_null(called), pc.is_valid(to_e164))
    if not pc.any(use_to).as_py():
        return legs
    for name, value in (("called_e164", to_e164), ("called_raw", legs.column("dialed_raw"))):
        i = legs.schema.get_field_index(name)
        legs = legs.set_column(i, legs.schema.field(i),
                               pc.if_else(use_to, value, legs.column(name)))
    return legs
