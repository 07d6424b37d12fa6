"""The named transform that replaces the Asterisk profiles' channel regex must give exactly
what the regex gave, on any text (it exists only because it is cheaper on millions of rows)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.ingest.apply import FileContext, _columns_expr, chained
from tracehop.ingest.profile import FieldSpec
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


def _chain_rows(rows: list[tuple[str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"linkedid": pl.String, "channel": pl.String,
                                      "dstchannel": pl.String}, orient="row")


LOCAL_CHAIN_SPEC = FieldSpec(columns=("linkedid", "channel", "dstchannel"),
                             transform="asterisk_local_pair", chain=("channel", "dstchannel"))


def _keys(df: pl.DataFrame, ctx: FileContext | None = None) -> list[str | None]:
    values = df.select(_columns_expr(df, LOCAL_CHAIN_SPEC, LOCAL_CHAIN_SPEC.columns)).to_series()
    ctx = ctx or FileContext("Master.csv", "asterisk_cdr_csv", None, None)
    return chained(df, LOCAL_CHAIN_SPEC, values, ctx, "correlation_id").to_list()


def test_chained_keys_a_nested_local_chain_by_its_outermost_pair() -> None:
    x, y, z = "Local/a@c-00000001", "Local/b@c-00000002", "Local/c@c-00000003"
    rows = [("", "SIP/carrier-00000001", f"{x};1"), (None, f"{x};2", f"{y};1"),
            (None, f"{y};2", f"{z};1"), (None, f"{z};2", "SIP/mobile-00000004"),
            (None, "SIP/other-00000005", "SIP/out-00000006")]
    assert _keys(_chain_rows(rows)) == [x, x, x, x, None]
    # A chain split between batches: the links go on to the later batches of the file ...
    ctx = FileContext("Master.csv", "asterisk_cdr_csv", None, None)
    assert _keys(_chain_rows(rows[:2]), ctx) == [x, x]
    assert _keys(_chain_rows(rows[2:]), ctx) == [x, x, None]
    # ... to the next batch only ...
    ctx = FileContext("Master.csv", "asterisk_cdr_csv", None, None)
    assert _keys(_chain_rows(rows[:2]), ctx) == [x, x]
    assert _keys(_chain_rows(rows[4:]), ctx) == [None]
    assert _keys(_chain_rows(rows[2:4]), ctx) == [y, y]
    # ... and a row read before the row that links it keeps its own pair.
    ctx = FileContext("Master.csv", "asterisk_cdr_csv", None, None)
    assert _keys(_chain_rows(rows[3:]), ctx) == [z, None]
    assert _keys(_chain_rows(rows[:3]), ctx) == [x, x, x]


def test_chained_leaves_linkedid_and_one_hop_keys_alone() -> None:
    x, y = "Local/a@c-00000001", "Local/b@c-00000002"
    rows = [("1795183800.50", "SIP/carrier-00000001", f"{x};1"),
            ("1795183800.50", f"{x};2", f"{y};1"), ("1795183800.50", f"{y};2", "SIP/m-00000004")]
    assert _keys(_chain_rows(rows)) == ["1795183800.50"] * 3
    one_hop = [(None, "SIP/carrier-00000001", f"{x};1"), (None, f"{x};2", "SIP/m-00000004"),
               (None, "SIP/carrier-00000001", f"{y};1")]  # a ring group: two pairs, no link
    assert _keys(_chain_rows(one_hop)) == [x, x, y]


def test_chained_names_that_came_round_again_end_in_one_key() -> None:
    # A cycle (sequences reused after a restart) has no outermost pair: its least name.
    x, y = "Local/a@c-00000001", "Local/b@c-00000002"
    rows = [(None, f"{x};2", f"{y};1"), (None, f"{y};2", f"{x};1")]
    assert _keys(_chain_rows(rows)) == [x, x]
