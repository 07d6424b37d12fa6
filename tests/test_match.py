"""Matcher behaviour a responder relies on (issue 2, "Matcher tests"), on real stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from matchkit import check_schema, leg, make_store, peers

from tracehop.answer import TracebackAnswer
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher

N = "+13125550100"


def ask(tmp_path: Path, rows: list[dict[str, object]], called: str, at: str,
        *, with_peers: bool = True, **kw: object) -> TracebackAnswer:
    store = make_store(tmp_path / "store", rows)
    m = Matcher(store, peers(tmp_path) if with_peers else None)
    answer = m.lookup(Inquiry.parse(called, at, **kw))  # type: ignore[arg-type]
    check_schema(answer)
    return answer


# -- time: skew, widening, DST ---------------------------------------------------------------


def test_skew_inside_the_window_is_found_at_the_first_step(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:05:02")], N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.match is not None and a.match.offset_s == 100.0
    assert a.searched.step == "±120s"
    assert (a.searched.from_utc, a.searched.to_utc) == ("2026-11-20T14:01:22Z",
                                                         "2026-11-20T14:05:22Z")
    assert not any("widening" in w for w in a.warnings)


def test_skew_outside_the_window_is_found_by_widening_to_15_minutes(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:08:22")], N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.match is not None and a.match.offset_s == 300.0
    assert a.searched.step == "±15min"
    assert a.searched.steps_tried == ["±120s", "±15min"]
    assert any("widening" in w and "±15min" in w for w in a.warnings)
    assert a.confidence < 0.9


def test_confidence_never_rises_with_the_distance_across_the_window_edge(
        tmp_path: Path) -> None:
    # Inside the ±120 s window, just outside it (found by the ±15 min step), further out:
    # a record further from the inquiry time never gets the higher confidence.
    confidences = []
    for i, off in enumerate(["14:01:22", "14:01:21.5", "14:00:22", "13:50:00"]):
        a = ask(tmp_path / str(i), [leg(N, f"2026-11-20 {off}")], N, "2026-11-20T14:03:22Z")
        assert a.status == "upstream"
        confidences.append(a.confidence)
    assert confidences == sorted(confidences, reverse=True), confidences
    assert confidences[0] > confidences[1]


def test_a_wider_window_given_by_the_asker_finds_it_at_the_first_step(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:08:22")], N, "2026-11-20T14:03:22Z", window=400)
    assert a.searched.step == "±400s"
    assert a.match is not None and a.match.offset_s == 300.0


def test_one_hour_time_zone_slip_is_found_and_reported(tmp_path: Path) -> None:
    # The asker read the switch's local time (EST) as UTC: the record is one hour later.
    a = ask(tmp_path, [leg(N, "2026-11-20 15:03:30")], N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.match is not None and a.match.offset_s == 3608.0
    assert a.searched.step == "+1h offset (time-zone slip?)"
    # Both directions of the hour were searched, as one level.
    assert a.searched.steps_tried[-2:] == ["+1h offset (time-zone slip?)",
                                           "-1h offset (time-zone slip?)"]
    assert any("+1h offset" in w and "time zone" in w for w in a.warnings)


def test_five_hour_slip_the_other_way(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 09:03:40")], N, "2026-11-20T14:03:22Z")
    assert a.searched.step == "-5h offset (time-zone slip?)"
    assert a.match is not None and a.match.offset_s == -5 * 3600 + 18


def test_nearer_step_wins_over_an_hour_offset(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 15:03:22", trunk="BRAVO_IN"), leg(N, "2026-11-20 14:10:00")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.searched.step == "±15min"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"


def test_dst_fall_back_repeated_hour(tmp_path: Path) -> None:
    # 01:30 America/New_York on 2026-11-01 happened twice; ingest reads it as the first
    # occurrence (EDT, 05:30Z) and flags it. An asker who meant the second (EST, 06:30Z) is
    # one hour off: found by the -1h step, and the answer says why.
    row = leg(N, "2026-11-01 05:30:00", time_ambiguous=True, source_tz="America/New_York")
    first = ask(tmp_path / "a", [row], N, "2026-11-01T01:30:00-04:00")
    assert first.searched.step == "±120s"
    assert first.match is not None and first.match.offset_s == 0.0
    assert any("repeated hour" in w for w in first.warnings)
    second = ask(tmp_path / "b", [dict(row)], N, "2026-11-01T01:30:00-05:00")
    assert second.status == "upstream"
    assert second.searched.step == "-1h offset (DST repeated hour?)"
    assert second.match is not None and second.match.offset_s == -3600.0


def test_naive_inquiry_time_is_read_as_utc_and_said(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30")], N, "2026-11-20 14:03:22")
    assert a.match is not None and a.match.offset_s == 8.0
    assert "time had no zone; read as UTC" in a.warnings


def test_not_found_reports_the_widest_window_searched(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-22 14:03:30"), leg("+13125550199", "2026-11-20 14:03:30")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "not_found"
    assert a.match is None and a.upstream is None and a.alternatives == []
    assert a.confidence == 0.0
    assert a.searched.from_utc == "2026-11-19T14:01:22Z"
    assert a.searched.to_utc == "2026-11-21T14:05:22Z"
    assert a.searched.steps_tried[-1].startswith("whole-hour offsets ±1h..±24h")


def test_not_found_in_an_empty_store(tmp_path: Path) -> None:
    a = ask(tmp_path, [], N, "2026-11-20T14:03:22Z")
    assert a.status == "not_found"
    assert any("the store holds no call records at all" in w for w in a.warnings), a.warnings


def test_not_found_on_a_day_the_store_has_no_records_of_is_said(tmp_path: Path) -> None:
    """'No record' is what a provider tells the consortium on not_found: when the store holds
    nothing at all on the inquiry's day (its records not ingested yet), the answer must say
    so rather than pass for a searched day without the call."""
    rows = [leg("+13125550199", "2026-11-18 10:00:00"), leg("+13125550199", "2026-11-19 10:00:00")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "not_found"
    text = " | ".join(a.warnings)
    assert "no call records on 2026-11-20 (UTC)" in text, text
    # A day that holds records of other numbers is a real "not in our records": no warning.
    held = ask(tmp_path / "held", [*rows, leg("+13125550199", "2026-11-20 23:00:00")], N,
               "2026-11-20T14:03:22Z")
    assert held.status == "not_found"
    assert not any("no call records" in w for w in held.warnings), held.warnings


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["(312) 555-0100", "312.555.0100", "3125550100",
                                  "13125550100", "+1 312 555 0100", "+13125550100"])
def test_national_and_e164_forms_find_the_same_leg(tmp_path: Path, form: str) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30", called_raw="3125550100")], form,
            "2026-11-20T14:03:22Z")
    assert a.inquiry.called == N
    assert a.inquiry.called_raw == form
    assert a.match is not None and a.match.called_raw == "3125550100"


# -- two calls seconds apart ---------------------------------------------------------------------


def _two_calls() -> list[dict[str, object]]:
    return [
        leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN", calling="+19995550000"),
        leg(N, "2026-11-20 14:03:31", trunk="ACME_IN_1", calling="+12025550111"),
    ]


def test_two_calls_seconds_apart_without_calling_number_is_ambiguous(tmp_path: Path) -> None:
    a = ask(tmp_path, _two_calls(), N, "2026-11-20T14:03:22Z")
    assert a.status == "ambiguous"
    assert a.match is not None and len(a.alternatives) == 1
    assert {a.match.provider, a.alternatives[0].provider} == {"Acme Transit", "Bravo Telecom"}
    assert a.confidence < 0.6
    assert any("calling number" in w for w in a.warnings)


def test_two_calls_seconds_apart_with_calling_number_the_right_one_wins(tmp_path: Path) -> None:
    a = ask(tmp_path, _two_calls(), N, "2026-11-20T14:03:22Z", calling="(202) 555-0111")
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.match is not None and a.match.calling_raw == "12025550111"
    assert a.confidence > 0.95
    assert [m.provider for m in a.alternatives] == ["Bravo Telecom"]


@pytest.mark.parametrize("given", ["0000000000", "anonymous", "123"])
def test_a_calling_number_that_is_no_number_is_compared_as_written(
        tmp_path: Path, given: str) -> None:
    # Spoofed caller IDs are often no valid number: the inquiry is still answered, and the
    # caller ID as the switch wrote it still tells the two calls apart.
    rows = [
        leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN", calling="+19995550000"),
        {**leg(N, "2026-11-20 14:03:31", trunk="ACME_IN_1"), "calling_raw": given.upper()},
    ]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", calling=given)
    assert a.status == "upstream", a.warnings
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.inquiry.calling is None and a.inquiry.calling_raw == given
    assert any("not a valid phone number" in w for w in a.warnings)


def test_an_unusable_calling_number_does_not_hide_the_call(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:25", calling="+12025550111")], N,
            "2026-11-20T14:03:22Z", calling="Restricted")
    assert a.status == "upstream" and a.match is not None


def test_calls_close_together_from_the_same_upstream_are_not_ambiguous(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:25"), leg(N, "2026-11-20 14:03:31", trunk="acme-7")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.match is not None and a.match.offset_s == 3.0
    assert len(a.alternatives) == 1


@pytest.mark.parametrize("addr", ["192.0.2.44", "2001:db8:9::44"])
def test_sip_calls_from_one_unmapped_address_over_two_connections_are_one_hand_off(
        tmp_path: Path, addr: str) -> None:
    """A SIP capture's trunk is the source "address:port"; over TCP or TLS each connection
    has its own ephemeral port. Two calls from one address that no peer entry names are one
    unmapped hand-off (add that address), not two candidates that make the answer
    ambiguous."""
    host = f"[{addr}]" if ":" in addr else addr
    rows = [leg(N, "2026-11-20 14:03:25", trunk=f"{host}:35060", ip=addr),
            leg(N, "2026-11-20 14:03:31", trunk=f"{host}:41822", ip=addr)]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "unmapped", a.warnings
    assert a.upstream is not None and a.upstream.ip == addr
    # Another address is another hand-off: that stays ambiguous.
    other = [rows[0], dict(rows[1], leg_id="x2", ingress_trunk="192.0.2.45:5060",
                           ingress_ip="192.0.2.45")]
    b = ask(tmp_path / "other", other, N, "2026-11-20T14:03:22Z")
    assert b.status == "ambiguous"


def test_a_clearly_nearer_call_wins_without_ambiguity(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:24"), leg(N, "2026-11-20 14:05:10", trunk="BRAVO_IN")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"


def test_duration_given_by_the_asker_decides(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN", duration_s=4.0),
            leg(N, "2026-11-20 14:03:28", duration_s=61.0)]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", duration="60")
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"


def test_stir_orig_tn_agreement_counts(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN", orig_tn="19995550000",
                attest="C"),
            leg(N, "2026-11-20 14:03:27", orig_tn="12025550111", dest_tn="13125550100",
                attest="A")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", calling="+12025550111")
    assert a.status == "upstream" and a.match is not None
    assert a.match.stir["attest"] == "A" and a.match.stir["orig_tn"] == "12025550111"


# -- egress legs -------------------------------------------------------------------------------


def test_egress_rows_are_never_the_answer(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:22", direction="outbound", trunk="BRAVO_IN",
                correlation_id="c-x", call_id="x-out"),
            leg(N, "2026-11-20 14:03:40", correlation_id="c-y", call_id="y-in")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.match is not None and a.match.direction == "inbound"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert all(m.direction != "outbound" for m in a.alternatives)


def test_only_egress_rows_is_not_found_with_a_warning(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:22", direction="outbound", trunk="BRAVO_IN")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "not_found" and a.match is None
    assert any("egress (outbound) leg" in w for w in a.warnings)


def test_egress_match_is_answered_from_the_inbound_leg_of_the_same_call(tmp_path: Path) -> None:
    # The inbound leg carries the number as the upstream sent it (a ported-number prefix);
    # only the egress leg has the number asked about. Same linkedid / correlation id.
    rows = [
        leg("+13125559999", "2026-11-20 14:03:21", trunk="ACME_IN_1", correlation_id="L-1",
            call_id="in-1"),
        leg(N, "2026-11-20 14:03:23", direction="outbound", trunk=None, egress_trunk="OUT_1",
            correlation_id="L-1", call_id="out-1"),
    ]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.match is not None and a.match.direction == "inbound"
    assert a.match.call_id == "in-1"
    assert any("egress leg" in w and "L-1" in w for w in a.warnings)


def test_of_two_records_of_one_call_the_answered_one_answers(tmp_path: Path) -> None:
    # A failed route attempt and the answered record of the same call (one correlation id),
    # as a Ribbon SBC writes them when the STOP lands in the next file: one candidate, and
    # the answer shows the answered record, whichever leg_id sorts first.
    rows = [leg(N, "2026-11-20 14:03:25", leg_id="a-attempt", correlation_id="call-1",
                disposition="failed"),
            leg(N, "2026-11-20 14:03:25", leg_id="b-stop", correlation_id="call-1",
                disposition="answered")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream" and a.match is not None
    assert a.match.leg_id == "b-stop" and not a.alternatives


def test_inbound_and_egress_legs_of_one_call_are_one_candidate(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:21", correlation_id="L-2"),
            leg(N, "2026-11-20 14:03:22", direction="outbound", trunk="BRAVO_IN",
                correlation_id="L-2")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z")
    assert a.status == "upstream" and a.alternatives == []
    assert a.match is not None and a.match.direction == "inbound"


def test_unknown_direction_is_a_candidate_but_said(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30", direction="unknown")], N,
            "2026-11-20T14:03:22Z")
    assert a.status == "upstream"
    assert any("direction is unknown" in w for w in a.warnings)


# -- statuses from the peer directory ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "who"),
    [
        ({"trunk": "ACME_IN_1"}, "upstream", "Acme Transit"),
        ({"trunk": "acme-42"}, "upstream", "Acme Transit"),
        ({"trunk": None, "ingress_ip": "198.51.100.9:5060"}, "upstream", "Acme Transit"),
        ({"trunk": "CUST_TRUNK"}, "originating", "Dialer Co"),
        ({"trunk": "ACME_IN_1", "account": "ACCT-77"}, "originating", "Dialer Co"),
        ({"trunk": "INTL_GW", "ingress_ip": "203.0.113.5"}, "point_of_entry", "Overseas Carrier"),
        ({"trunk": "MYSTERY_TRUNK", "ingress_ip": "192.0.2.1"}, "unmapped", None),
    ],
)
def test_every_status_from_the_peer_directory(
    tmp_path: Path, fields: dict[str, object], status: str, who: str | None
) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30", **fields)], N, "2026-11-20T14:03:22Z")
    assert a.status == status
    assert a.match is not None
    assert a.match.evidence.file == "/data/Master.csv" and a.match.evidence.record
    if status == "originating":
        assert a.upstream is None
        assert a.customer is not None and a.customer.name == who
        # An account of our customer on a call that came in on a carrier's trunk: answered by
        # the account (peer precedence), and the answer names the carrier too.
        conflict = [w for w in a.warnings if "came in on" in w]
        if fields.get("account"):
            assert conflict and "upstream Acme Transit" in conflict[0], a.warnings
        else:
            assert not conflict
    elif status == "unmapped":
        assert a.customer is None
        assert a.upstream is not None and a.upstream.provider is None
        assert a.upstream.trunk == "MYSTERY_TRUNK" and a.upstream.ip == "192.0.2.1"
        assert any("no peer entry" in w for w in a.warnings)
    else:
        assert a.customer is None
        assert a.upstream is not None and a.upstream.provider == who


@pytest.mark.parametrize("fields", [{"trunk": "CUST_TRUNK"}, {"trunk": None, "account": "ACCT-77"}])
def test_a_leg_marked_outbound_whose_ingress_is_our_customer_answers_originating(
        tmp_path: Path, fields: dict[str, object]) -> None:
    # A CUCM phone's call, a BroadWorks Originating record, a Kamailio INVITE from a private
    # address: outbound by the format's convention, but the customer handed us the call.
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30", direction="outbound", **fields)], N,
            "2026-11-20T14:03:22Z")
    assert a.status == "originating", a.warnings
    assert a.customer is not None and a.customer.name == "Dialer Co"
    assert any("marks this leg outbound" in w for w in a.warnings)


def test_a_leg_marked_outbound_from_a_carrier_is_still_no_answer(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30", direction="outbound")], N,
            "2026-11-20T14:03:22Z")
    assert a.status == "not_found"


def test_without_a_peer_directory_everything_found_is_unmapped(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-20 14:03:30")], N, "2026-11-20T14:03:22Z",
            with_peers=False)
    assert a.status == "unmapped"
    assert a.upstream is not None and a.upstream.trunk == "ACME_IN_1"
    assert any("no peer directory" in w for w in a.warnings)


def test_answer_round_trips_through_json(tmp_path: Path) -> None:
    a = ask(tmp_path, _two_calls(), N, "2026-11-20T14:03:22Z", calling="2025550111")
    assert TracebackAnswer.from_dict(a.to_dict()) == a


def test_window_crossing_midnight_reads_both_days(tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-11-21 00:00:40")], N, "2026-11-20T23:59:30Z")
    assert a.status == "upstream" and a.match is not None and a.match.offset_s == 70.0


# -- evidence that does not agree ----------------------------------------------------------------


def test_a_lone_call_from_another_calling_number_is_not_named_with_certainty(
    tmp_path: Path,
) -> None:
    # The only call to the number in the window came from a different caller ID: most likely
    # another call (spoofed numbers pass through unchanged), so it must not be named as certain.
    rows = [leg(N, "2026-11-20 14:03:25", calling="+12025550999")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", calling="+12025550111")
    assert a.status == "ambiguous"
    assert a.match is not None and a.confidence < 0.5
    assert any("+12025550999" in w and "+12025550111" in w for w in a.warnings)


def test_a_stir_signer_other_than_the_upstream_is_flagged(tmp_path: Path) -> None:
    rows = [leg(N, "2026-11-20 14:03:25", calling="+12025550111", attest="A",
                signer_spc="9999")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", calling="+12025550111")
    assert a.status == "upstream" and a.upstream is not None and a.upstream.ocn
    assert any("signer SPC 9999" in w for w in a.warnings)


# -- whole-hour levels and a disagreeing calling number -----------------------------------


def _two_slips(tmp_path: Path, at: str, **kw: object) -> list[TracebackAnswer]:
    """A call one hour early from Acme (calling ...0801) and one an hour late from Bravo
    (calling ...0802), asked about single and as a batch matched as one read."""
    rows = [leg(N, "2026-08-06 15:30:00", calling="+12025550801"),
            leg(N, "2026-08-06 17:30:00", trunk="BRAVO_IN", calling="+12025550802")]
    store = make_store(tmp_path / "store", rows)
    m = Matcher(store, peers(tmp_path))
    q = Inquiry.parse(N, at, **kw)  # type: ignore[arg-type]
    single = m.lookup(q)
    batch = m.lookup_many([q], strategy="join")[0]
    assert batch == single
    check_schema(single)
    return [single]


def test_one_hour_early_and_one_hour_late_are_weighed_together(tmp_path: Path) -> None:
    (a,) = _two_slips(tmp_path, "2026-08-06T16:29:30Z")
    # Each 30 s from its hour: equally likely slips, from different upstreams.
    assert a.status == "ambiguous"
    assert a.match is not None and a.alternatives
    assert {a.match.offset_s, a.alternatives[0].offset_s} == {-3570.0, 3630.0}
    assert a.searched.steps_tried[-2:] == ["+1h offset (time-zone slip?)",
                                           "-1h offset (time-zone slip?)"]


def test_the_calling_number_picks_the_slip_in_either_direction(tmp_path: Path) -> None:
    (a,) = _two_slips(tmp_path, "2026-08-06T16:30:00Z", calling="2025550801")
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.match is not None and a.match.offset_s == -3600.0
    assert a.searched.step == "-1h offset (time-zone slip?)"


def test_a_nearer_call_from_another_calling_number_is_set_aside(tmp_path: Path) -> None:
    """The leg within 15 minutes came from another calling number; the one exactly an hour
    early has the inquiry's: a zone slip of the call asked about, the nearer one another call
    to the same number."""
    rows = [leg(N, "2026-08-06 16:40:00", calling="+12025550901"),
            leg(N, "2026-08-06 15:30:00", trunk="BRAVO_IN", calling="+12025550902")]
    store = make_store(tmp_path / "store", rows)
    m = Matcher(store, peers(tmp_path))
    q = Inquiry.parse(N, "2026-08-06T16:30:00Z", "2025550902")
    a = m.lookup(q)
    assert m.lookup_many([q], strategy="join")[0] == a
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Bravo Telecom"
    assert a.match is not None and a.match.offset_s == -3600.0
    assert any("+600 s" in w and "set aside" in w for w in a.warnings)
    # Without a calling number nothing is set aside: the nearest call answers.
    b = m.lookup(Inquiry.parse(N, "2026-08-06T16:30:00Z"))
    assert b.match is not None and b.match.offset_s == 600.0


def test_a_disagreeing_calling_number_with_nothing_better_stays_ambiguous(
        tmp_path: Path) -> None:
    a = ask(tmp_path, [leg(N, "2026-08-06 16:31:00", calling="+12025550901")], N,
            "2026-08-06T16:30:00Z", calling="2025550999")
    assert a.status == "ambiguous"
    assert a.match is not None and a.match.offset_s == 60.0
    assert a.searched.step == "±120s"
    # Every step to ±24 h was searched for a call with the inquiry's calling number, and the
    # answer says so: reported as ±120s alone, it sent the reader to search the hours again.
    assert a.searched.steps_tried[-1].startswith("whole-hour offsets ±1h..±24h"), a.searched
    assert a.searched.found_window() == "±120s"


def test_a_call_our_customer_forwarded_answers_from_where_it_came_in(tmp_path: Path) -> None:
    """A customer's outbound record answers `originating`, unless the same call also came in
    from a carrier: then the customer forwarded it, and the carrier handed it to us."""
    fwd = "+13125559999"
    inbound = leg(N, "2026-11-20 14:03:20", trunk="BRAVO_IN", correlation_id="call-7")
    onward = leg(fwd, "2026-11-20 14:03:22", direction="outbound", trunk="CUST_TRUNK",
                 correlation_id="call-7")
    placed = leg(fwd, "2026-11-20 15:03:22", direction="outbound", trunk="CUST_TRUNK",
                 correlation_id="call-8")
    store = make_store(tmp_path / "store", [inbound, onward, placed])
    m = Matcher(store, peers(tmp_path))
    qs = [Inquiry.parse(fwd, "2026-11-20T14:03:22Z"), Inquiry.parse(fwd, "2026-11-20T15:03:22Z")]
    forwarded, own = [m.lookup(q) for q in qs]
    assert m.lookup_many(qs, strategy="join") == [forwarded, own]
    assert forwarded.status == "upstream"
    assert forwarded.upstream is not None and forwarded.upstream.provider == "Bravo Telecom"
    assert forwarded.match is not None and forwarded.match.leg_id == inbound["leg_id"]
    assert own.status == "originating"
    assert own.customer is not None and own.customer.name == "Dialer Co"
    assert not any("direction is unknown" in w for w in own.warnings)


def test_a_passport_that_does_not_hold_is_said_so(tmp_path: Path) -> None:
    """The answer's own leg carried a PASSporT that failed verification, was issued ten
    minutes before the call, or names another called number: each gets a warning."""
    from matchkit import utc

    good = leg(N, "2026-11-20 14:03:22", attest="A", stir_verified=True,
               iat_utc=utc("2026-11-20 14:03:21"), dest_tn="13125550100")
    bad = leg("+13125550101", "2026-11-20 14:03:22", attest="A", stir_verified=False,
              iat_utc=utc("2026-11-20 13:53:22"), dest_tn="13125550999")
    store = make_store(tmp_path / "store", [good, bad])
    m = Matcher(store, peers(tmp_path))
    ok = m.lookup(Inquiry.parse(N, "2026-11-20T14:03:22Z"))
    assert not any("PASSporT" in w for w in ok.warnings)
    a = m.lookup(Inquiry.parse("+13125550101", "2026-11-20T14:03:22Z"))
    text = " | ".join(a.warnings)
    assert "did not verify" in text and "600 s before the call" in text
    assert "another called number (13125550999)" in text


@given(st.integers(min_value=-6 * 10**16, max_value=4 * 10**15))
def test_iso_z_writes_the_instant_as_iso_8601_utc(us: int) -> None:
    from datetime import UTC, datetime, timedelta

    from tracehop.match.matcher import iso_z

    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    want = t.strftime("%Y-%m-%dT%H:%M:%S") if t.year >= 1000 else (
        f"{t.year:04d}" + t.strftime("-%m-%dT%H:%M:%S"))
    want += f".{t.microsecond:06d}Z" if t.microsecond else "Z"
    assert iso_z(us) == want
    assert datetime.fromisoformat(iso_z(us)) == t


@pytest.mark.parametrize(("orig", "dest"), [
    ("12025550111", "13125550100"),  # E.164 digits, as ATIS-1000074 asks
    ("2025550111", "3125550100"),  # NANP national form, as many signers write it
    ("+12025550111", "13125550199,13125550100"),  # a "+", and a PASSporT with two dest TNs
])
def test_a_passport_naming_the_same_numbers_in_another_form_agrees(
        tmp_path: Path, orig: str, dest: str) -> None:
    """A PASSporT's orig/dest written without the NANP country code, or with several
    destinations, names the inquiry's numbers: it counts for the call, never against it, and
    is no sign of a replayed token."""
    rows = [leg(N, "2026-11-20 14:03:22", calling="+12025550111", orig_tn=orig, dest_tn=dest,
                attest="A")]
    a = ask(tmp_path, rows, N, "2026-11-20T14:03:22Z", calling="+12025550111")
    assert a.status == "upstream" and a.match is not None
    assert not any("another called number" in w for w in a.warnings), a.warnings
    # time 1 + calling 1.5 + STIR orig 0.5 + dest 0.25
    assert a.match.score == 3.25


@pytest.mark.parametrize(("at", "said", "offset"), [
    # 01:30 on 2026-11-01 happened twice in New York: read as the first (EDT, 05:30Z); the
    # call was in the second (EST, 06:30Z).
    ("2026-11-01 01:30:00 America/New_York", "happened twice", 3600.0),
    ("2026-11-01T01:30:00[America/New_York]", "happened twice", 3600.0),
    # 02:30 on 2026-03-08 never happened there: read as 07:30Z, the call is at 06:30Z.
    ("2026-03-08 02:30:00 America/New_York", "does not exist", -3600.0),
])
def test_an_inquiry_local_time_in_a_dst_change_is_said(
        tmp_path: Path, at: str, said: str, offset: float) -> None:
    """A local inquiry time the zone makes ambiguous (or impossible) is read by the one rule
    (fold=0), and the answer says so rather than blaming a time-zone slip."""
    t = "2026-11-01 06:30:00" if offset > 0 else "2026-03-08 06:30:00"
    a = ask(tmp_path, [leg(N, t)], N, at)
    assert a.status == "upstream" and a.match is not None and a.match.offset_s == offset
    assert any(said in w and "give the UTC offset" in w for w in a.warnings), a.warnings
    assert ("DST" in a.searched.step) == (offset > 0)
    plain = ask(tmp_path / "plain", [leg(N, t)], N, "2026-11-20 01:30:00 America/New_York")
    assert not any("DST change" in w for w in plain.warnings)
