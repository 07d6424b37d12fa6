"""STIR/SHAKEN: Identity header decoding, ES256 verification offline, TNAuthList SPC."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tracehop.errors import ConfigError
from tracehop.sip.passport import (
    CertDirectory,
    decode_identity,
    split_identity,
    stir_signer_mismatch,
    tnauthlist_spc,
    verify,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
REAL = Path(__file__).resolve().parents[2] / "shared" / "realworld" / "sip" / "messages"
SW = REAL / "signalwire__libstirshaken" / "test" / "ref" / "sp"
AST = (REAL / "asterisk__testsuite" / "tests" / "channels" / "pjsip" / "stir_shaken"
       / "stir_shaken_mismatch" / "sipp")

sys.path.insert(0, str(FIX))
import make_fixtures as mf  # noqa: E402


def _acme_identity(tamper: bool = False) -> str:
    key = mf.load_keys()["acme"]
    return mf.identity(key, "https://cr.acme.example/sti/acme.pem", "A", "12025550111",
                       "13125550101", 1795183200, "o-1", tamper)


def test_signed_fixture_verifies_and_names_the_signer() -> None:
    info = decode_identity(_acme_identity())
    verify(info, CertDirectory(FIX / "certs"))
    assert info.verified is True, info.problems
    assert (info.attest, info.orig_tn, info.dest_tn, info.signer_spc) == (
        "A", "12025550111", "13125550101", "1234")
    assert info.iat_utc is not None and info.iat_utc.year == 2026


def test_altered_passport_fails_and_says_why() -> None:
    info = decode_identity(_acme_identity(tamper=True))
    verify(info, CertDirectory(FIX / "certs"))
    assert info.verified is False
    assert any("does not verify" in p for p in info.problems)


def test_wrong_certificate_fails(tmp_path: Path) -> None:
    # The x5u names acme.pem, but the directory's acme.pem is Bravo's certificate.
    shutil.copy(FIX / "certs" / "bravo.pem", tmp_path / "acme.pem")
    info = decode_identity(_acme_identity())
    verify(info, CertDirectory(tmp_path))
    assert info.verified is False and info.signer_spc == "5678"


def test_no_certificate_means_not_checked(tmp_path: Path) -> None:
    info = decode_identity(_acme_identity())
    verify(info, CertDirectory(tmp_path))
    assert info.verified is None
    assert any("no certificate for x5u" in p for p in info.problems)


def test_manifest_maps_x5u_to_a_file(tmp_path: Path) -> None:
    shutil.copy(FIX / "certs" / "acme.pem", tmp_path / "stisp-1234.pem")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"https://cr.acme.example/sti/acme.pem": "stisp-1234.pem"}))
    info = decode_identity(_acme_identity())
    verify(info, CertDirectory(tmp_path))
    assert info.verified is True


def test_cert_dir_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        CertDirectory(tmp_path / "missing")
    assert "--cert-dir" in str(e.value)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError):
        CertDirectory(tmp_path)


def test_tnauthlist_spc_from_fixture_certificates() -> None:
    for name, spc in (("acme", "1234"), ("bravo", "5678"), ("ca", None)):
        cert = x509.load_pem_x509_certificate((FIX / "certs" / f"{name}.pem").read_bytes())
        assert tnauthlist_spc(cert) == spc


def test_identity_header_tolerance() -> None:
    jws, params, quirks = split_identity(
        'aa.bb.cc;info=<https://x.example/a;b=c.pem>alg=ES256;ppt="shaken"')
    assert jws == "aa.bb.cc"
    assert params == {"info": "https://x.example/a;b=c.pem", "alg": "ES256", "ppt": "shaken"}
    assert len(quirks) == 2
    assert split_identity("<aa.bb.cc>;alg=ES256")[0] == "aa.bb.cc"  # RFC 4474 style
    bad = decode_identity("not-a-jws;info=<x>")
    assert bad.attest is None and bad.problems and bad.verified is None


def test_div_passport_is_decoded() -> None:
    import base64

    def b64(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    value = (b64({"alg": "ES256", "ppt": "div", "typ": "passport", "x5u": "https://d/x.pem"})
             + "." + b64({"dest": {"tn": ["13125550199"]}, "div": {"tn": "13125550101"},
                          "iat": 1795183200, "orig": {"tn": "12025550111"}})
             + ".sig;info=<https://d/x.pem>;ppt=div")
    info = decode_identity(value)
    assert (info.ppt, info.div_tn, info.dest_tn) == ("div", "13125550101", "13125550199")


def test_signer_mismatch_flag() -> None:
    assert stir_signer_mismatch("1234", "1234") is None
    assert stir_signer_mismatch("1234", " 1234 ") is None
    msg = stir_signer_mismatch("1234", "5678")
    assert msg is not None and "1234" in msg and "5678" in msg
    assert stir_signer_mismatch(None, "5678") is None
    assert stir_signer_mismatch("1234", None) is None


@pytest.mark.realworld
def test_libstirshaken_passport_verifies(tmp_path: Path) -> None:
    if not SW.is_dir():
        pytest.skip(f"libstirshaken test vector not present at {SW}")
    text = (SW / "passport.txt").read_text()
    value = text.split("SIP Identity Header with PASSporT is:")[1].strip()
    shutil.copy(SW / "sp.pem", tmp_path / "sp.pem")
    info = decode_identity(value)
    verify(info, CertDirectory(tmp_path))
    assert info.verified is True, info.problems
    # orig/dest are JSON strings holding JSON, dest.tn is not an array: accepted as they are
    assert (info.attest, info.orig_tn, info.dest_tn, info.origid, info.iat) == (
        "A", "01256789999", "01256500600", "ref", 1603458131)
    assert info.x5u == "http://shaken.signalwire.cloud/sp.pem"
    assert info.signer_spc is None  # its TNAuthList is a bare URL string, not an SPC entry
    signed = text.split("PASSporT signed is:")[1].split("SIP Identity")[0].strip()
    other = decode_identity(signed)
    verify(other, CertDirectory(tmp_path))
    assert other.verified is True


@pytest.mark.realworld
@pytest.mark.parametrize("commit", ["4b09fbd6", "123c19c4", "f73e3889"])
def test_asterisk_identity_templates_decode_but_do_not_verify(commit: str,
                                                              tmp_path: Path) -> None:
    f = AST / f"send-invite.{commit}.sipp-template.txt"
    if not f.is_file():
        pytest.skip(f"Asterisk testsuite template not present at {f}")
    line = next(ln for ln in f.read_text().splitlines() if ln.startswith("Identity:"))
    info = decode_identity(line.split(":", 1)[1])
    assert (info.attest, info.orig_tn, info.ppt, info.alg) == ("C", "1234567", "shaken", "ES256")
    assert info.x5u and info.x5u.startswith("http://127.0.0.1:8088/")
    assert info.der_signature
    assert any("no ';' between info" in p for p in info.problems)
    verify(info, CertDirectory(tmp_path))
    assert info.verified is False
