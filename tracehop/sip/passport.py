"""STIR/SHAKEN: the SIP Identity header, its PASSporT, and ES256 verification, offline.

- Identity header (RFC 8224 §4.1): ``Identity: <header>.<payload>.<signature>;info=<x5u>;
  alg=ES256;ppt=shaken``. Tolerated, because real senders do it (research/sip_captures.md): a
  quoted ``ppt="shaken"``, a missing ``;`` before ``alg=`` (Asterisk test templates), padded or
  standard (not url-safe) base64, and the whole value in angle brackets (RFC 4474 style).
- PASSporT (RFC 8225; SHAKEN extension RFC 8588; ``div`` RFC 8946): protected header ``alg``,
  ``typ``, ``ppt``, ``x5u``; claims ``attest``, ``orig.tn``, ``dest.tn`` (an array, but a string
  and even a JSON-encoded string are accepted: libstirshaken writes them that way), ``iat``
  (a NumericDate, RFC 7519 §2: an integer, a number with a fraction such as ``1795000000.0``,
  read to the whole second, or a string of digits as RFC 8588's example has it),
  ``origid``; for ``div``, ``div.tn``.
- Verification: ES256 = ECDSA P-256 with SHA-256 over ``header.payload`` as sent (RFC 7515
  §5.2), signature as the 64-byte r‖s (RFC 7518 §3.4). A DER-encoded signature is decoded but
  counts as a failed verification: a conforming verifier rejects it. The certificate comes from
  a local directory only (:class:`CertDirectory`); nothing is ever fetched from the x5u URL.
- Signer: the SPC (OCN) from the certificate's TNAuthList extension (RFC 8226 §9, OID
  1.3.6.1.5.5.7.1.26; ATIS-1000080 requires an SPC entry in SHAKEN certificates).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tracehop.errors import ConfigError

TNAUTHLIST_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")


@dataclass(slots=True)
class IdentityInfo:
    """What an Identity header says, decoded, and whether it verified. (Slots: one is made
    per call and ~20 attributes are set on it; slots make both cheaper.)"""

    raw: str
    jws: str = ""
    info: str | None = None  # the x5u from ;info=<...>
    alg: str | None = None
    ppt: str | None = None
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    attest: str | None = None
    origid: str | None = None
    orig_tn: str | None = None
    dest_tn: str | None = None  # several destinations are joined with ","
    div_tn: str | None = None
    iat: int | None = None
    x5u: str | None = None
    signer_spc: str | None = None
    verified: bool | None = None  # None: not checked (no certificate); False: checked, failed
    problems: list[str] = field(default_factory=list)  # decoding quirks and failure reasons
    signing_input: bytes = b""
    signature: bytes = b""
    der_signature: bool = False

    @property
    def iat_utc(self) -> datetime | None:
        if self.iat is None:
            return None
        try:
            return datetime.fromtimestamp(self.iat, UTC)
        except (OverflowError, OSError, ValueError):
            return None


#: base64url -> standard base64 alphabet (RFC 4648 §5 -> §4), for ``bytes.translate``.
_URL_TO_STD: Final = bytes.maketrans(b"-_", b"+/")


def _b64(seg: str, what: str, problems: list[str]) -> bytes:
    if seg.isascii() and "=" not in seg and "+" not in seg and "/" not in seg:
        # The usual segment: ASCII base64url without padding. Translated as bytes (a C table
        # lookup) and padded; strict decoding still rejects any byte outside the alphabet.
        b = seg.strip().encode("ascii").translate(_URL_TO_STD)
        try:
            return binascii.a2b_base64(b + b"=" * (-len(b) % 4), strict_mode=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"{what} is not base64: {e}") from e
    s = seg.strip()
    if "=" in s or "+" in s or "/" in s:
        problems.append(f"{what}: standard/padded base64 instead of base64url (RFC 7515 §2)")
        s = s.rstrip("=")
    try:
        std = s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4)
        return binascii.a2b_base64(std.encode(), strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"{what} is not base64: {e}") from e


_JSON_DECODER: Final = json.JSONDecoder()


def _json(raw: bytes) -> Any:
    """``json.loads(raw)``, without its encoding detection for plain ASCII: that is what
    json.loads picks for ASCII without NUL bytes (RFC 8259 §8.1), and it is a third of the
    cost of decoding a claims object."""
    if raw.isascii() and b"\x00" not in raw:
        text = raw.decode("ascii")
        if text[:1] == "{" and text[-1:] == "}":
            # A bare object (what a signer writes): raw_decode without decode()'s two
            # whitespace regex scans; anything else (an error too) goes the full way.
            try:
                obj, end = _JSON_DECODER.raw_decode(text)
            except ValueError:
                obj, end = None, -1
            if end == len(text):
                return obj
        return _JSON_DECODER.decode(text)
    return json.loads(raw)


@lru_cache(maxsize=4096)
def _protected_header(seg: str) -> tuple[Any, tuple[str, ...], str | None]:
    """(PASSporT protected header as JSON, its base64 quirks, why it is undecodable or None).
    Cached: it holds only ``alg``, ``typ``, ``ppt`` and ``x5u``, so every call of one signer
    sends the same bytes."""
    problems: list[str] = []
    try:
        return json.loads(_b64(seg, "PASSporT header", problems)), tuple(problems), None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        # RecursionError: JSON nested ~1000 deep (2.7 kB of "[[[..."), a hostile header
        return None, tuple(problems), str(e) or type(e).__name__


def split_identity(value: str) -> tuple[str, dict[str, str], list[str]]:
    """(compact JWS, lower-case params, quirks) of one Identity header value (RFC 8224 §4.1)."""
    jws, params, quirks = _split_identity(value)
    return jws, dict(params), list(quirks)


def _split_identity(value: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """:func:`split_identity` with the cached parameters and quirks themselves (not to be
    changed: the next call with the same tail gets them too)."""
    v = value.strip()
    if v.startswith("<") and ">" in v:  # RFC 4474 style: the value in angle brackets
        jws, rest = v[1:v.index(">")], v[v.index(">") + 1:]
    else:
        semi = v.find(";")
        jws, rest = (v, "") if semi < 0 else (v[:semi], v[semi:])
    params, quirks = _identity_params(rest)
    return jws.strip(), params, quirks


@lru_cache(maxsize=4096)
def _identity_params(rest: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``;info=<...>;alg=...;ppt=...`` tail of an Identity header, parsed. Cached: one
    signer sends the same tail on every call, so a capture has a handful of distinct ones
    (callers copy the dict before they hand it out)."""
    quirks: list[str] = []
    params: dict[str, str] = {}
    # info=<...> first: its URI may hold ';' and '='.
    lo = rest.lower()
    at = lo.find("info=<")
    m = None
    if at >= 0:
        gt = rest.find(">", at)
        if gt > 0:
            params["info"] = rest[at + 6:gt]
            after = rest[gt + 1:]
            if after and not after.lstrip().startswith(";"):
                quirks.append("no ';' between info=<...> and the next parameter")
            rest = rest[:at] + ";" + after
    elif "info" in lo:
        m = re.search(r"info\s*=\s*<([^>]*)>", rest, re.I)  # LWS around '=' (RFC 3261 §25.1)
    if m:
        params["info"] = m.group(1)
        after = rest[m.end():]
        if after and not after.lstrip().startswith(";"):
            quirks.append("no ';' between info=<...> and the next parameter")
        rest = rest[:m.start()] + ";" + after
    for part in rest.split(";"):
        k, eq, val = part.partition("=")
        if eq:
            k = k.strip().lower()
            val = val.strip()
            if val.startswith('"'):
                quirks.append(f"quoted {k} parameter value")
            params.setdefault(k, val.strip('"'))
    return params, tuple(quirks)


def _tn(value: Any) -> str | None:
    """A tn claim as text: accepts {"tn": "x"}, {"tn": ["x", ...]}, or that object as a JSON
    string (libstirshaken), and ``uri`` forms."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # (nested ~1000 deep: a hostile claim)
            return value or None
    if isinstance(value, dict):
        tn = value.get("tn", value.get("uri"))
        if isinstance(tn, list):
            return ",".join(map(str, tn)) or None
        return str(tn) if tn is not None else None
    return None


def decode_identity(value: str) -> IdentityInfo:
    """Decode an Identity header value; never raises, problems are listed on the result."""
    out = IdentityInfo(raw=value)
    try:
        jws, params, quirks = _split_identity(value)
    except Exception as e:  # defensive: a header value must never stop an ingest
        out.problems.append(f"unreadable Identity header: {e}")
        return out
    out.jws, out.info, out.alg, out.ppt = jws, params.get("info"), params.get("alg"), params.get(
        "ppt")
    out.problems.extend(quirks)
    parts = jws.split(".")
    if len(parts) != 3:
        out.problems.append(f"PASSporT is not compact JWS header.payload.signature "
                            f"({len(parts)} parts)")
        return out
    header, quirks_h, why = _protected_header(parts[0])
    out.problems.extend(quirks_h)
    if why is not None:
        out.problems.append(f"undecodable PASSporT: {why}")
        return out
    out.header = dict(header) if isinstance(header, dict) else header
    try:
        out.claims = _json(_b64(parts[1], "PASSporT claims", out.problems))
        out.signature = _b64(parts[2], "PASSporT signature", out.problems)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        # (RecursionError: claims nested ~1000 deep, which a 2.7 kB Identity header holds:
        # a spoofer's header must never stop an ingest: RFC 8224 §6.2, invalid)
        out.problems.append(f"undecodable PASSporT: {e}")
        return out
    if not isinstance(out.header, dict) or not isinstance(out.claims, dict):
        out.problems.append("PASSporT header or claims are not JSON objects")
        out.header = out.header if isinstance(out.header, dict) else {}
        out.claims = out.claims if isinstance(out.claims, dict) else {}
        return out
    out.signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    c = out.claims
    out.attest = str(c["attest"]) if c.get("attest") is not None else None
    out.origid = str(c["origid"]) if c.get("origid") is not None else None
    out.orig_tn = _tn(c.get("orig"))
    out.dest_tn = _tn(c.get("dest"))
    out.div_tn = _tn(c.get("div"))
    iat = c.get("iat")
    if isinstance(iat, str) and iat.isascii() and iat.isdigit():  # RFC 8588's example
        # (errata 6656); ASCII only: '²'.isdigit() is true and int('²') raises
        out.problems.append("iat is a string, not a NumericDate")
        iat = int(iat)
    if isinstance(iat, float) and math.isfinite(iat):
        # A NumericDate may have a fraction (RFC 7519 §2; 1795000000.0 is one): read to the
        # second, the unit of every other iat.
        iat = math.floor(iat)
    out.iat = iat if isinstance(iat, int) and not isinstance(iat, bool) else None
    out.ppt = out.ppt or (str(out.header.get("ppt")) if out.header.get("ppt") else None)
    out.x5u = str(out.header.get("x5u") or out.info or "") or None
    if out.alg and out.header.get("alg") and out.alg != out.header.get("alg"):
        out.problems.append(f"alg parameter {out.alg} differs from the header's "
                            f"{out.header.get('alg')}")
    if len(out.signature) != 64 and out.signature[:1] == b"\x30":
        out.der_signature = True
        out.problems.append("signature is DER-encoded; JWS ES256 requires the 64-byte r||s "
                            "form (RFC 7518 §3.4)")
    return out


# --- certificates ---------------------------------------------------------------------------


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, content) of consecutive DER TLVs (definite lengths only, as DER requires)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data):
        tag = data[i]
        ln = data[i + 1]
        i += 2
        if ln & 0x80:
            nb = ln & 0x7F
            ln = int.from_bytes(data[i:i + nb], "big")
            i += nb
        if i + ln > len(data):
            raise ValueError("DER length overruns its container")
        out.append((tag, data[i:i + ln]))
        i += ln
    return out


def tnauthlist_spc(cert: x509.Certificate) -> str | None:
    """The SPC of a certificate's TNAuthList (RFC 8226 §9): ``TNEntry ::= CHOICE { spc [0]
    ServiceProviderCode, range [1] ..., one [2] ... }`` under EXPLICIT tags (the module's
    default), so an SPC is ``A0 len 16 len <IA5String>``; an implicitly tagged ``80 len``
    is accepted too. None when the extension or an SPC entry is absent or unreadable."""
    try:
        ext = cert.extensions.get_extension_for_oid(TNAUTHLIST_OID)
    except x509.ExtensionNotFound:
        return None
    val = ext.value
    raw = val.value if isinstance(val, x509.UnrecognizedExtension) else b""
    try:
        top = _der_items(raw)
        if len(top) != 1 or top[0][0] != 0x30:
            return None  # e.g. libstirshaken's test cert holds a bare IA5String URL
        for tag, content in _der_items(top[0][1]):
            if tag == 0xA0:
                inner = _der_items(content)
                if inner and inner[0][0] == 0x16:
                    return inner[0][1].decode("ascii", "replace")
            if tag == 0x80:
                return content.decode("ascii", "replace")
    except ValueError:
        return None
    return None


class CertDirectory:
    """Certificates for x5u URLs, from a local directory only (never the network).

    An x5u maps to a file by, in order: ``manifest.json`` in the directory (``{"<x5u>":
    "file.pem"}``), the last path segment of the URL (``https://cr.example/a/sp.pem`` ->
    ``sp.pem``), or ``sha256(x5u).pem``. Files are PEM (one or a chain: the first is the
    signer) or DER. A certificate in the directory that issued the signer's is used to check
    the signer's certificate signature too.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError("the certificate directory does not exist", path=self.path,
                              hint="Give --cert-dir a directory holding the STI certificates "
                                   "(PEM or DER) named after their x5u URLs or a manifest.json")
        self._manifest: dict[str, str] = {}
        mf = self.path / "manifest.json"
        if mf.is_file():
            try:
                data = json.loads(mf.read_text("utf-8"))
            except (OSError, ValueError) as e:
                raise ConfigError(f"manifest.json is not valid JSON: {e}", path=mf,
                                  hint='write {"<x5u url>": "<file name>", ...}') from e
            if not isinstance(data, dict):
                raise ConfigError("manifest.json must be an object", path=mf,
                                  hint='write {"<x5u url>": "<file name>", ...}')
            self._manifest = {str(k): str(v) for k, v in data.items()}
        self._cache: dict[str, list[x509.Certificate] | None] = {}
        self._verify_cache: dict[tuple[bytes, bytes, str], tuple[bool, str | None]] = {}
        self._by_subject: dict[bytes, x509.Certificate] | None = None
        self._spc: dict[x509.Certificate, str | None] = {}
        self._keys: dict[x509.Certificate, ec.EllipticCurvePublicKey | None] = {}
        self._issuer_ok: dict[x509.Certificate, bool] = {}

    def _load(self, file: Path) -> list[x509.Certificate] | None:
        try:
            data = file.read_bytes()
        except OSError:
            return None
        try:
            if b"-----BEGIN" in data:
                return x509.load_pem_x509_certificates(data)
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            return None

    def lookup(self, x5u: str) -> list[x509.Certificate] | None:
        if x5u in self._cache:
            return self._cache[x5u]
        names = []
        if x5u in self._manifest:
            names.append(self._manifest[x5u])
        tail = x5u.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if tail:
            names.append(tail)
        names.append(hashlib.sha256(x5u.encode()).hexdigest() + ".pem")
        found: list[x509.Certificate] | None = None
        for name in names:
            f = (self.path / name).resolve()
            if f.parent == self.path.resolve() and f.is_file():
                found = self._load(f)
                if found:
                    break
        self._cache[x5u] = found
        return found

    # Per-certificate facts, computed once per signer rather than once per PASSporT: a
    # capture holds a few signers and many calls (the ES256 check of each PASSporT remains).

    def signer_spc(self, cert: x509.Certificate) -> str | None:
        """:func:`tnauthlist_spc` of a certificate, cached."""
        fp = cert  # hashed on its DER bytes
        if fp not in self._spc:
            self._spc[fp] = tnauthlist_spc(cert)
        return self._spc[fp]

    def p256_key(self, cert: x509.Certificate) -> ec.EllipticCurvePublicKey | None:
        """The certificate's public key if it is EC P-256 (ES256), else None; cached."""
        fp = cert  # hashed on its DER bytes
        if fp not in self._keys:
            pub = cert.public_key()
            ok = isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
            self._keys[fp] = pub if ok and isinstance(pub, ec.EllipticCurvePublicKey) else None
        return self._keys[fp]

    def issuer_signature_ok(self, cert: x509.Certificate) -> bool:
        """False when an issuer of ``cert`` is in the directory and its signature on ``cert``
        does not verify; True otherwise (no issuer here: nothing to check). Cached."""
        fp = cert  # hashed on its DER bytes
        ok = self._issuer_ok.get(fp)
        if ok is None:
            ok = True
            issuer = self.issuer_of(cert)
            if issuer is not None:
                try:
                    cert.verify_directly_issued_by(issuer)
                except (ValueError, TypeError, InvalidSignature):
                    ok = False
            self._issuer_ok[fp] = ok
        return ok

    def issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        if self._by_subject is None:
            self._by_subject = {}
            for f in sorted(self.path.iterdir()):
                if f.suffix.lower() in (".pem", ".crt", ".cer", ".der"):
                    for c in self._load(f) or []:
                        self._by_subject.setdefault(c.subject.public_bytes(), c)
        iss = self._by_subject.get(cert.issuer.public_bytes())
        return iss if iss is not None and iss != cert else None


def verify(info: IdentityInfo, certs: CertDirectory | None) -> None:
    """Fill ``verified`` and ``signer_spc`` of a decoded Identity from a certificate directory."""
    if certs is None or not info.signing_input:
        return
    if info.der_signature:  # no certificate can make a DER signature a valid JWS one
        info.verified = False
        return
    x5u = info.x5u or info.info
    if not x5u:
        info.problems.append("no x5u: cannot find the signing certificate")
        return
    chain = certs.lookup(x5u)
    if not chain:
        info.problems.append(f"no certificate for x5u {x5u} in {certs.path}")
        return
    cert = chain[0]
    info.signer_spc = certs.signer_spc(cert)
    key = (info.signing_input, info.signature, x5u)
    cached = certs._verify_cache.get(key)
    if cached is None:
        cached = _check(info, cert, certs)
        certs._verify_cache[key] = cached
    info.verified, why = cached
    if why:
        info.problems.append(why)


def _check(info: IdentityInfo, cert: x509.Certificate,
           certs: CertDirectory) -> tuple[bool, str | None]:
    alg = info.header.get("alg")
    if alg != "ES256":
        return False, f"alg {alg!r} is not ES256 (RFC 8588 §6)"
    if info.der_signature:
        return False, "not verified: DER signature is not a valid JWS ES256 signature"
    if len(info.signature) != 64:
        return False, f"ES256 signature must be 64 bytes, is {len(info.signature)}"
    pub = certs.p256_key(cert)
    if pub is None:
        return False, "the certificate's key is not EC P-256"
    sig = encode_dss_signature(int.from_bytes(info.signature[:32], "big"),
                               int.from_bytes(info.signature[32:], "big"))
    try:
        pub.verify(sig, info.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False, "signature does not verify against the certificate"
    at = info.iat_utc
    if at is not None and not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return False, f"certificate not valid at iat {at.isoformat()}"
    if not certs.issuer_signature_ok(cert):
        return False, "the certificate's issuer signature does not verify"
    return True, None


def stir_signer_mismatch(signer_spc: str | None, peer_ocn: str | None) -> str | None:
    """A warning when the PASSporT signer is not the provider the call came from, else None.

    An A or B attestation is made by the originating provider, so on a direct hand-off the
    signer's SPC equals the upstream peer's OCN; a gateway (C) or a transit hop in between
    makes them differ legitimately, which is why this is a flag for the answer, not a verdict.
    """
    if not signer_spc or not peer_ocn:
        return None
    a, b = signer_spc.strip().upper(), peer_ocn.strip().upper()
    if a == b:
        return None
    return (f"STIR/SHAKEN signer SPC {signer_spc} is not the upstream provider's OCN "
            f"{peer_ocn}: the call was signed by another provider")
