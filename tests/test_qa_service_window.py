"""QA: `searched` says how far the search reached, and no further (DESIGN §5, §7).

With a window over 30 min, `searched` of a not_found answer said ±(24 h + window): ±48 h for
the largest window, while the matcher looks at most 24 h 30 min away (a whole-hour offset k is
the *nearest* hour of the record's offset, and k stops at 24). A requester read that the
provider had searched two days either side of the call.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from test_service import Env, auth

from tracehop.match import widen
from tracehop.match.spec import HOUR_US, US
from tracehop.service.run import ServerThread


@pytest.mark.parametrize("w_s", [0.5, 120, 899, 900, 1799, 1800, 1801, 3600, 43200, 86400])
def test_reach_is_the_furthest_offset_any_step_finds(w_s: float) -> None:
    w_us = int(w_s * US)
    reach = widen.reach_us(widen.last_index(), w_us)
    assert widen.step_of(reach - 1, w_us) is not None
    assert widen.step_of(-(reach - 1), w_us) is not None
    assert widen.step_of(reach + 1, w_us) is None
    assert widen.step_of(-(reach + 1), w_us) is None


def test_a_not_found_answer_over_http_claims_no_more_than_was_searched(tmp_path: Path) -> None:
    e = Env(tmp_path)
    ask = {"called": "+13125550142", "time": "2026-11-20T14:03:22Z", "window": 86400}
    with ServerThread(e.app()) as u:
        r = httpx.post(f"{u}/v1/inquiries", json=ask, headers=auth(e.alice))
    ans = r.json()
    assert ans["status"] == "not_found"
    t = datetime.fromisoformat("2026-11-20T14:03:22+00:00")
    lo = datetime.fromisoformat(ans["searched"]["from_utc"].replace("Z", "+00:00"))
    hi = datetime.fromisoformat(ans["searched"]["to_utc"].replace("Z", "+00:00"))
    assert (t - lo).total_seconds() == (hi - t).total_seconds() == 24.5 * HOUR_US / US
