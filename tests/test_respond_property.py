"""Batch = single: `respond` over a file (one join per pass) gives, for every inquiry, exactly
the answer a single lookup gives, on generated small stores."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_respond import make_store

from tracehop.answer import TracebackAnswer
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher
from tracehop.peers import PeerDirectory
from tracehop.respond.batch import RespondOptions, respond
from tracehop.respond.deadline import Clock
from tracehop.respond.inquiries import read_inquiries

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"
BASE = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # an hour before midnight: two day files
CALLED = ["+13125550100", "+13125550101", "+13125550102"]
TRUNKS = ["ACME_IN_1", "SHADY-2", "GLOBE_INTL", "UNKNOWN_T", None]

legs_st = st.lists(
    st.fixed_dictionaries({
        "called": st.sampled_from(CALLED),
        "offset_s": st.integers(-5400, 5400),
        "direction": st.sampled_from(["inbound", "inbound", "outbound", "unknown"]),
        "trunk": st.sampled_from(TRUNKS),
        "account": st.sampled_from([None, None, "ACC42"]),
        "calling": st.sampled_from([None, "+12025550111", "+12025550112"]),
        "corr": st.sampled_from([None, "c1", "c2"]),
    }),
    min_size=0, max_size=12,
)
inquiries_st = st.lists(
    st.fixed_dictionaries({
        "called": st.sampled_from([*CALLED, "+13125550199", "not-a-number"]),
        "offset_s": st.integers(-5400, 5400),
        "calling": st.sampled_from(["", "+12025550111", "2025550112"]),
        "window": st.sampled_from(["", "60", "300"]),
    }),
    min_size=1, max_size=8,
)


class _Joined:
    """A matcher whose batches always take the join path."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    def lookup_many(self, inquiries: list[Inquiry]) -> list[TracebackAnswer]:
        return self.matcher.lookup_many(inquiries, strategy="join")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _legs(spec: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(spec):
        rows.append({
            "leg_id": f"L{i}", "source": "gen", "source_file": "gen.csv",
            "source_record": i + 2,
            "start_utc": BASE + timedelta(seconds=s["offset_s"]),
            "called_e164": s["called"], "called_raw": s["called"],
            "calling_e164": s["calling"], "calling_raw": s["calling"],
            "direction": s["direction"], "ingress_trunk": s["trunk"],
            "egress_trunk": "OUT_1" if s["direction"] == "outbound" else None,
            "account": s["account"], "correlation_id": s["corr"],
            "duration_s": 10.0, "disposition": "answered",
        })
    return rows


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(legs=legs_st, inquiries=inquiries_st, chunk=st.sampled_from([1, 1000]))
def test_respond_batch_answers_equal_single_lookups(
        legs: list[dict[str, Any]], inquiries: list[dict[str, Any]], chunk: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="th-prop-"))
    try:
        rows = _legs(legs)
        store = make_store(tmp / "store", rows) if rows else make_store(tmp / "store", [])
        peers = PeerDirectory.load(FIX / "peers.toml")
        f = tmp / "inq.csv"
        f.write_text("called,calling,time,window\n" + "".join(
            f"{q['called']},{q['calling']},"
            f"{_iso(BASE + timedelta(seconds=q['offset_s']))},{q['window']}\n"
            for q in inquiries))
        parsed = read_inquiries(f)
        # The join path even for a handful of inquiries (the cost model would loop single
        # lookups), deciding one inquiry at a time as its days are read (the chunking of the
        # batch read: a chunk's inquiries are decided while the next days are read).
        with patch("tracehop.match.matcher.DECIDE_CHUNK", chunk):
            batch = respond(parsed, _Joined(Matcher(store, peers)),
                            RespondOptions(clock=Clock(deadline_after=timedelta(days=3650))))
        single = Matcher(store, peers)
        assert len(batch.answers) == len(inquiries)
        for row, got in zip(parsed.rows, batch.answers, strict=True):
            if row.inquiry is None:
                assert got["error"]["line"] == row.line
                continue
            want = single.lookup(row.inquiry).to_dict()
            got = {k: v for k, v in got.items() if k != "deadline"}
            assert got == want
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
