"""Kamailio/OpenSIPS acc: one call tried on several destinations is one inbound leg.

Serial forking (failure_route relays the INVITE to the next destination: same Call-ID and From
tag, each failed branch accounted as a missed call with its own To tag) and the retry after a
401/407 challenge used to give one leg per attempt: two inbound legs of one call, the failed
one a rival candidate for the matcher.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.ingest.run import parse_file

PREFIX = "Mar  7 14:03:{s} proxy1 /usr/sbin/kamailio[2417]: NOTICE: acc [acc.c:281]: ACC: "
COMMON = ("src_user=2025550111;src_domain=198.51.100.7;src_ip=198.51.100.7;"
          "dst_ouser=3125550100;dst_user=3125550100")


def _line(s: int, event: str, ts: int, method: str, ftag: str, ttag: str, code: str,
          reason: str, extra: str) -> str:
    return (PREFIX.format(s=f"{s:02d}") + f"{event}: timestamp={ts};method={method};"
            f"from_tag={ftag};to_tag={ttag};call_id=fork1@198.51.100.7;code={code};"
            f"reason={reason};{extra}")


FORKED = [
    _line(12, "call missed", 1772910192, "INVITE", "fa1", "gw1x", "408", "Request Timeout",
          COMMON + ";dst_domain=10.0.0.31"),
    _line(27, "transaction answered", 1772910207, "INVITE", "fa1", "gw2y", "200", "OK",
          COMMON + ";dst_domain=10.0.0.32"),
    _line(59, "transaction answered", 1772910267, "BYE", "gw2y", "fa1", "200", "OK",
          "src_user=3125550100;src_ip=10.0.0.32;dst_user=2025550111"),
]


def test_a_serially_forked_call_is_one_inbound_leg(tmp_path: Path) -> None:
    f = tmp_path / "acc.log"
    f.write_text("\n".join(FORKED) + "\n")
    res = parse_file(f, "kamailio_acc_syslog")
    assert res.rejects.num_rows == 0
    (leg,) = res.legs.to_pylist()
    assert (leg["source_record"], leg["disposition"], leg["egress_trunk"]) == (
        2, "answered", "10.0.0.32")
    assert leg["end_utc"] is not None  # the BYE still pairs with the answered attempt


def test_the_order_of_the_file_does_not_matter(tmp_path: Path) -> None:
    f = tmp_path / "acc.log"
    f.write_text("\n".join(reversed(FORKED)) + "\n")  # newest first (cat acc.log acc.log.1)
    (leg,) = parse_file(f, "kamailio_acc_syslog").legs.to_pylist()
    assert leg["disposition"] == "answered" and leg["source_record"] == 2


def test_every_destination_failing_is_one_leg_with_the_last_outcome(tmp_path: Path) -> None:
    f = tmp_path / "acc.csv"
    f.write_text(
        "id,method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_ip,dst_user,"
        "dst_domain\n"
        "7,INVITE,fa1,gw1x,fork2@198.51.100.7,408,Request Timeout,2026-03-07 14:03:12,"
        "2025550111,198.51.100.7,3125550100,10.0.0.31\n"
        "8,INVITE,fa1,gw2y,fork2@198.51.100.7,486,Busy Here,2026-03-07 14:03:20,"
        "2025550111,198.51.100.7,3125550100,10.0.0.32\n"
        "9,INVITE,fb9,,other@198.51.100.7,486,Busy Here,2026-03-07 14:03:21,"
        "2025550111,198.51.100.7,3125550100,10.0.0.32\n")
    legs = parse_file(f, "kamailio_acc_db", "America/New_York").legs.to_pylist()
    assert [(x["call_id"], x["disposition"], x["egress_trunk"]) for x in legs] == [
        ("fork2@198.51.100.7", "busy", "10.0.0.32"), ("other@198.51.100.7", "busy", "10.0.0.32")]


# --- DB exports with a byte-order mark ------------------------------------------------------


def test_a_db_export_with_a_byte_order_mark_is_detected_and_keeps_its_id_order(
        tmp_path: Path) -> None:
    """MySQL Workbench, DBeaver and Excel's "CSV UTF-8" put a UTF-8 BOM before the header. The
    file was not detected, and its first column read as '\\ufeffid': rows were then ordered by
    their time alone, so in a newest-first export two attempts failing in one second came in
    the wrong order and the call took the first one's outcome (408) for its last (486)."""
    f = tmp_path / "acc.csv"
    f.write_bytes(b"\xef\xbb\xbf" + (
        b"id,method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_ip,dst_user\n"
        b"12,INVITE,fa1,gw2y,c1@198.51.100.7,486,Busy Here,2026-03-07 14:03:27,2025550111,"
        b"198.51.100.7,3125550100\n"
        b"11,INVITE,fa1,gw1x,c1@198.51.100.7,408,Request Timeout,2026-03-07 14:03:27,"
        b"2025550111,198.51.100.7,3125550100\n"))
    res = parse_file(f, None, "America/New_York")
    assert res.format == "kamailio_acc_db"
    (leg,) = res.legs.to_pylist()
    assert leg["disposition"] == "busy" and leg["source_record"] == 2


# --- OpenSIPS CDR mode with missed calls ----------------------------------------------------

OSIPS = "Mar  7 14:0{m}:{s} sbc2 /usr/sbin/opensips[3121]: ACC: "
CDR_FORKED = [
    # do_accounting("log", "cdr|missed"): the first branch's failure is a "call missed" INVITE
    # of the call's Call-ID and From tag; the branch answered after it is the "call ended" CDR.
    OSIPS.format(m=3, s=25) + "call missed: timestamp=1772910205;created=1772910202;"
    "setuptime=3;method=INVITE;from_tag=fa1;to_tag=gw1x;call_id=fork9@198.51.100.7;code=486;"
    "reason=Busy Here;" + COMMON + ";dst_domain=10.0.0.31",
    OSIPS.format(m=4, s=27) + "call ended: created=1772910202;call_start_time=1772910207;"
    "duration=60;ms_duration=60000;setuptime=5;method=INVITE;from_tag=fa1;to_tag=gw2y;"
    "call_id=fork9@198.51.100.7;code=200;reason=OK;" + COMMON + ";dst_domain=10.0.0.32",
]


@pytest.mark.parametrize("newest_first", [False, True])
def test_an_opensips_cdr_after_a_missed_branch_is_one_inbound_leg(tmp_path: Path,
                                                                  newest_first: bool) -> None:
    """The failed branch and the CDR of the answered one were two inbound legs of one call
    (the busy one a rival candidate at the same time); the folding of attempts skipped CDR-mode
    records."""
    f = tmp_path / "acc.log"
    f.write_text("\n".join(reversed(CDR_FORKED) if newest_first else CDR_FORKED) + "\n")
    res = parse_file(f, "opensips_acc_syslog")
    assert res.rejects.num_rows == 0
    (leg,) = res.legs.to_pylist()
    assert (leg["disposition"], leg["egress_trunk"]) == ("answered", "10.0.0.32")
    assert leg["source_record"] == (1 if newest_first else 2)
    assert leg["end_utc"] is not None
