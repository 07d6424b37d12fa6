"""QA (on-call engineer, Asterisk in America/Chicago): an inquiry local time in the repeated
hour of a fall-back day has two readings, an hour apart. Both are the asker's time: neither
is a "widening" of the other, so a call at the second reading must be weighed against calls
near the first, not lose to any leg within ±15 min of the first reading (a wrong upstream)."""

from __future__ import annotations

from pathlib import Path

from matchkit import check_schema, leg, make_store, peers

from tracehop.answer import TracebackAnswer
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher

N = "+13125550100"


def _ask(tmp_path: Path, rows: list[dict[str, object]], at: str, *, joined: bool = False,
         **kw: object) -> TracebackAnswer:
    store = make_store(tmp_path / "store", rows)
    m = Matcher(store, peers(tmp_path))
    q = Inquiry.parse(N, at, **kw)  # type: ignore[arg-type]
    answer = m.lookup_many([q, q], strategy="join")[0] if joined else m.lookup(q)
    check_schema(answer)
    return answer


# 01:20 America/Chicago on 2026-11-01 happened twice: 06:20Z (CDT) and 07:20Z (CST).
# A call from Acme at 01:15 CDT (06:15Z) and the call asked about from Bravo at 01:20 CST.
def _rows() -> list[dict[str, object]]:
    return [leg(N, "2026-11-01 06:15:00", trunk="ACME_IN_1", calling="+12025550113"),
            leg(N, "2026-11-01 07:20:00", trunk="BRAVO_IN", calling="+12025550114")]


def test_second_reading_exact_beats_a_leg_minutes_from_the_first(tmp_path: Path) -> None:
    for joined in (False, True):
        a = _ask(tmp_path / str(joined), _rows(), "2026-11-01 01:20:00 America/Chicago",
                 joined=joined)
        assert a.match is not None and a.match.offset_s == 3600.0, (joined, a.match)
        assert a.upstream is not None and a.upstream.provider == "Bravo Telecom", joined
        assert any("happened twice" in w for w in a.warnings), a.warnings
        assert not any("found only by widening" in w for w in a.warnings), a.warnings


def test_both_readings_exact_with_different_hand_offs_is_ambiguous(tmp_path: Path) -> None:
    # Acme's call at 01:20 CDT and Bravo's at 01:20 CST: the local time alone cannot tell.
    rows = [leg(N, "2026-11-01 06:20:00", trunk="ACME_IN_1", calling="+12025550113"),
            leg(N, "2026-11-01 07:20:00", trunk="BRAVO_IN", calling="+12025550114")]
    a = _ask(tmp_path / "a", rows, "2026-11-01 01:20:00 America/Chicago")
    assert a.status == "ambiguous", (a.status, a.upstream)
    # The calling number decides it.
    b = _ask(tmp_path / "b", [dict(r) for r in rows], "2026-11-01 01:20:00 America/Chicago",
             calling="+12025550114")
    assert b.status == "upstream" and b.upstream is not None
    assert b.upstream.provider == "Bravo Telecom"


def test_an_inquiry_with_its_offset_is_unchanged(tmp_path: Path) -> None:
    # With the offset given there is one reading: the -05:00 one finds Acme's leg at -300 s.
    a = _ask(tmp_path, _rows(), "2026-11-01 01:20:00-05:00")
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.searched.step == "±15min"


def test_a_flagged_record_at_its_second_reading_beats_a_leg_minutes_away(
        tmp_path: Path) -> None:
    # A Master.csv without uniqueid, ingested with --tz America/Chicago: Acme's call at 01:58
    # CST (07:58Z) was stored by the fold=0 rule at 06:58Z and flagged. Bravo's unrelated call
    # at 02:05 CST (08:05Z). An inquiry at the right UTC instant, 07:58Z, must find Acme's
    # record (its second reading is exact), not answer Bravo from the ±15 min step.
    rows = [leg(N, "2026-11-01 06:58:00", trunk="ACME_IN_1", time_ambiguous=True,
                source_tz="America/Chicago"),
            leg(N, "2026-11-01 08:05:00", trunk="BRAVO_IN")]
    for joined in (False, True):
        a = _ask(tmp_path / str(joined), [dict(r) for r in rows], "2026-11-01T07:58:00Z",
                 joined=joined)
        assert a.upstream is not None and a.upstream.provider == "Acme Transit", (
            joined, a.upstream, a.warnings)
        assert a.match is not None and a.match.offset_s == -3600.0
        assert "DST" in a.searched.step, a.searched
        assert any("repeated hour" in w for w in a.warnings), a.warnings

