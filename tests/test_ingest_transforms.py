"""The named transform that replaces the Asterisk profiles' channel regex must give exactly
what the regex gave, on any text (it exists only because it is cheaper on millions of rows)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.ingest.transforms import TRANSFORMS

REGEX = r"^(?:SIP|PJSIP|IAX2|DAHDI|Motif)/(.+?)-[0-9a-f]+$"


def _oracle(c: pl.Expr) -> pl.Expr:
    # The regex's group, up to its first "/" (DAHDI/i1/<number>-<seq>: the span, i1).
    return c.str.extract(REGEX, 1).str.split("/").list.first()
PIECES = st.sampled_from(["SIP/", "PJSIP/", "IAX2/", "DAHDI/", "Motif/", "Local/", "sip/", "-",
                          "/", "0", "a", "f", "A", "g", "carrier", "é", "\n", ";1", "@", " "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=8).map("".join) | st.none(), min_size=1,
                max_size=20))
def test_asterisk_channel_peer_equals_the_regex(values: list[str | None]) -> None:
    frame = pl.DataFrame({"c": values}, schema={"c": pl.String})
    got = frame.select(TRANSFORMS["asterisk_channel_peer"](pl.col("c"))).to_series()
    want = frame.select(_oracle(pl.col("c"))).to_series()
    assert got.to_list() == want.to_list()


def test_asterisk_channel_peer_examples() -> None:
    frame = pl.DataFrame({"c": ["SIP/carrier-b-0000002a", "PJSIP/acme_in-0000000f",
                                "DAHDI/1-1", "Local/100@from-internal-0000;1", None]})
    got = frame.select(TRANSFORMS["asterisk_channel_peer"](pl.col("c"))).to_series().to_list()
    assert got == ["carrier-b", "acme_in", "1", None, None]


def test_dahdi_isdn_channel_names_its_span_not_the_caller() -> None:
    # chan_dahdi names an ISDN call DAHDI/i<span>/<caller's number>-<seq>: the trunk is the
    # span. It used to be "i1/2025550111", a trunk per caller that no peer entry could name.
    frame = pl.DataFrame({"c": ["DAHDI/i1/2025550111-1d", "DAHDI/i12/s-0000001e"]})
    got = frame.select(TRANSFORMS["asterisk_channel_peer"](pl.col("c"))).to_series().to_list()
    assert got == ["i1", "i12"]


def test_channel_named_after_an_address_gives_the_ingress_ip() -> None:
    # chan_sip names a call from a host that matches no peer after its address.
    frame = pl.DataFrame({"c": ["SIP/203.0.113.10-0000001a", "SIP/[2001:db8::7]-0000001b",
                                "PJSIP/acme_in-0000001c", "DAHDI/i1/2025550111-1d",
                                "SIP/203.0.113.10", None]})
    got = frame.select(TRANSFORMS["asterisk_channel_ip"](pl.col("c"))).to_series().to_list()
    assert got == ["203.0.113.10", "2001:db8::7", None, None, None, None]
    plain = pl.DataFrame({"c": ["PJSIP/acme_in-0000001c", None]})
    assert plain.select(TRANSFORMS["asterisk_channel_ip"](pl.col("c"))).to_series().to_list() \
        == [None, None]


# Asterisk's own sequence is "-" and 8 hex digits (%08x): the transform cuts those names
# without stripping character by character, and strips the others as before. Mixed batches
# take both paths at once.
SEQ_PIECES = st.sampled_from(["SIP/", "PJSIP/", "Local/", "-", "carrier", "0000002a", "deadbeef",
                              "DEADBEEF", "0000abc", "0", "a", "g", "é", ";1", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(SEQ_PIECES, max_size=6).map("".join) | st.none(), min_size=1,
                max_size=30))
def test_asterisk_channel_peer_equals_the_regex_on_8_digit_sequences(
    values: list[str | None],
) -> None:
    frame = pl.DataFrame({"c": values}, schema={"c": pl.String})
    got = frame.select(TRANSFORMS["asterisk_channel_peer"](pl.col("c"))).to_series()
    want = frame.select(_oracle(pl.col("c"))).to_series()
    assert got.to_list() == want.to_list()


def test_asterisk_channel_peer_cuts_8_digit_sequences_and_strips_the_others() -> None:
    names = ["SIP/carrierA-0000abcd", "SIP/peer-1-deadbeef", "SIP/a-00000abcd", "SIP/x-2a",
             "SIP/peer-0000ABCD", "SIP/0000abcd", "IAX2/é-deadbeef", "", None,
             "SIP/éSIP/-0000002a", "DAHDI/i1/5551234-1d"]
    frame = pl.DataFrame({"c": names}, schema={"c": pl.String})
    got = frame.select(TRANSFORMS["asterisk_channel_peer"](pl.col("c"))).to_series().to_list()
    # a non-ASCII peer before a second "/" is cut at the "/" (its byte offset is not its
    # character offset), as the regex cuts it
    assert got == ["carrierA", "peer-1", "a", "x", None, None, "é", None, None, "éSIP", "i1"]


LOCAL_PAIR_REGEX = r"^(?:(Local/.+-[0-9a-f]{4,8})[;,][12]|([^/]+))$"
LOCAL_PIECES = st.sampled_from(["Local/", "SIP/", "PJSIP/", "100@from-queue", "-", "0000abcd",
                                "1a2b", ";1", ";2", ",1", ";3", "/", "1716912345.12", " ",
                                "\n", "é", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(LOCAL_PIECES, max_size=6).map("".join) | st.none(), min_size=1,
                max_size=20))
def test_asterisk_local_pair_equals_the_regex(values: list[str | None]) -> None:
    # The profiles' key for the rows of one call without linkedid: the pair's name of a Local
    # channel half, an id as it is, any other channel null (the next column is tried).
    frame = pl.DataFrame({"c": values}, schema={"c": pl.String})
    got = frame.select(TRANSFORMS["asterisk_local_pair"](pl.col("c"))).to_series()
    c = pl.col("c")
    want = frame.select(pl.coalesce(c.str.extract(LOCAL_PAIR_REGEX, 1),
                                    c.str.extract(LOCAL_PAIR_REGEX, 2))).to_series()
    assert got.to_list() == want.to_list()


def test_asterisk_local_pair_examples() -> None:
    frame = pl.DataFrame({"c": ["Local/600@from-queue-0000002a;1", "Local/6001@ext-1a2b,2",
                                "SIP/carrier-0000002a", "1716912345.12", "", None]})
    got = frame.select(TRANSFORMS["asterisk_local_pair"](pl.col("c"))).to_series().to_list()
    assert got == ["Local/600@from-queue-0000002a", "Local/6001@ext-1a2b", None,
                   "1716912345.12", None, None]
