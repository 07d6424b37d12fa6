"""QA: a `zone` that is no zone name at all is refused with a message about zones.

`{"zone": "../../etc/passwd"}` (or `/etc/localtime`, or `America/New York`) was refused with
"(expected YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or ±HH:MM)": the date-time parser's complaint
about the text it was handed, which says nothing of the zone the field names.
"""

from __future__ import annotations

import pytest

from tracehop.errors import InquiryError
from tracehop.inquiry import Inquiry
from tracehop.timezones import zone_problem


@pytest.mark.parametrize("zone", ["../../etc/passwd", "/etc/localtime", "America/New York",
                                  "America/New_York 2026"])
def test_a_zone_that_is_no_zone_name_is_refused_as_a_zone(zone: str) -> None:
    problem = zone_problem(zone)
    assert problem is not None and "YYYY" not in problem and "zone" in problem
    with pytest.raises(InquiryError) as e:
        Inquiry.parse("3125550100", "2026-03-07T14:03:22", None, zone=zone)
    assert e.value.field == "zone" and "YYYY" not in str(e.value)


@pytest.mark.parametrize("zone", ["America/New_York", "UTC", "-05:00"])
def test_real_zones_and_offsets_still_pass(zone: str) -> None:
    assert zone_problem(zone) is None
