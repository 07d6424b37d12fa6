"""E.164 normalisation: the formats switches write, the fast path against phonenumbers."""

from __future__ import annotations

import phonenumbers
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracehop import numbers
from tracehop.errors import ConfigError
from tracehop.numbers import normalise, normalise_expr, normalise_one

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- concrete forms ------------------------------------------------------------------------

NANP_FORMS = [
    "3125550100",
    "13125550100",
    "+13125550100",
    "(312) 555-0100",
    "312.555.0100",
    "312-555-0100",
    "1-312-555-0100",
    "1 (312) 555-0100",
    "+1 312 555 0100",
    "+1 (312) 555-0100",
    "0013125550100",
    "01113125550100",
    "  3125550100\t",
    "312\xa0555\xa00100",
    "tel:+13125550100",
    "tel:+1-312-555-0100;phone-context=example.com",
    "TEL:+13125550100",
    "sip:+13125550100@198.51.100.7;user=phone",
    "sip:13125550100@pbx.example:5060",
    "sips:+13125550100@host",
    "sip:+13125550100;npdi;rn=+13125559999@host;user=phone",
    '"Jane Doe" <sip:+13125550100@host;user=phone>',
    '"Jane" <+13125550100>',
    "Jane <tel:+13125550100>",
    "<sip:3125550100@10.0.0.1>;tag=abc",
    "+1 312 555 0100 ext. 22",  # phonenumbers: the extension is not part of E.164
]


@pytest.mark.parametrize("raw", NANP_FORMS)
def test_nanp_forms_normalise_to_one_e164(raw: str) -> None:
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw])).to_list() == ["+13125550100"]


NOT_NUMBERS = [
    "101",  # an extension
    "s",  # Asterisk's start extension
    "anonymous",
    "Anonymous",
    "Restricted",
    "unknown",
    "Q1000",
    "*72",  # feature code
    "#31#",  # the GSM caller-ID code with no number after it
    "#31#101",  # ... before an extension
    "#31#*72",  # ... before another feature code
    "5550100",  # seven digits: no area code
    "0125550100",  # area code cannot start with 0
    "3120550100",  # exchange cannot start with 0
    "2125550100555",  # too long for NANP
    "+10125550100",  # +1 but not a NANP shape
    "+999123456",  # unassigned country code
    "+",
    "00",
    "",
    "   ",
    "sip:alice@example.com",
    "sip:1001@pbx",
    '"Reception" <sip:200@pbx>',
]


@pytest.mark.parametrize("raw", NOT_NUMBERS)
def test_values_that_are_not_phone_numbers_are_null(raw: str) -> None:
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw], dtype=pl.String)).to_list() == [None]


@pytest.mark.parametrize("dtype", [pl.Int64, pl.Categorical, pl.String])
def test_columns_read_as_integers_or_categories(dtype: pl.DataType) -> None:
    # A CSV reader infers Int64 for an all-digit src column; dictionary columns arrive as
    # Categorical. Both normalise like strings.
    raw = pl.Series("src", ["3125550100", None, "101"]).cast(dtype)
    assert normalise(raw).to_list() == ["+13125550100", None, None]


def test_a_floating_point_column_is_read_by_its_whole_values() -> None:
    # A reader, or a dataframe with gaps, types a number column as Float64 (or Decimal): its
    # text "3125550100.0" was null for every row. A whole value is the number; a fraction,
    # NaN or infinity is none; Float32 cannot hold ten digits exactly and stays unread.
    raw = pl.Series("dst", [3125550100.0, None, 13125550100.0, 3125550100.5, float("nan"),
                            float("inf"), 442079460958.0])
    assert normalise(raw).to_list() == ["+13125550100", None, "+13125550100", None, None,
                                        None, None]
    assert normalise(raw).name == "dst"
    dec = pl.Series([3125550100, None], dtype=pl.Decimal(20, 2))
    assert normalise(dec).to_list() == ["+13125550100", None]
    assert normalise(pl.Series([3125550100.0], dtype=pl.Float32)).to_list() == [None]


def test_empty_and_all_null_columns() -> None:
    assert normalise(pl.Series("x", [], dtype=pl.String)).to_list() == []
    out = normalise(pl.Series("x", [None, None]))
    assert out.dtype == pl.String
    assert out.to_list() == [None, None]


def test_null_stays_null_and_name_is_kept() -> None:
    s = pl.Series("called_raw", [None, "3125550100", None], dtype=pl.String)
    out = normalise(s)
    assert out.name == "called_raw"
    assert out.dtype == pl.String
    assert out.to_list() == [None, "+13125550100", None]
    assert normalise_one(None) is None


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("030 1234567", "DE", "+49301234567"),
        ("+49 30 1234567", "GB", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("+7 8 495 123 4567", "US", "+74951234567"),  # phonenumbers drops the trunk prefix 8
        ("+33 1 23 45 67 89", "US", "+33123456789"),
        ("3125550100", "CA", "+13125550100"),  # every NANP region uses the NANP rule
        ("+1 312 555 0100", "GB", "+13125550100"),
        ("1-800-FLOWERS", "US", "+18003569377"),  # vanity letters, via phonenumbers
    ],
)
def test_other_regions_and_international_forms(raw: str, region: str, expected: str) -> None:
    assert normalise_one(raw, region) == expected
    assert normalise(pl.Series([raw]), region).to_list() == [expected]


def test_national_form_outside_nanp_must_be_valid() -> None:
    # "04 0000 0000" has a possible length for GB but no assigned range (+44 4 is unused): a
    # national form needs a valid number, because the country was guessed from the region.
    assert normalise_one("04 0000 0000", "GB") is None
    assert normalise(pl.Series(["04 0000 0000"]), "GB").to_list() == [None]
    # An explicit +44 with the same digits only has to be possible.
    assert normalise_one("+44 4000 0000 0", "US") == "+44400000000"


def test_lowercase_region_is_accepted_and_unknown_region_raises() -> None:
    assert normalise_one("020 7946 0958", "gb") == "+442079460958"
    with pytest.raises(ConfigError, match="unknown region 'XX'"):
        normalise(pl.Series(["3125550100"]), "XX")
    with pytest.raises(ConfigError):
        normalise_one("3125550100", "XX")


def test_phonenumbers_is_called_once_per_distinct_value(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_parse = phonenumbers.parse

    def counting_parse(text: str, *args: object, **kwargs: object) -> object:
        calls.append(text)
        return real_parse(text, *args, **kwargs)

    monkeypatch.setattr(numbers.phonenumbers, "parse", counting_parse)
    numbers._slow.cache_clear()
    # Two spellings of one London number share the canonical key "+4402079460959".
    odd = ["+44 (0)20 7946 0959", "0044 (0)20-7946-0959", "1-800-FLOWERX", "Q2000"]
    series = pl.Series(odd * 1000 + ["3125550100", "(312) 555-0100"] * 1000)
    out = normalise(series)
    assert sorted(calls) == ["+4402079460959", "1-800-FLOWERX", "Q2000"]  # for 6,000 rows
    assert out.len() == 6000
    assert out.to_list()[:4] == ["+442079460959", "+442079460959", "+18003569379", None]
    assert out.null_count() == 1000  # Q2000
    normalise(series)  # a second batch (the next file of an ingest) hits the cache
    assert len(calls) == 3
    numbers._slow.cache_clear()


def test_normalise_expr_matches_normalise_in_a_lazy_frame() -> None:
    raw = ["(312) 555-0100", "+44 (0)20 7946 0958", None, "s", "020 7946 0958"]
    lf = pl.LazyFrame({"calling_raw": raw})
    got = lf.select(normalise_expr(pl.col("calling_raw"), "GB")).collect()
    assert got.columns == ["calling_raw"]
    assert got.get_column("calling_raw").to_list() == normalise(pl.Series(raw), "GB").to_list()
    assert got.get_column("calling_raw").to_list()[0] is None  # NANP national form in GB


# -- properties ----------------------------------------------------------------------------

npa = st.integers(2, 9).map(str).flatmap(
    lambda a: st.text("0123456789", min_size=2, max_size=2).map(lambda b: a + b)
)
nxx = npa  # same shape: first digit 2-9
line = st.text("0123456789", min_size=4, max_size=4)


@st.composite
def nanp_number(draw: st.DrawFn) -> tuple[str, str, str]:
    return draw(npa), draw(nxx), draw(line)


def variants(a: str, b: str, c: str) -> list[str]:
    return [
        f"{a}{b}{c}",
        f"({a}) {b}-{c}",
        f"{a}.{b}.{c}",
        f"1-{a}-{b}-{c}",
        f"+1 {a} {b} {c}",
        f"001{a}{b}{c}",
        f"011 1 {a} {b} {c}",
        f"tel:+1{a}{b}{c};phone-context=x",
        f"sip:+1{a}{b}{c}@host;user=phone",
        f'"Caller" <sip:1{a}{b}{c}@10.1.2.3:5060>',
        f"*67 ({a}) {b}-{c}",  # caller ID hidden for this call: still the call to the number
        f"1010288 1 {a} {b} {c}",  # a dial-around carrier access code before 1 + the number
        f"#31#{a}{b}{c}",  # GSM caller ID hidden for this call (3GPP TS 22.081)
        f"sip:%2331%23{a}{b}{c}%23@mss.example",  # the same, "#" escaped (RFC 3261 §25.1)
        f"+011 1 {a} {b} {c}",  # "+" before the IDD (no country code starts with 0)
    ]


@FAST
@given(nanp_number())
def test_every_formatting_variant_gives_the_same_e164(num: tuple[str, str, str]) -> None:
    a, b, c = num
    expected = f"+1{a}{b}{c}"
    forms = variants(a, b, c)
    assert normalise(pl.Series(forms)).to_list() == [expected] * len(forms)
    assert {normalise_one(f) for f in forms} == {expected}


phone_ish = st.text(
    alphabet=st.sampled_from(
        list("0123456789+-.() /*#@;:<>\"'abcsiptelxAQ\t\xa0_,")
        + list("３＋\u2009%B\u202a\ufeff")  # full-width, Unicode space, %2B, invisible marks
        + list("=`\u201c\u2019")  # a spreadsheet's "=", other quotes
    ),
    max_size=30,
)
any_text = st.one_of(phone_ish, st.text(max_size=25), st.none())


@FAST
@given(
    st.lists(st.one_of(any_text, st.deferred(lambda: number_like())), max_size=30),
    st.sampled_from(["US", "GB", "DE", "AU"]),
)
def test_vectorised_equals_one_by_one(values: list[str | None], region: str) -> None:
    got = normalise(pl.Series(values, dtype=pl.String), region).to_list()
    assert got == [normalise_one(v, region) for v in values]


country_codes = st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE))


@st.composite
def number_like(draw: st.DrawFn) -> str | None:
    """Mostly things that normalise to a number, in all the forms the fast and slow paths see."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.sampled_from(variants(*draw(nanp_number()))))
    if kind == 1:
        cc = draw(country_codes)
        rest = draw(st.text("0123456789", min_size=4, max_size=13))
        sep = draw(st.sampled_from(["", " ", "-", " (0)"]))
        return draw(st.sampled_from(["+", "00", "+00", "+011 "])) + str(cc) + sep + rest
    if kind == 2:
        return "0" + draw(st.text("0123456789", min_size=6, max_size=11))  # national, trunk 0
    if kind == 3 and draw(st.booleans()):  # an RFC 3966 local number in a global context
        local = draw(st.text("0123456789-", min_size=1, max_size=12))
        context = "+" + str(draw(country_codes)) + draw(st.text("0123456789", max_size=3))
        form = draw(st.sampled_from(["tel:{};phone-context={}", "sip:{};phone-context={}@h"]))
        return form.format(local, context)
    if kind == 5:  # a spreadsheet's float text, or vanity letters (test_numbers_spreadsheet)
        digits = draw(st.text("0123456789", min_size=1, max_size=13))
        mantissa = digits[0] + "." + digits[1:]
        return draw(st.sampled_from([
            digits + ".0", "+" + digits + ".00",
            mantissa + "E+" + draw(st.sampled_from(["0", "09", "9", str(len(digits) - 1)])),
            mantissa + "e" + str(len(digits) - 1),
            digits[:draw(st.integers(0, 12))] + draw(st.text("ABCDEFGHIJKLMNOPWXYZ-xst ",
                                                             max_size=8)),
        ]))
    return draw(any_text)


@settings(max_examples=150, deadline=None)
@given(st.lists(number_like(), min_size=1, max_size=25), st.sampled_from(["US", "GB", "DE"]))
def test_normalising_a_result_gives_itself(values: list[str | None], region: str) -> None:
    first = normalise(pl.Series(values, dtype=pl.String), region).to_list()
    assert first == [normalise_one(v, region) for v in values]
    results = [f for f in first if f is not None]
    assert normalise(pl.Series(results, dtype=pl.String), region).to_list() == results
    for e164 in results:
        assert normalise_one(e164, region) == e164
        # An E.164 result means the same number whatever the default region.
        assert normalise_one(e164, "US") == e164


def _possible_lengths(cc: int) -> list[int]:
    region = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc][0]
    md = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    return [n for n in md.general_desc.possible_length if n > 0] or [8]


@st.composite
def international(draw: st.DrawFn) -> str:
    cc = draw(country_codes.filter(lambda c: c != 1))
    length = draw(st.sampled_from(_possible_lengths(cc)))
    return str(cc) + draw(st.text("0123456789", min_size=length, max_size=length))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(international())
def test_fast_path_agrees_with_phonenumbers_where_it_decides(intl: str) -> None:
    """Where the length table accepts "+CC...", phonenumbers finds the same possible number."""
    _, shape, lengths = numbers._compiled(numbers._plan("US"))
    assume(shape.fullmatch(intl) is not None and lengths.fullmatch(intl) is not None)
    parsed = phonenumbers.parse("+" + intl, None)
    assert phonenumbers.is_possible_number_with_reason(parsed) == (
        phonenumbers.ValidationResult.IS_POSSIBLE
    )
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert e164 == "+" + intl
    assert normalise_one("+" + intl) == e164


def test_repeated_values_take_the_distinct_path_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long column with many repeats (a campaign's callers) is normalised once per distinct
    # value and mapped back: the result must be row for row what the value path gives.
    forms = [*NANP_FORMS, "101", "s", "anonymous", "*72", None, "+44 20 7946 0958", "4420794609"]
    column = pl.Series("calling", [forms[i % len(forms)] for i in range(60_000)])
    seen: list[int] = []
    real = numbers._normalise

    def spy(raw: pl.Series, plan: numbers._Plan) -> pl.Series:
        seen.append(raw.len())
        return real(raw, plan)

    monkeypatch.setattr(numbers, "_normalise", spy)
    out = normalise(column)
    assert seen == [len({f for f in forms if f is not None})]  # distinct values only
    expected = [normalise_one(v) for v in column.to_list()]
    assert out.to_list() == expected
    assert out.name == "calling"


# -- end-of-dialling "#" ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["3125550100#", "13125550100#", "+13125550100#", "+1 312 555 0100#", "3125550100 #"]
)
def test_trailing_end_of_dialling_hash_keeps_the_number(raw: str) -> None:
    # A TDM gateway writes the ISUP ST ("end of pulsing") digit as a trailing "#", and a
    # handset's "send" key lands there too: the number dialled is still the digits before it.
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


@pytest.mark.parametrize("raw", ["*21*3125550100#", "#21#", "3125550100##", "#31#3125550100##"])
def test_feature_codes_ending_in_hash_stay_null(raw: str) -> None:
    # GSM MMI codes end in "#" too ("*21*<number>#" turns call forwarding on): with any other
    # "*" or "#" the value is still a feature code, not a call to that number.
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw])).to_list() == [None]


@FAST
@given(nanp_number())
def test_trailing_hash_is_the_number_in_every_form(num: tuple[str, str, str]) -> None:
    forms = [f + "#" for f in variants(*num) if not f.startswith(("tel:", "sip:", '"'))]
    expected = "+1" + "".join(num)
    assert normalise(pl.Series(forms)).to_list() == [expected] * len(forms)
    assert {normalise_one(f) for f in forms} == {expected}


# -- text pasted from documents and chats ------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "３１２５５５０１００",  # full-width digits (an East Asian input method, a PDF)
        "＋１ ３１２ ５５５ ０１００",
        "００１ ３１２ ５５５ ０１００",  # and the "00" prefix as for ASCII digits
        "+1\u2009312\u2009555\u20090100",  # thin spaces, as typeset pages group digits
        "+1\u202f312\u202f555\u202f0100",  # narrow no-break spaces
        "312\u2007555\u20070100",  # figure spaces
    ],
)
def test_full_width_digits_and_unicode_spaces_read_as_ascii(raw: str) -> None:
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


def test_full_width_international_number_equals_its_ascii_form() -> None:
    raw = "０１１ ４４ ２０ ７９４６ ０９５８"
    assert normalise_one(raw) == normalise_one("011 44 20 7946 0958") == "+442079460958"
    assert normalise(pl.Series([raw])).to_list() == ["+442079460958"]


@pytest.mark.parametrize(
    "raw",
    [
        "sip:%2B13125550100@198.51.100.7;user=phone",
        "<sip:%2b13125550100@host>;tag=1",
        '"Caller" <sip:%2B1-312-555-0100@host>',
    ],
)
def test_percent_escaped_plus_in_a_sip_user_part(raw: str) -> None:
    # RFC 3261 §19.1.2/§19.1.4: a user part may carry a character escaped, and the escaped and
    # plain forms are the same URI; some stacks send the "+" of an E.164 user as %2B.
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


@pytest.mark.parametrize(
    "raw",
    ["sip:3125550100%23@198.51.100.7;user=phone", "<sip:%2331%233125550100@mss.example>",
     "sip:%2A67%2B13125550100@pbx", "sip:%2a82%2b1-312-555-0100@pbx", "tel:3125550100%23"],
)
def test_percent_escaped_hash_and_star_in_a_sip_user_part(raw: str) -> None:
    # RFC 3261 §25.1: "#" is not allowed unescaped in a user part, so a conforming stack sends
    # an end-of-dialling "#" or the "#31#" caller-ID code as %23 (§19.1.4: the same URI as the
    # plain form, which was read while the escaped one was null).
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


@pytest.mark.parametrize("raw", ["sip:%23%2331%233125550100@h", "sip:3125550100%23%23@h",
                                 "sip:%2A72%2B13125550100@pbx"])
def test_escaped_feature_codes_stay_null(raw: str) -> None:
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw])).to_list() == [None]


# -- per-call caller-ID privacy codes ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["*673125550100", "*67 (312) 555-0100", "*6713125550100", "*67+13125550100",
     "*82 1-312-555-0100", "sip:*673125550100@pbx"],
)
def test_nanp_caller_id_privacy_prefix_keeps_the_called_number(raw: str) -> None:
    # *67 (hide) and *82 (show) are NANP vertical service codes that only set the caller ID's
    # presentation of this call: a PBX that records the digits dialled writes them before the
    # number, and the call went to that number. A traceback names it; null lost the leg.
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


@pytest.mark.parametrize("raw", ["*67", "*67101", "*67*72", "*72 3125550100", "*673125550100*"])
def test_other_feature_codes_after_or_instead_of_privacy_codes_stay_null(raw: str) -> None:
    # "*72 <number>" turns call forwarding on (a feature code with a number argument).
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw])).to_list() == [None]


@pytest.mark.parametrize(
    "raw",
    ["#31#3125550100", "#31# (312) 555-0100", "#31#13125550100", "#31#+1 312 555 0100",
     "*31#3125550100", "#31#3125550100#", "sip:#31#3125550100@mss.example;user=phone",
     "*67#31#3125550100", "#31#*67 312-555-0100", "#31# 1010288 1 312 555 0100",
     "#31#1-312-555-0100 ext. 9", "#31#1-312-555-CALL"],
)
def test_gsm_per_call_clir_prefix_keeps_the_called_number(raw: str) -> None:
    # 3GPP TS 22.081 clause 2 (temporary mode), TS 22.030 Annex B: "#31#<number>" hides the
    # caller ID for this call ("*31#<number>" shows it), as *67 / *82 do in NANP: a mobile
    # core or a PBX that records the digits dialled writes the code before the number, and the
    # call went to that number. It was null, so the leg was lost. The last two reach
    # phonenumbers.
    expected = "+13125550100" if not raw.endswith("CALL") else "+13125552255"
    assert normalise_one(raw) == expected
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == [expected, "+13125550100"]


def test_gsm_clir_prefix_is_read_in_every_region() -> None:
    # A handset code, not a numbering plan's: the national form after it is read in the
    # region's plan (on the fast path and through phonenumbers alike).
    for raw in ["#31#020 7946 0958", "*31#+44 20 7946 0958", "#31#00442079460958"]:
        assert normalise_one(raw, "GB") == "+442079460958"
        assert normalise(pl.Series([raw]), "GB").to_list() == ["+442079460958"]
    assert normalise_one("#31#+44 (0)20 7946 0958", "DE") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+011 44 20 7946 0958", "US", "+442079460958"),
        ("+0044 20 7946 0958", "US", "+442079460958"),
        ("+001 312 555 0100", "US", "+13125550100"),
        ("tel:+011442079460958", "US", "+442079460958"),
        ("+011 44 20 7946 0958 ext. 4", "US", "+442079460958"),  # through phonenumbers
        ("+00 44 (0)20 7946 0958 x5", "US", "+442079460958"),
        ("+0044 20 7946 0958", "DE", "+442079460958"),  # "00" is Germany's IDD too
        ("+0049 30 1234567 x1", "GB", "+49301234567"),
        ("+011 44 20 7946 0958", "GB", None),  # "011" is no IDD in the UK
        ("+0011 44 20 7946 0958", "US", None),  # 00 then 11: no country code 11
        ("+0 312 555 0100", "US", None),
        ("+03125550100", "US", None),
    ],
)
def test_plus_before_the_international_prefix(raw: str, region: str,
                                              expected: str | None) -> None:
    # A pipeline that puts "+" before every number given in international form writes
    # "+011 44 ..." ("+00 44 ..."); ITU-T E.164 assigns no country code starting with 0, so the
    # digits after the "+" can only be the IDD and the number after it. It was null.
    assert normalise_one(raw, region) == expected
    assert normalise(pl.Series([raw]), region).to_list() == [expected]


QUOTINGS = ['"{}"', "'{}", "'{}'", '="{}"', "={}", '""{}""', "`{}`", "\u201c{}\u201d",
            "\u2018{}\u2019", " ' {} ' "]


@FAST
@given(nanp_number(), st.sampled_from(QUOTINGS))
def test_a_quoted_value_is_the_number_on_the_fast_path(num: tuple[str, str, str],
                                                       quoting: str) -> None:
    # A CSV written for a spreadsheet quotes numbers ("'3125550100", '="3125550100"': Excel's
    # text form); a broken writer quotes them twice. They were read right, but each distinct
    # value by phonenumbers (~30x slower on a column of distinct numbers): the quotes are
    # trimmed first now, and the value takes the fast path with the same result.
    forms = [quoting.format(f) for f in variants(*num)]
    expected = "+1" + "".join(num)
    numbers._slow.cache_clear()
    assert normalise(pl.Series(forms)).to_list() == [expected] * len(forms)
    assert numbers._slow.cache_info().misses == 0
    assert {normalise_one(f) for f in forms} == {expected}


@pytest.mark.parametrize(("raw", "expected"), [
    ('"Anonymous"', None), ("'101'", None), ('""', None), ("=", None),
    ('"3125550100" <sip:anonymous@anonymous.invalid>', None),  # the display name is no number
    ("'*67 312-555-0100'", "+13125550100"), ('"+44 (0)20 7946 0958"', "+442079460958"),
])
def test_quotes_do_not_make_a_number_of_what_is_none(raw: str, expected: str | None) -> None:
    assert normalise_one(raw) == expected
    assert normalise(pl.Series([raw])).to_list() == [expected]


def test_privacy_prefix_is_nanp_only() -> None:
    # *67 / *82 are NANP codes; elsewhere a value with "*" stays a feature code.
    assert normalise_one("*67 020 7946 0958", "GB") is None
    assert normalise(pl.Series(["*67 020 7946 0958"]), "GB").to_list() == [None]
    assert normalise_one("*67 3125550100", "CA") == "+13125550100"


# -- NANP numbers that reach phonenumbers --------------------------------------------------------


@FAST
@given(nanp_number(), st.sampled_from([" x12", " ext. 7", ";ext=99", " ext 5"]))
def test_nanp_national_form_with_an_extension_is_the_number_by_structure(
    num: tuple[str, str, str], ext: str
) -> None:
    # The extension sends the value to phonenumbers; a NANP number is still accepted by its
    # structure there, not by phonenumbers' list of assigned ranges (decisions.md): a caller ID
    # in an unassigned area code was null with an extension and a number without one.
    a, b, c = num
    forms = [f"{a}{b}{c}{ext}", f"({a}) {b}-{c}{ext}", f"1-{a}-{b}-{c}{ext}",
             f"+1 {a} {b} {c}{ext}"]
    expected = normalise_one(f"{a}{b}{c}")
    assert expected == f"+1{a}{b}{c}"
    assert normalise(pl.Series(forms)).to_list() == [expected] * len(forms)
    assert {normalise_one(f) for f in forms} == {expected}


def test_nanp_unassigned_area_code_with_extension_or_vanity_letters() -> None:
    for raw, expected in [("(242) 555-0100 ext. 5", "+12425550100"),
                          ("1-976-555-0100 ext 9", "+19765550100"),
                          ("5555550100 x12", "+15555550100")]:
        assert normalise_one(raw) == expected
        assert normalise(pl.Series([raw])).to_list() == [expected]
    # national vanity letters: the same number as its +1 form
    assert normalise_one("555-555-CALL") == normalise_one("+1 555 555 CALL") == "+15555552255"
    assert normalise(pl.Series(["555-555-CALL"])).to_list() == ["+15555552255"]


# -- RFC 3966 local numbers with a global phone-context ------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tel:5550100;phone-context=+1312", "+13125550100"),
        ("tel:555-0100;phone-context=+1-312", "+13125550100"),
        ("sip:5550100;phone-context=+1312@ims.example;user=phone", "+13125550100"),
        ("tel:3125550100;phone-context=+1", "+13125550100"),
        # a national number of another country: not the US number its digits look like
        ("tel:2079460958;phone-context=+44", "+442079460958"),
        ("<sip:02079460958;Phone-Context=+44@ims.example;user=phone>", "+442079460958"),
        # a global number keeps its own digits; a domain context adds none
        ("tel:+13125550100;phone-context=+44", "+13125550100"),
        ("sip:3125550100;phone-context=ims.mnc260.mcc310.3gppnetwork.org@h", "+13125550100"),
    ],
)
def test_phone_context_digits_are_the_prefix_of_a_local_number(raw: str, expected: str) -> None:
    # RFC 3966 §5.1.5: a local number's phone-context that starts with "+" is the global
    # number's prefix (IMS writes national forms so). Read without it, "2079460958" in
    # context +44 became +12079460958, a real-looking US number.
    assert normalise_one(raw) == expected
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == [expected, "+13125550100"]


@pytest.mark.parametrize(
    "mark", ["\u202a", "\u202c", "\u200e", "\u2066", "\u200b", "\ufeff", "\xad"]
)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0013125550100", "+13125550100"), ("00442079460958", "+442079460958"),
     ("3125550100", "+13125550100"), ("*72", None)],
)
def test_invisible_format_marks_do_not_change_the_number(
    mark: str, raw: str, expected: str | None
) -> None:
    # Copying a number from a chat, an e-mail or a web portal brings bidi marks, zero-width
    # spaces, a BOM or a soft hyphen along. They sent "0013125550100" to phonenumbers, which
    # does not read "00" as a prefix in the US: null instead of the number.
    for form in (mark + raw, raw + mark, raw[:2] + mark + raw[2:]):
        assert normalise_one(form) == expected
        assert normalise(pl.Series([form, "3125550100"])).to_list() == [expected, "+13125550100"]


@pytest.mark.parametrize("dash", ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "－"])
def test_typographic_dashes_are_separators_with_an_idd_prefix(dash: str) -> None:
    # An editor's autocorrect or a typeset page puts these where "-" was typed. The value went
    # to phonenumbers, which does not read "00" as a prefix in the US: null, not the number.
    for raw, expected in [(f"001{dash}312{dash}555{dash}0100", "+13125550100"),
                          (f"00{dash}44{dash}20{dash}7946{dash}0958", "+442079460958"),
                          (f"（312）555{dash}0100", "+13125550100")]:
        assert normalise_one(raw) == expected
        assert normalise(pl.Series([raw])).to_list() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("101028813125550100", "+13125550100"),
        ("1010288 1 312 555 0100", "+13125550100"),
        ("1010321-1-(312)-555-0100", "+13125550100"),
        ("1010288011442079460958", "+442079460958"),
        ("*67 1010288 1 312 555 0100", "+13125550100"),
    ],
)
def test_nanp_dial_around_carrier_prefix_keeps_the_number(raw: str, expected: str) -> None:
    # 101XXXX selects the long-distance carrier for this call (a carrier access code); an end
    # office that records the digits dialled writes it before 1 + the number or 011 + the
    # international one. No NANP national number starts with 1, so it cannot be misread.
    assert normalise_one(raw) == expected
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == [expected, "+13125550100"]


@pytest.mark.parametrize("raw", ["1010288", "10102883125550100", "10102880 312 555 0100"])
def test_dial_around_prefix_without_1_or_011_stays_null(raw: str) -> None:
    # without the 1 / 011 that must follow it the digits are no number we can read safely
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw])).to_list() == [None]


@pytest.mark.parametrize(
    "raw",
    ["+113125550100", "+1 1 312 555 0100", "+1 (1) 312-555-0100", "011 1 1 312 555 0100",
     "tel:13125550100;phone-context=+1", "sip:+113125550100@host;user=phone"],
)
def test_nanp_trunk_1_after_plus_1_is_dropped(raw: str) -> None:
    # "+1" put before a number already written 1 + ten digits (a pipeline that prefixes every
    # number), or NANP's trunk "1" inside a +1 context: no area code starts with 1, so the only
    # reading is the number after it, which is what phonenumbers gives (as it drops the "0" of
    # "+44 (0)20"). It was null.
    assert normalise_one(raw) == "+13125550100"
    assert normalise(pl.Series([raw, "3125550100"])).to_list() == ["+13125550100"] * 2


@pytest.mark.parametrize("raw", ["+10125550100", "+1113125550100", "+11312555010", "+111"])
def test_plus_1_that_is_no_nanp_number_stays_null(raw: str) -> None:
    assert normalise_one(raw) is None
    assert normalise(pl.Series([raw])).to_list() == [None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0013125550100 x12", "+13125550100"),
        ("00 44 20 7946 0958 ext 5", "+442079460958"),
        ("001-800-FLOWERS", "+18003569377"),
        ("'0013125550100", "+13125550100"),
        ("Tel 0044 20 7946 0958", "+442079460958"),
    ],
)
def test_00_prefix_is_international_in_nanp_regions_also_through_phonenumbers(
    raw: str, expected: str
) -> None:
    # decisions.md: "00" is an international prefix in NANP regions too. A value with an
    # extension or letters goes to phonenumbers, whose US IDD is only 011: it was null there,
    # while the same number without the extension was read.
    assert normalise_one(raw) == expected
    assert normalise(pl.Series([raw])).to_list() == [expected]


@FAST
@given(nanp_number(), st.sampled_from([" x12", " ext. 7", ";ext=99"]))
def test_00_and_011_forms_with_an_extension_agree(num: tuple[str, str, str], ext: str) -> None:
    a, b, c = num
    forms = [f"001 {a} {b} {c}{ext}", f"011 1 {a} {b} {c}{ext}", f"+1 {a} {b} {c}{ext}"]
    assert {normalise_one(f) for f in forms} == {f"+1{a}{b}{c}"}
    assert normalise(pl.Series(forms)).to_list() == [f"+1{a}{b}{c}"] * 3


# -- the fast path's international verdict is phonenumbers' verdict --------------------------------


@st.composite
def near_possible(draw: st.DrawFn) -> str:
    """+CC and a national part of a length the country uses, or one digit more or less."""
    cc = draw(country_codes)
    n = max(1, draw(st.sampled_from(_possible_lengths(cc))) + draw(st.sampled_from([-1, 0, 1])))
    return f"+{cc}" + draw(st.text("0123456789", min_size=n, max_size=n))


@settings(max_examples=600, deadline=None)
@given(near_possible(), st.sampled_from(["US", "GB"]))
def test_fast_international_verdict_equals_the_phonenumbers_path(value: str, region: str) -> None:
    # Whatever the fast path decides for "+<digits>" is what the phonenumbers path (_slow)
    # decides for the same text: E.164's 7 to 15 digits included. "+598" + 13 digits was
    # accepted by the length table as a 16-digit "E.164" (and the matcher then refused it).
    numbers._slow.cache_clear()
    assert normalise_one(value, region) == numbers._slow(value, region)
    assert normalise(pl.Series([value]), region).to_list() == [numbers._slow(value, region)]


def test_results_never_exceed_e164_length() -> None:
    for raw in ["+5987308069788875", "00 598 7308069788875", "+2342492661021181", "+498998"]:
        assert normalise_one(raw) is None
        assert normalise(pl.Series([raw])).to_list() == [None]
