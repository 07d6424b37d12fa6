"""Evidence packs as a person (or a script) checking them relies on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracehop.respond.evidence import portal_text


def _answer(**kw: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "inquiry": {"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z", "id": "R1"},
        "status": "unmapped", "upstream": {"provider": None, "trunk": "acme_in", "ip": None},
        "customer": None, "confidence": 0.9, "match": None, "alternatives": [],
        "searched": {"from_utc": "2026-11-20T14:01:22Z", "to_utc": "2026-11-20T14:05:22Z",
                     "step": "\u00b1120s"},
        "warnings": []}
    a.update(kw)
    return a


def test_portal_text_is_plain_ascii() -> None:
    a = _answer(inquiry={"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z",
                         "id": "R 1 \u00e9"},
                warnings=["trunk \u201cacme\u201d \u2013 not mapped"])
    text = portal_text(a)
    assert text.isascii(), text
    assert "+/-120s" in text
    assert "Reference: R 1 e" in text
    assert '- trunk "acme" - not mapped' in text


def test_a_line_break_in_a_value_cannot_forge_a_line_of_the_portal_text() -> None:
    a = _answer(inquiry={"called": "+13125550100", "time_utc": "2026-11-20T14:03:22Z",
                         "id": "R1\nResult: we are the originating provider\tX"})
    lines = portal_text(a).splitlines()
    assert "Reference: R1 Result: we are the originating provider X" in lines
    assert not any(line.startswith("Result: we are the originating") for line in lines)
    assert all(line.isprintable() for line in lines)



def _token(claims: dict[str, Any]) -> str:
    import base64
    import json

    def seg(o: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
    hdr = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://x/c.pem"}
    return f"{seg(hdr)}.{seg(claims)}.c2ln;info=<https://x/c.pem>;alg=ES256;ppt=shaken"


def test_passport_json_says_in_words_whether_the_signature_was_checked() -> None:
    from tracehop.respond.evidence import decode_passport

    tok = _token({"attest": "A", "orig": {"tn": "12025550111"}, "iat": 1795183200})
    assert "not verified" in decode_passport(tok, None)["signature"]
    assert "FAILED" in decode_passport(tok, False)["signature"]
    assert decode_passport(tok, True)["signature"].startswith("verified")


def test_a_not_found_pack_does_not_speak_of_a_matched_leg(tmp_path: Path) -> None:
    import json

    from tracehop.respond.evidence import write_pack

    pack = write_pack(tmp_path, "00001-x", _answer(status="not_found", upstream=None), None)
    passport = json.loads((pack.path / "passport.json").read_text())
    assert passport["present"] is False
    assert "matched" not in passport["note"].replace("no call matched", "")


def test_a_record_without_a_calling_number_does_not_read_calling_none() -> None:
    m = {"leg_id": "L1", "start_utc": "2026-11-20T14:03:25Z", "offset_s": 3.0,
         "called_raw": "13125550100", "calling_raw": None, "call_id": None,
         "evidence": {"source": "sbc1", "file": "cdr.csv", "record": 2}}
    text = portal_text(_answer(match=m))
    assert "None" not in text
    assert "called 13125550100, calling (none recorded)" in text


def test_a_rejected_row_portal_text_names_the_inquiry_as_given() -> None:
    a = _answer(inquiry={"line": 2, "id": "BAD1", "called_raw": "notanumber",
                         "time_raw": "2026-03-07T19:03:22Z"},
                status="not_found", upstream=None, searched=None,
                error={"line": 2, "reason": "called number 'notanumber' is not valid"},
                warnings=["rejected: line 2: called number 'notanumber' is not valid"])
    text = portal_text(a)
    assert "Reference: BAD1" in text
    assert "Called number (as given): notanumber" in text
    assert "Call date/time (as given): 2026-03-07T19:03:22Z" in text


def test_the_pack_readme_says_how_to_get_the_pack_digest(tmp_path: Path) -> None:
    import hashlib

    from tracehop.respond.evidence import write_pack

    pack = write_pack(tmp_path, "00001-x", _answer(), None)
    readme = (pack.path / "README.txt").read_text()
    assert "sha256sum MANIFEST.sha256\n" in readme
    assert hashlib.sha256((pack.path / "MANIFEST.sha256").read_bytes()).hexdigest() == pack.digest


def test_a_malformed_identity_header_is_said_plainly() -> None:
    from tracehop.respond.evidence import decode_passport

    for bad in ("garbage", "eyJhbGciOiJFUzI1NiJ9.bm90anNvbg.c2ln;info=<https://x/c.pem>"):
        got = decode_passport(bad, None)
        assert got["signature"].startswith("MALFORMED"), got
        assert "decoded only" not in got["signature"]


def test_pack_names_are_safe_on_every_file_system() -> None:
    from tracehop.respond.evidence import pack_name

    def name(i: int, ref: str) -> str:
        return pack_name(i, {"inquiry": {"id": ref, "called": "+13125550100"}})
    assert name(1, "../../etc/passwd") == "00001-.._.._etc_passwd"
    assert name(2, "..") == "00002-_"
    assert name(3, "R1.") == "00003-R1"
    assert name(4, "R 1 \u00e9") == "00004-R_1_"
    assert len(name(5, "x" * 500)) == 66
    assert name(6, "R/1") != name(7, "R/1")


def test_verify_pack_names_a_deleted_or_added_file_and_checks_a_zip(tmp_path: Path) -> None:
    from tracehop.respond.evidence import verify_pack, write_pack

    pack = write_pack(tmp_path, "00001-x", _answer(), None).path
    assert verify_pack(pack) == []
    (pack / "leg.json").unlink()
    (pack / "extra.txt").write_text("not evidence\n")
    assert verify_pack(pack) == ["extra.txt", "leg.json"]

    zipped = write_pack(tmp_path, "00002-x", _answer(), None, zip_pack=True).path
    assert zipped.suffix == ".zip"
    assert verify_pack(zipped) == []


def test_two_identity_headers_decode_the_shaken_passport_and_keep_the_other() -> None:
    from tracehop.respond.evidence import decode_passport

    div = _token({"div": {"tn": "13125550199"}, "orig": {"tn": "12025550111"},
                  "iat": 1795183380}).replace("ppt=shaken", "ppt=div")
    shaken = _token({"attest": "A", "orig": {"tn": "12025550111"}, "iat": 1795183380,
                     "origid": "o1"})
    got = decode_passport(div + "\n" + shaken, True)  # as the SIP ingest keeps them
    assert got["params"]["ppt"] == "shaken"
    assert got["attest"] == "A" and got["origid"] == "o1"
    assert got["identity_raw"] == shaken
    assert [o["params"]["ppt"] for o in got["other_passports"]] == ["div"]
    one = decode_passport(shaken, None)
    assert one["identity_raw"] == shaken and "other_passports" not in one
