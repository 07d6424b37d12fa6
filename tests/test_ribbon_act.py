"""Ribbon/Sonus .ACT records as the SBC writes them.

The Nature of Address of the numbers (ribbon.NOA_CODES): a called number written without its
country code but marked international (NOA 4, ITU-T Q.763 §3.9) is that country's number:
442079460958 is +44 20 7946 0958, not a US national number. NOA national keeps the profile's
region. And a file of START records only (calls still up when it closed) is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.ingest.ribbon import POSITIONS
from tracehop.ingest.run import parse_file

HEADER = "SBC1,V09.02.00,11/20/2026,09:00:00.0,FILE OPENED\n"


def _record(rtype: str, width: int, values: dict[str, str]) -> str:
    fields = [""] * width
    fields[0] = rtype
    base = {"gateway": "SBC1", "node_tz": "GMT-05:00-Eastern", "start_date": "11/20/2026",
            "start_clock": "09:03:22.1", "ingress_tg": "TG_CARRA"}
    for k, v in {**base, **values}.items():
        fields[POSITIONS[rtype][k] - 1] = v
    return ",".join(fields)


def _legs(tmp_path: Path, *records: str) -> list[dict[str, object]]:
    f = tmp_path / "sbc1.ACT"
    f.write_text(HEADER + "\n".join(records) + "\n")
    res = parse_file(f, "ribbon_sbc_act")
    assert res.rejects.num_rows == 0, res.rejects.column("reason").to_pylist()
    return res.legs.to_pylist()


@pytest.mark.parametrize("noa", ["4", "international", "INTERNATIONAL", "115"])
def test_an_international_called_number_keeps_its_country(tmp_path: Path, noa: str) -> None:
    stop = _record("STOP", 235, {
        "accounting_id": "0x1", "disconnect_date": "11/20/2026",
        "disconnect_clock": "09:04:22.1", "calling_number": "2025550111",
        "called_number": "442079460958", "dialed_number": "442079460958",
        "called_number_noa": noa, "dialed_number_noa": noa, "calling_number_noa": "3"})
    (leg,) = _legs(tmp_path, stop)
    assert leg["called_raw"] == "442079460958"  # as the switch wrote it
    assert leg["called_e164"] == "+442079460958"
    assert leg["calling_e164"] == "+12025550111"


def test_a_national_number_keeps_the_default_country(tmp_path: Path) -> None:
    attempt = _record("ATTEMPT", 167, {
        "accounting_id": "0x2", "disconnect_date": "11/20/2026", "disconnect_clock": "09:03:40.0",
        "disconnect_reason": "19", "called_number": "4155550100", "dialed_number": "4155550100",
        "dialed_number_noa": "3", "called_number_noa": "3", "final_attempt": "1"})
    (leg,) = _legs(tmp_path, attempt)
    assert leg["called_e164"] == "+14155550100"


def test_the_noa_of_the_number_used_decides(tmp_path: Path) -> None:
    """called_raw is the Dialed Number when there is one: its NOA (field 78) counts, not
    the Called Party NOA of the translated number (field 51)."""
    stop = _record("STOP", 235, {
        "accounting_id": "0x3", "disconnect_date": "11/20/2026",
        "disconnect_clock": "09:04:22.1", "calling_number": "2025550111",
        "incoming_calling_number": "33142278186", "incoming_calling_number_noa": "4",
        "called_number": "12125550100", "called_number_noa": "4",
        "dialed_number": "2125550100", "dialed_number_noa": "3"})
    (leg,) = _legs(tmp_path, stop)
    assert leg["called_e164"] == "+12125550100"
    assert leg["calling_raw"] == "33142278186" and leg["calling_e164"] == "+33142278186"


def test_noa_positions_follow_the_field_reference() -> None:
    # SBC Core CDR Field Descriptions, Accounting Records Summary (Calling/Called Party NOA,
    # Dialed Number NOA, Incoming Calling Number NOA), per record type.
    got = {t: tuple(POSITIONS[t][f"{n}_noa"] for n in (
        "calling_number", "called_number", "dialed_number", "incoming_calling_number"))
        for t in POSITIONS}
    assert got == {"START": (40, 41, 64, 96), "STOP": (50, 51, 78, 115),
                   "ATTEMPT": (43, 44, 68, 107)}


def test_a_file_of_start_records_only_is_read(tmp_path: Path) -> None:
    """Every call still up when the file closed: only START records, which have no disconnect
    date or clock (the reader failed with a Polars ColumnNotFoundError)."""
    start = _record("START", 150, {
        "accounting_id": "0x4", "calling_number": "2025550111", "called_number": "3125550100",
        "setup_to_service_ticks": "500"})
    (leg,) = _legs(tmp_path, start)
    assert leg["end_utc"] is None and leg["disposition"] == "answered"
    assert leg["called_e164"] == "+13125550100"
