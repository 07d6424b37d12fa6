"""Importing the FCC Robocall Mitigation Database listing and checking upstream providers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import InputError, UnreadableFileError
from tracehop.respond.rmd import load_rmd, normalise_name

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"


def test_the_fcc_export_header_is_read_by_name() -> None:
    rmd = load_rmd(FIX / "rmd_export.csv")
    assert [f.rmd_number for f in rmd.filings] == ["RMD0001001", "RMD0001002", "RMD0001003"]
    acme = rmd.filings[0]
    assert acme.business_name == "Acme Transit, LLC"  # the comma inside quotes stays
    assert acme.frn == "0012345678"
    assert acme.other_names == ("Acme Voice", "AcmeNet")
    assert acme.implementation == "Complete STIR/SHAKEN Implementation"
    assert acme.roles == {"voice_service_provider": "Yes", "gateway_provider": "No",
                          "intermediate_provider": "Yes"}
    # the row with no business name is kept as skipped, with its line and reason
    assert rmd.skipped == [(5, "no business name")]
    assert rmd.summary()["filings"] == 3


def test_a_listed_provider_is_found_by_name_in_any_spelling() -> None:
    rmd = load_rmd(FIX / "rmd_export.csv")
    for name in ("Acme Transit", "ACME TRANSIT LLC", "acme transit, l.l.c.", "AcmeNet"):
        c = rmd.check(name)
        assert c.listed and c.matched_by == "name", name
        assert c.filing is not None and c.filing.rmd_number == "RMD0001001"
    assert rmd.check("Blue Ridge Telephone Company").listed  # previous business name
    assert rmd.check("Ocean Telecom").listed  # accents and legal form dropped


def test_an_unlisted_provider_is_flagged_for_refusal() -> None:
    rmd = load_rmd(FIX / "rmd_export.csv")
    c = rmd.check("Shady Routes Ltd", "9Z9Z")
    assert not c.listed
    assert "not listed in the Robocall Mitigation Database" in c.message
    assert "must be refused" in c.message
    assert c.to_dict()["action"] == "refuse traffic from this provider"


def test_display_labels_and_ocn_match_before_name() -> None:
    rmd = load_rmd(FIX / "rmd_labels.csv")
    assert rmd.columns["ocn"] == "OCN"
    c = rmd.check("Some Other Name", "7a1b")
    assert c.listed and c.matched_by == "ocn"
    assert c.filing is not None and c.filing.business_name == "Prairie Wireless Corporation"
    assert rmd.check(None, "456G").listed  # several OCNs in one cell
    assert rmd.check("Lakeside Networks").listed


def test_normalise_name() -> None:
    assert normalise_name("AT&T Corp.") == "at and t"
    assert normalise_name("The Company") == "the company"  # never reduced to nothing


def test_a_file_without_a_name_column_says_what_it_found(tmp_path: Path) -> None:
    p = tmp_path / "wrong.csv"
    p.write_text("id,label\n1,x\n")
    with pytest.raises(InputError, match="no business name column") as ei:
        load_rmd(p)
    assert "found: id, label" in str(ei.value)
    with pytest.raises(UnreadableFileError):
        load_rmd(tmp_path / "missing.csv")


def test_a_form_feed_or_line_separator_inside_a_cell_does_not_split_the_filing(
        tmp_path: Path) -> None:
    """Free-text cells (addresses pasted into the RMD form) may hold U+2028, U+0085 or a form
    feed; only CR/LF end a CSV record. Splitting there made a bogus filing out of the rest of
    the row (another column read as a business name: a provider wrongly "listed")."""
    p = tmp_path / "rmd.csv"
    p.write_text("number,business_name,business_address,other_dba_names\n"
                 "RMD1,Acme Transit LLC,1 Main St\x0cSuite 2,Shady Routes\n"
                 "RMD2,Blue Ridge,2 Ridge Rd\u2028Floor 3\x85East,\n", encoding="utf-8")
    listing = load_rmd(p)
    assert [(f.line, f.business_name, f.rmd_number) for f in listing.filings] == [
        (2, "Acme Transit LLC", "RMD1"), (3, "Blue Ridge", "RMD2")]
    assert listing.skipped == []
    assert listing.check("Shady Routes").filing == listing.filings[0]
