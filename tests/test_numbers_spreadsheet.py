"""Numbers as real exports and inquiry spreadsheets write them: float text, scientific
notation, vanity letters, local numbers, extensions. One expectation for the CDR path
(numbers.normalise, ingest) and the inquiry path (normalise_one, Inquiry.parse)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracehop.errors import InquiryError
from tracehop.inquiry import Inquiry
from tracehop.numbers import normalise, normalise_one, refusal

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = "2026-11-20T14:03:22Z"


def both(raw: str, region: str = "US") -> str | None:
    """The one verdict of both paths (they must agree)."""
    one = normalise_one(raw, region)
    assert normalise(pl.Series([raw]), region).to_list() == [one], raw
    return one


nanp_number = st.tuples(
    st.from_regex("[2-9][0-9]{2}", fullmatch=True),
    st.from_regex("[2-9][0-9]{2}", fullmatch=True),
    st.from_regex("[0-9]{4}", fullmatch=True),
).map("".join)


# -- a number that went through a spreadsheet as a float ----------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["2125550143.0", "12125550143.0", "2125550143.00", "+12125550143.0", "'2125550143.0",
     "2.125550143E+09", "2.125550143E+9", "2.125550143e09", "1.2125550143E+10",
     "2,125550143E+09"],  # a decimal-comma locale
)
def test_float_text_of_a_whole_number_is_the_number(raw: str) -> None:
    # "+12125550143.0": a pipeline put "+" before float text; the "+" is the number's.
    assert both(raw) == "+12125550143"


@pytest.mark.parametrize(
    ("raw", "words"),
    [("2.12555E+09", "6 significant digits"),  # Excel's General format: 4 digits lost
     ("2.1E+09", "last 8 digit(s) are lost"),
     ("2,12555E+09", "6 significant digits"),
     ("2E+09", "scientific notation"),
     ("2.1255501E+09", "lost"),  # 2125550100 or a rounded 21255501xx: cannot be told
     ("2.1255501435E+09", "fraction")],
)
def test_scientific_notation_that_lost_digits_is_refused_not_zero_filled(
        raw: str, words: str) -> None:
    assert both(raw) is None  # never +12125550000
    found = refusal(raw)
    assert found is not None and words in found[0]
    with pytest.raises(InquiryError) as e:
        Inquiry.parse(raw, AT)
    assert e.value.field == "called"
    assert words in str(e.value) and "spreadsheet" in str(e.value)


@FAST
@given(nanp_number, st.booleans(), st.integers(0, 9))
def test_spreadsheet_forms_of_any_number(ten: str, trunk: bool, keep: int) -> None:
    digits = ("1" if trunk else "") + ten
    value = float(digits)
    assert both(repr(value)) == "+1" + ten  # "2125550143.0", Python's and pandas' float text
    exact = f"{value:.{len(digits) - 1}E}"  # every digit in the mantissa
    assert both(exact) == "+1" + ten
    assert both(exact.lower().replace("+", "")) == "+1" + ten
    # fewer digits in the mantissa: rounded (or not knowably exact), never a number
    rounded = f"{value:.{keep % (len(digits) - 1)}E}"
    assert both(rounded) is None
    assert refusal(rounded) is not None


def test_float_text_in_a_column_with_the_common_forms_stays_vectorised() -> None:
    raw = pl.Series("dst", ["3125550100", "2125550143.0", None, "2.12555E+09", "101",
                            "2.125550143E+09", "(312) 555-0100"])
    assert normalise(raw).to_list() == ["+13125550100", "+12125550143", None, None, None,
                                        "+12125550143", "+13125550100"]


def test_a_dot_elsewhere_is_still_a_separator() -> None:
    assert both("312.555.0100") == "+13125550100"
    assert both("312.555.0100.0") is None  # not a float's text: eleven digits
    assert both("+44 20 7946 0958.0") is None


# -- vanity numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["1-800-FLOWERS", "1-800-flowers", "800-FLOWERS", "1800FLOWERS", "+1 800 FLOWERS",
     "(800) FLOWERS", "1-800-FLOWERSS", "1-800-FLOWERS-NOW", "1 800 FLOWERS NOW",
     "+1-800-FLOWERS-NOW", "001 800 FLOWERS NOW", "011 1 800 FLOWERS NOW",
     "tel:+1-800-FLOWERS-NOW", "1-800-FLOWERS x5"],
)
def test_vanity_number_dials_the_first_ten_digits(raw: str) -> None:
    # ITU-T E.161 keypad; a NANP switch routes on 1 + ten digits and ignores the letters
    # keyed after them, as ads that print more letters than digits rely on.
    assert both(raw) == "+18003569377"
    assert Inquiry.parse(raw, AT).called_e164 == "+18003569377"


def test_surplus_letters_are_read_with_plus_1_in_any_region() -> None:
    assert both("+1 800 FLOWERS NOW", "GB") == "+18003569377"
    assert both("00 1 800 FLOWERS NOW", "GB") == "+18003569377"


@pytest.mark.parametrize(
    "raw",
    ["1-800-FLOWER",  # nine national digits: incomplete
     "1-800-FLOWERS1",  # a digit after the ten: not an ad's surplus letters
     "3125550100 NOW",  # a whole digit number, then words: no vanity
     "1-800-FLOWERS-NOW x5"],
)
def test_vanity_that_dials_no_number_is_refused_with_a_reason(raw: str) -> None:
    assert both(raw) is None
    with pytest.raises(InquiryError) as e:
        Inquiry.parse(raw, AT)
    assert e.value.field == "called" and "not a valid phone number" in str(e.value)
    if "x5" not in raw:
        assert "vanity" in str(e.value)


def test_surplus_letters_are_a_nanp_rule_only() -> None:
    # Outside NANP numbers have no fixed length to cut at: phonenumbers decides as before.
    assert both("+44 800 FLOWERS NOW") is None


@FAST
@given(nanp_number, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4),
       st.sampled_from(["", "1-", "+1 ", "1 ", "(", "011 1 "]), st.integers(0, 3))
def test_surplus_letters_never_change_the_dialled_ten(ten: str, extra: str, pre: str,
                                                      pick: int) -> None:
    keypad = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS",
              "8": "TUV", "9": "WXYZ"}
    assume(ten[-1] in keypad)  # surplus letters are read when the tenth digit is a letter
    word = ten[:6] + "".join(keypad[d][pick % len(keypad[d])] if d in keypad else d
                             for d in ten[6:])
    assume(sum(c.isalpha() for c in word) >= 3)  # phonenumbers reads letters from three on
    assert both(pre + word) == "+1" + ten
    assert both(pre + word + extra) == "+1" + ten
    assert both(pre + word + "-" + extra) == "+1" + ten
    assert both(pre + word + "1") is None  # a digit after the ten: no number


# -- local numbers without an area code --------------------------------------------------------


@pytest.mark.parametrize("raw", ["555-0143", "5550143", "555 0143", "555.0143", "tel:555-0143",
                                 "5550143.0"])
def test_seven_digit_local_number_has_no_e164_and_the_inquiry_asks_for_the_area_code(
        raw: str) -> None:
    assert both(raw) is None
    with pytest.raises(InquiryError) as e:
        Inquiry.parse(raw, AT)
    assert "no area code" in str(e.value) and e.value.hint is not None
    assert "area code" in e.value.hint


def test_local_number_outside_nanp_is_not_explained_as_missing_an_area_code() -> None:
    found = refusal("5550143", "GB")
    assert found is None or "area code" not in found[0]


def test_local_number_in_cdrs_keeps_its_raw_value(tmp_path: Path) -> None:
    from tracehop.ingest.run import parse_file

    forms = {"555-0143": None, "2125550143.0": "+12125550143", "2.12555E+09": None,
             "2.125550143E+09": "+12125550143", "1-800-FLOWERS-NOW": "+18003569377",
             "212-555-0143 x123": "+12125550143", "tel:+12125550143;ext=1": "+12125550143"}
    rows = [f'"","2025550111","{dst}","from-trunk","","SIP/acme-0001","","Dial","",'
            f'"2026-03-07 12:0{k}:00","2026-03-07 12:0{k}:00","2026-03-07 12:0{k}:01",1,1,'
            f'"ANSWERED","DOCUMENTATION","{1772902800 + 60 * k}.{k}",""'
            for k, dst in enumerate(forms)]
    f = tmp_path / "Master.csv"
    f.write_text("\n".join(rows) + "\n")
    res = parse_file(f, "asterisk_cdr_csv", "America/New_York")
    assert res.rejects.num_rows == 0
    got = {r["called_raw"]: r["called_e164"] for r in res.legs.to_pylist()}
    assert got == forms


# -- extensions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["212-555-0143 x123", "212-555-0143x123", "212-555-0143 ext. 123", "2125550143;ext=123",
     "tel:+12125550143;ext=1", "sip:+12125550143;ext=1@host", "+1 212 555 0143 ext 9"],
)
def test_an_extension_is_not_part_of_the_e164_number(raw: str) -> None:
    assert both(raw) == "+12125550143"
    assert Inquiry.parse(raw, AT).called_e164 == "+12125550143"


def test_dtmf_after_hash_is_no_extension_and_stays_null() -> None:
    # "#" makes a value a feature code / DTMF string (test_numbers): consistently refused.
    assert both("+1 212 555 0143 #123") is None


# -- an inquiry file (tracehop respond) --------------------------------------------------------


def test_inquiry_file_rows_get_the_number_or_a_reason_with_the_fix(tmp_path: Path) -> None:
    from tracehop.respond.inquiries import read_inquiries

    f = tmp_path / "inquiries.csv"
    f.write_text("id,called,time\n"
                 f"A,2.12555E+09,{AT}\nB,555-0143,{AT}\nC,1-800-FLOWERS-NOW,{AT}\n"
                 f"D,2125550143.0,{AT}\nE,212-555-0143 x123,{AT}\nF,2.125550143E+09,{AT}\n")
    rows = read_inquiries(f).rows
    got = {r.raw["id"]: r.inquiry.called_e164 for r in rows if r.inquiry is not None}
    assert got == {"C": "+18003569377", "D": "+12125550143", "E": "+12125550143",
                   "F": "+12125550143"}
    errors = {r.raw["id"]: r.error for r in rows if r.error is not None}
    assert errors["A"].field == "called" and "last 4 digit(s) are lost" in errors["A"].reason
    assert errors["A"].hint is not None and "Text" in errors["A"].hint
    assert "no area code" in errors["B"].reason
    assert errors["B"].hint is not None and "area code" in errors["B"].hint
