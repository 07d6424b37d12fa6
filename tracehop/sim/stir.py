"""A test STIR/SHAKEN authority for the simulation: STI-SP certificates and signed PASSporTs.

A provider that originates a call (or takes it from a foreign carrier at a gateway) signs it:
RFC 8224 puts an ``Identity`` header on the INVITE, holding a SHAKEN PASSporT (RFC 8225, RFC 8588)
signed ES256 with the key of an STI-SP certificate whose TNAuthList (RFC 8226 §9, OID
1.3.6.1.5.5.7.1.26) names the signer's Service Provider Code (SPC; here its OCN). Downstream
providers pass the header on unchanged; a verifier fetches the certificate from the ``x5u`` URL.

Everything here is for **test data only**: the keys are derived from their names (so a
simulation writes the same bytes every time: signatures are RFC 6979 deterministic ECDSA) and
are public by construction; only certificates are written out. :meth:`SimStiAuthority.publish`
writes the certificates where a verifier's certificate directory expects them (file named
after the last segment of the x5u, :class:`tracehop.sip.passport.CertDirectory`), with the
CA beside them so the issuer signature is checked too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

#: RFC 8226 §9: id-pe-TNAuthList
TNAUTH_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")
_NOT_BEFORE: Final = datetime(2026, 1, 1, tzinfo=UTC)
_NOT_AFTER: Final = datetime(2036, 1, 1, tzinfo=UTC)


def tnauthlist_spc(spc: str) -> bytes:
    """DER of a TNAuthorizationList with one SPC entry (RFC 8226 §9):
    ``SEQUENCE { [0] EXPLICIT ServiceProviderCode (IA5String) }``."""
    ia5 = b"\x16" + bytes([len(spc)]) + spc.encode("ascii")
    entry = b"\xa0" + bytes([len(ia5)]) + ia5
    return b"\x30" + bytes([len(entry)]) + entry


def derived_key(name: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from ``name``: reproducible, and therefore for test data only."""
    d = int.from_bytes(hashlib.sha256(f"tracehop-sim-test-key/{name}".encode()).digest(), "big")
    # the scalar must lie in [1, n-1]; n is just under 2**256, so reduce into that range
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    return ec.derive_private_key(d % (n - 1) + 1, ec.SECP256R1())


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Signer:
    """One provider's STI-SP credentials."""

    key: str  # provider key
    spc: str
    x5u: str
    private_key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def identity(self, *, attest: str, orig: str, dest: str, iat: int, origid: str) -> str:
        """An ``Identity`` header value: a SHAKEN PASSporT in compact form (RFC 8225 §7) with
        the ``info``, ``alg`` and ``ppt`` parameters (RFC 8224 §4.1, RFC 8588 §8)."""
        hdr = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": self.x5u}
        claims = {"attest": attest, "dest": {"tn": [dest]}, "iat": iat, "orig": {"tn": orig},
                  "origid": origid}
        h = b64u(json.dumps(hdr, separators=(",", ":")).encode())
        c = b64u(json.dumps(claims, separators=(",", ":")).encode())
        der = self.private_key.sign(f"{h}.{c}".encode(),
                                    ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        # JWS ES256 signatures are r || s, 32 bytes each (RFC 7518 §3.4), not DER
        r, s = decode_dss_signature(der)
        sig = b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return f"{h}.{c}.{sig};info=<{self.x5u}>;alg=ES256;ppt=shaken"


class SimStiAuthority:
    """A test STI-CA that issues one STI-SP certificate per signing provider."""

    def __init__(self, name: str = "tracehop simulation Test STI-CA") -> None:
        self._key = derived_key(name)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self._key.public_key()).serial_number(1)
                     .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self._key, hashes.SHA256()))
        self._signers: dict[str, Signer] = {}

    def signer(self, key: str, spc: str) -> Signer:
        """The STI-SP credentials of provider ``key`` (issued on first use)."""
        s = self._signers.get(key)
        if s is None:
            pk = derived_key(f"{key}/{spc}")
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    f"{key} Test STI-SP {spc}")])
            cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
                    .public_key(pk.public_key()).serial_number(100 + len(self._signers))
                    .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
                    .add_extension(x509.UnrecognizedExtension(TNAUTH_OID, tnauthlist_spc(spc)),
                                   critical=False)
                    .sign(self._key, hashes.SHA256()))
            s = Signer(key, spc, f"https://cr.{key}.sim.example/sti/{key}-sp.pem", pk, cert)
            self._signers[key] = s
        return s

    def publish(self, directory: Path) -> Path:
        """Write the CA and every issued certificate into a verifier's certificate directory."""
        directory.mkdir(parents=True, exist_ok=True)
        pem = serialization.Encoding.PEM
        (directory / "sti-ca.pem").write_bytes(self.cert.public_bytes(pem))
        for s in self._signers.values():
            (directory / s.x5u.rsplit("/", 1)[-1]).write_bytes(s.cert.public_bytes(pem))
        return directory


_AUTHORITY: SimStiAuthority | None = None


def authority() -> SimStiAuthority:
    """The simulation's test STI-CA (one per process: issuing certificates is the slow part)."""
    global _AUTHORITY
    if _AUTHORITY is None:
        _AUTHORITY = SimStiAuthority()
    return _AUTHORITY
