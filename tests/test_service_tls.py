"""mTLS for `tracehop serve`: with --ssl-ca-certs, a client without a certificate from that CA
is refused during the TLS handshake. Certificates are made here with `cryptography`."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tracehop.service.run import ServerThread, TLSOptions, build_app
from tracehop.service.tokens import add_token
from tracehop.store import Store

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key: Key, ca: x509.Certificate, cn: str, *, server: bool
              ) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                               else ExtendedKeyUsageOID.CLIENT_AUTH]),
                        critical=False))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                            critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def write_pem(path: Path, key: Key | None, cert: x509.Certificate) -> Path:
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = make_ca("tracehop test CA")
    write_pem(d / "ca", None, ca)
    write_pem(d / "server", *make_leaf(ca_key, ca, "127.0.0.1", server=True))
    write_pem(d / "client", *make_leaf(ca_key, ca, "consortium", server=False))
    other_key, other = make_ca("someone else's CA")
    write_pem(d / "stranger", *make_leaf(other_key, other, "stranger", server=False))
    return d


def test_mtls_refuses_clients_without_a_certificate_from_the_ca(pki: Path,
                                                               tmp_path: Path) -> None:
    Store.open(tmp_path / "calls.store", create=True)
    (tmp_path / "peers.toml").write_text("")
    token = add_token(tmp_path / "tokens.json", "consortium")
    app = build_app(tmp_path / "calls.store", tmp_path / "peers.toml", tmp_path / "tokens.json",
                    tmp_path / "audit.jsonl")
    tls = TLSOptions(str(pki / "server.crt"), str(pki / "server.key"), str(pki / "ca.crt"))

    def client(cert: str | None) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        if cert:
            ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
        return httpx.Client(verify=ctx, timeout=10)

    ask = {"called": "+13125550100", "time": "2026-11-20T14:03:22Z"}
    with ServerThread(app, tls=tls, log_level="critical") as url:
        assert url.startswith("https://127.0.0.1:")
        with client("client") as c:
            assert c.get(f"{url}/v1/health").status_code == 200
            r = c.post(f"{url}/v1/inquiries", json=ask,
                       headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            assert r.json()["status"] == "not_found"
        for who in (None, "stranger"):
            # TLS 1.3 may report the refusal on the first read rather than in the handshake:
            # either way no HTTP response comes back.
            with client(who) as c, pytest.raises((httpx.ConnectError, httpx.ReadError,
                                                  httpx.RemoteProtocolError)):
                c.get(f"{url}/v1/health")
        # plain HTTP to the TLS port gets no answer either
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            httpx.get(url.replace("https", "http") + "/v1/health", timeout=5)


def test_serve_with_an_unusable_certificate_or_key_says_which_file(pki: Path,
                                                                    tmp_path: Path) -> None:
    """A certificate that is not PEM, a key that is not the certificate's, a CA file that is not
    PEM: `tracehop serve` stops with an Error naming the file, not an ssl traceback."""
    from click.testing import CliRunner

    from tracehop.cli import cli

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    base = ["serve", "--store", str(tmp_path / "store"), "--peers", str(tmp_path / "p.toml"),
            "--tokens", str(tmp_path / "t.json"), "--port", "0"]
    cases = [
        (["--ssl-certfile", str(garbage), "--ssl-keyfile", str(pki / "server.key")], garbage),
        (["--ssl-certfile", str(pki / "server.crt"), "--ssl-keyfile", str(pki / "client.key")],
         pki / "server.crt"),
        (["--ssl-certfile", str(pki / "server.crt"), "--ssl-keyfile", str(pki / "server.key"),
          "--ssl-ca-certs", str(garbage)], garbage),
    ]
    for extra, named in cases:
        res = CliRunner().invoke(cli, base + extra)
        assert res.exit_code != 0
        assert not isinstance(res.exception, ssl.SSLError), res.exception
        assert "Error:" in res.output and str(named) in res.output, res.output
