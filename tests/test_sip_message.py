"""RFC 3261 message parsing: the RFC 4475 torture messages, compact forms, folding, URIs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracehop.sip.message import (
    SipParseError,
    call_id_of,
    content_length,
    invite_response_key,
    is_sip_start,
    parse_message,
    parse_name_addr,
    quick_fields,
    split_values,
    uri_user,
)

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
TORTURE = REALWORLD / "sip" / "messages" / "resiprocate__resiprocate" / "resip" / "stack" / "test"

# RFC 4475 §3.1.1: valid messages, every one must parse in strict mode.
VALID = ["wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
         "semiuri", "transports", "mpart01", "unreason", "noreason"]
# §3.1.2: invalid messages, strict mode must reject each, naming why.
INVALID = {
    "badinv01": "Via", "clerr": "Content-Length", "scalar02": "CSeq", "scalarlg": "CSeq",
    "quotbal": "unterminated quoted string", "ltgtruri": "Request-URI enclosed",
    "lwsruri": "not a SIP request", "lwsstart": "request line", "trws": "request line",
    "escruri": "escaped headers", "baddate": "Date", "regbadct": "addr-spec",
    "badaspec": "whitespace inside", "baddn": "exactly one value", "badvers": "version",
    "mismatch01": "CSeq method", "mismatch02": "CSeq method", "bigcode": "status code",
}
# §3.1.2 messages strict mode accepts anyway, and why (xfail strict: fixing one fails the
# suite until it moves to INVALID).
LENIENT: dict[str, str] = {}
# §3.2-3.4: syntactically valid messages whose problem lies above the parser (transaction or
# application layer: unknown schemes, missing Content-Type, odd bodies ...). They must parse;
# the few that break a header rule the strict checks cover are listed with their reason.
ABOVE_PARSER_REJECTED = {
    "insuf": "missing mandatory header",  # §3.3.1: no Call-ID, From or To at all
    "mcl01": "conflicting Content-Length",  # §3.3.3 multiple Content-Length values
    "ncl": "Content-Length",  # §3.3.?: negative Content-Length
    "multi01": "exactly one value",  # §3.3.? several To/From/Call-ID/CSeq headers
}
ABOVE_PARSER_OK = ["badbranch", "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01",
                   "bcast", "regescrt", "sdp01", "zeromf", "cparam01", "cparam02", "inv2543"]


def _torture(name: str) -> bytes:
    if not TORTURE.is_dir():
        pytest.skip(f"RFC 4475 torture messages not present at {TORTURE}")
    return (TORTURE / f"{name}.dat").read_bytes()


def test_every_torture_file_is_classified() -> None:
    if not TORTURE.is_dir():
        pytest.skip(f"RFC 4475 torture messages not present at {TORTURE}")
    names = {p.stem for p in TORTURE.glob("*.dat")}
    listed = (set(VALID) | set(INVALID) | set(LENIENT) | set(ABOVE_PARSER_REJECTED)
              | set(ABOVE_PARSER_OK))
    assert names == listed


@pytest.mark.realworld
@pytest.mark.parametrize("name", VALID)
def test_valid_torture_messages_parse(name: str) -> None:
    msg = parse_message(_torture(name), strict=True)
    assert msg.header("call-id")
    assert msg.cseq[0] is not None


@pytest.mark.realworld
@pytest.mark.parametrize("name,why", sorted(INVALID.items()))
def test_invalid_torture_messages_are_rejected_with_a_reason(name: str, why: str) -> None:
    with pytest.raises(SipParseError) as e:
        parse_message(_torture(name), strict=True)
    assert why.lower() in e.value.reason.lower()


@pytest.mark.realworld
@pytest.mark.parametrize("name", ABOVE_PARSER_OK)
def test_above_parser_torture_messages_parse(name: str) -> None:
    assert parse_message(_torture(name), strict=True).start_line


@pytest.mark.realworld
@pytest.mark.parametrize("name,why", sorted(ABOVE_PARSER_REJECTED.items()))
def test_above_parser_torture_rejections(name: str, why: str) -> None:
    with pytest.raises(SipParseError) as e:
        parse_message(_torture(name), strict=True)
    assert why.lower() in e.value.reason.lower()


@pytest.mark.realworld
def test_lenient_mode_reads_the_torture_headers_legs_need() -> None:
    # wsinv: folding, LWS around ':' and '/', compact and mixed-case names
    msg = parse_message(_torture("wsinv"))
    assert msg.header("CALL-id") == "wsinv.ndaksdj@192.0.2.1"
    assert msg.top_via_branch == "390skdjuw"
    assert uri_user(msg.ruri) == "vivekg"
    assert len(msg.values("via")) == 3
    # esc01: an escaped user part in the R-URI is decoded
    assert uri_user(parse_message(_torture("esc01")).ruri) == "sips:user@example.com"


def test_compact_forms_and_case() -> None:
    raw = (b"INVITE sip:+13125550100@x SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
           b"f: <sip:+12025550111@y>;tag=1\r\nt: <sip:+13125550100@x>\r\ni: abc\r\n"
           b"cSeQ: 1 INVITE\r\nl: 0\r\ny: e30.e30.sig;info=<https://x/c.pem>\r\n\r\n")
    m = parse_message(raw, strict=True)
    assert m.header("Call-ID") == "abc" and m.header("from").startswith("<sip:+1202")
    assert m.header("Identity", ).startswith("e30")
    assert m.top_via_branch == "z9hG4bK1"
    assert quick_fields(raw.split(b"\r\n\r\n")[0]) == ("abc", "1 INVITE", "z9hG4bK1")


def test_folding_and_lf_only_line_endings() -> None:
    raw = (b"INVITE sip:1@x SIP/2.0\nVia: SIP/2.0/UDP a;branch=b1,\n  SIP/2.0/UDP c;branch=b2\n"
           b"From: <sip:2@y>;tag=1\nTo: <sip:1@x>\nCall-ID:\n x1\nCSeq: 7 INVITE\n"
           b"Content-Length: 2\n\nhi")
    m = parse_message(raw, strict=True)
    assert m.header("call-id") == "x1"
    assert [v.split(";")[0] for v in m.values("via")] == ["SIP/2.0/UDP a", "SIP/2.0/UDP c"]
    assert m.body == b"hi"
    head = raw.split(b"\n\n")[0]
    assert call_id_of(head) == "x1"  # folded: the quick path falls back to the full parser


def test_multi_value_headers_split_outside_quotes_and_brackets() -> None:
    v = '"Doe, John" <sip:j@x;a=1,2>;tag=9, <tel:+13125550100>, sip:b@y'
    assert split_values(v) == ['"Doe, John" <sip:j@x;a=1,2>;tag=9', "<tel:+13125550100>",
                               "sip:b@y"]


def test_name_addr_and_addr_spec() -> None:
    na = parse_name_addr('"Bell, A." <sip:+12025550111;npdi@example.com;user=phone>;tag=4')
    assert na.display == "Bell, A." and na.params == {"tag": "4"}
    assert uri_user(na.uri) == "+12025550111"
    bare = parse_name_addr("sip:alice@example.com;tag=1")  # §20.10: params go to the header
    assert bare.uri == "sip:alice@example.com" and bare.params["tag"] == "1"
    assert uri_user("tel:+13125550100;verstat=TN-Validation-Passed") == "+13125550100"
    assert uri_user("sip:example.com") is None
    assert uri_user("mailto:a@b") is None
    assert uri_user("sip:%2B1312555@x") == "+1312555"


def test_start_line_sniffing() -> None:
    assert is_sip_start(b"SIP/2.0 200 OK\r\n")
    assert is_sip_start(b"OPTIONS sip:a@b SIP/2.0\r\n")
    assert not is_sip_start(b"GET / HTTP/1.1\r\n")
    assert not is_sip_start(b"\x80\x00\x01\x02 rtp SIP/2.0")
    assert content_length(b"X\r\nContent-Length : 12\r\nY: 1") == 12
    assert content_length(b"X\r\nl: 5") == 5
    assert content_length(b"X\r\nLength: 5") is None


def test_response_key_only_for_invite_transactions() -> None:
    head = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx;rport, SIP/2.0/UDP b"
            b";branch=z9hG4bKy\r\nCall-ID: CiD\r\nCSeq: 1 INVITE")
    assert invite_response_key(head) == ("CiD", "z9hG4bKx")
    assert invite_response_key(head.replace(b"1 INVITE", b"2 BYE")) is None
    compact = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=q\r\ni: c2\r\nCSeq: 1 INVITE"
    assert invite_response_key(compact) == ("c2", "q")


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                      blacklist_characters=",;<>\"\\"), min_size=1, max_size=30))
def test_quick_fields_agree_with_the_full_parser(call_id: str) -> None:
    head = (f"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{len(call_id)}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 2 BYE").encode()
    cid, cseq, branch = quick_fields(head)
    m = parse_message(head + b"\r\n\r\n")
    assert (cid, cseq, branch) == (m.header("call-id"), m.header("cseq"), m.top_via_branch)


def test_garbage_is_rejected_with_a_reason() -> None:
    for raw in (b"", b"\r\n\r\n", b"HELLO\r\n\r\n", b"INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n"):
        with pytest.raises(SipParseError) as e:
            parse_message(raw)
        assert e.value.reason
