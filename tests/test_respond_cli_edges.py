"""Edges of `respond`, `lookup`, `audit`, `token` and `rmd` at the CLI, through click's CliRunner:
evidence packs never overwritten, the windows actually searched, the caveats in portal.txt,
--help width and examples, --window bounds, and the peer role in `rmd check`."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from test_respond import LEGS, leg, make_store

from tracehop.cli import cli
from tracehop.errors import ConfigError
from tracehop.respond.evidence import write_pack

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "respond"
PEERS = str(FIX / "peers.toml")
RMD = str(FIX / "rmd_export.csv")

#: One leg per caveat: L11 plain (Acme), L12/L13 two hand-offs 5 s apart (ambiguous without a
#: calling number), L14 one hour and 5 s late (found only at the +1h step), L15 a foreign peer.
EDGE_LEGS = [
    leg("L11", "+13125550200", "2026-11-20T14:03:25Z", "ACME_IN_1", calling_e164="+12025550111"),
    leg("L12", "+13125550201", "2026-11-20T14:03:25Z", "SHADY-7"),
    leg("L13", "+13125550201", "2026-11-20T14:03:30Z", "ACME_IN_1"),
    leg("L14", "+13125550202", "2026-11-20T15:03:27Z", "ACME_IN_1"),
    leg("L15", "+13125550203", "2026-11-20T14:03:25Z", "GLOBE_INTL"),
]

EDGE_CSV = """\
id,called,calling,time,received
NAIVE,+13125550200,+12025550111,2026-11-20 14:03:22,
AMBIG,+13125550201,,2026-11-20T14:03:22Z,
WIDE,+13125550202,,2026-11-20T14:03:22Z,
LATE,+13125550200,+12025550111,2026-11-20T14:03:22Z,2020-01-02T00:00:00Z
NONE,+13125550299,,2026-11-20T14:00:00Z,
POE,+13125550203,,2026-11-20T14:03:22Z,
"""


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("edges") / "store"
    make_store(d, LEGS + EDGE_LEGS)
    return str(d)


@pytest.fixture(scope="module")
def packs(store_dir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """portal.txt of each EDGE_CSV row, by id (one respond run with --evidence and --rmd)."""
    tmp = tmp_path_factory.mktemp("edge-packs")
    (tmp / "inq.csv").write_text(EDGE_CSV)
    r = CliRunner().invoke(cli, ["respond", str(tmp / "inq.csv"), "--store", store_dir,
                                 "--peers", PEERS, "--rmd", RMD, "--evidence",
                                 str(tmp / "packs"), "--out", str(tmp / "a.jsonl")])
    assert r.exit_code == 0, r.output
    return {d.name.split("-", 1)[1]: (d / "portal.txt").read_text()
            for d in sorted((tmp / "packs").iterdir())}


def _respond(store_dir: str, inquiries: Path, *extra: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["respond", str(inquiries), "--store", store_dir,
                                    "--peers", PEERS, *extra])


# -- 1. evidence packs are never overwritten ---------------------------------------------------


@pytest.mark.parametrize("with_ids", [True, False])
def test_a_second_run_into_the_same_evidence_directory_is_refused_before_writing(
        store_dir: str, tmp_path: Path, with_ids: bool) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    if with_ids:  # same reference in row 1, another call
        first.write_text("id,called,calling,time\nR1,+13125550100,,2026-11-20T14:03:22Z\n")
        second.write_text("id,called,calling,time\nR1,+13125550101,,2026-11-20T14:10:00Z\n")
        name = "00001-R1"
    else:  # same called number in row 1, another time
        first.write_text("called,calling,time\n+13125550100,,2026-11-20T14:03:22Z\n")
        second.write_text("called,calling,time\n+13125550100,,2026-11-20T18:00:00Z\n")
        name = "00001-+13125550100"
    packs, audit = tmp_path / "packs", tmp_path / "audit.jsonl"
    r = _respond(store_dir, first, "--evidence", str(packs), "--audit", str(audit),
                 "--out", str(tmp_path / "first.jsonl"))
    assert r.exit_code == 0, r.output
    given = (packs / name / "answer.json").read_bytes()
    assert json.loads(given)["status"] == "upstream"
    audit_before = audit.read_bytes()

    out = tmp_path / "second.jsonl"
    r = _respond(store_dir, second, "--evidence", str(packs), "--audit", str(audit),
                 "--out", str(out))
    assert r.exit_code == 1
    assert "Error:" in r.output and "new --evidence directory" in r.output
    assert name in r.output
    # nothing was written: the earlier pack, the audit log, no answers file
    assert (packs / name / "answer.json").read_bytes() == given
    assert [p.name for p in packs.iterdir()] == [name]
    assert audit.read_bytes() == audit_before
    assert not out.exists()

    # a new directory for the second run works
    r = _respond(store_dir, second, "--evidence", str(tmp_path / "packs2"), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "packs2" / name / "answer.json").read_bytes() != given


def test_zipped_packs_of_an_earlier_run_are_refused_too(store_dir: str, tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    args = ["--evidence", str(packs), "--zip", "--out", str(tmp_path / "a.jsonl")]
    assert _respond(store_dir, FIX / "inquiries.csv", *args).exit_code == 0
    zipped = (packs / "00001-TB-1.zip").read_bytes()
    r = _respond(store_dir, FIX / "inquiries.csv", *args)
    assert r.exit_code == 1 and "Error:" in r.output and "00001-TB-1.zip" in r.output
    assert (packs / "00001-TB-1.zip").read_bytes() == zipped
    # unzipped into the same directory: refused as well (it would delete nothing, but mix runs)
    r = _respond(store_dir, FIX / "inquiries.csv", "--evidence", str(packs))
    assert r.exit_code == 1 and "new --evidence directory" in r.output


def test_write_pack_never_replaces_a_pack(tmp_path: Path) -> None:
    answer = {"inquiry": {"called": "+13125550100"}, "status": "not_found"}
    write_pack(tmp_path, "00001-x", answer, None)
    before = (tmp_path / "00001-x" / "answer.json").read_bytes()
    with pytest.raises(ConfigError, match="never overwritten"):
        write_pack(tmp_path, "00001-x", answer | {"status": "upstream"}, None)
    assert (tmp_path / "00001-x" / "answer.json").read_bytes() == before


# -- 2. what was actually searched -------------------------------------------------------------


def test_lookup_text_of_not_found_lists_the_windows_not_a_continuous_range(
        store_dir: str) -> None:
    args = ["lookup", "--store", store_dir, "--called", "+13125550299",
            "--at", "2026-11-20T14:00:00Z"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "2026-11-19T13:58:00Z .. 2026-11-21T14:02:00Z" not in r.output
    assert "Searched    only these windows around 2026-11-20T14:00:00Z:" in r.output
    for w in ("±120s", "±15min", "whole-hour offsets ±1h..±24h, each ±120s"):
        assert f"\n              {w}\n" in r.output
    assert "not found in any of them; the time between them was not searched" in r.output
    # the JSON contract is unchanged
    j = CliRunner().invoke(cli, [*args, "--json"])
    searched = json.loads(j.output)["searched"]
    assert searched == {"from_utc": "2026-11-19T13:58:00Z", "to_utc": "2026-11-21T14:02:00Z",
                        "step": "not found within ±24h (all steps)",
                        "steps_tried": ["±120s", "±15min",
                                        "whole-hour offsets ±1h..±24h, each ±120s"]}


def test_lookup_text_of_a_time_zone_slip_shows_the_window_that_found_it(store_dir: str) -> None:
    r = CliRunner().invoke(cli, ["lookup", "--store", store_dir, "--called", "+13125550202",
                                 "--at", "2026-11-20T14:03:22Z", "--peers", PEERS])
    assert r.exit_code == 0, r.output
    assert ".. 2026-11-20T15:05:22Z" not in r.output  # the time between was not searched
    assert "Searched    only these windows around 2026-11-20T14:03:22Z:" in r.output
    assert "              ±120s around +1h (time-zone slip?)  <- found here" in r.output
    # -1h is the same level as +1h: searched too, found nothing.
    assert "              ±120s around -1h (time-zone slip?)\n" in r.output


def test_portal_txt_lists_the_windows_searched(packs: dict[str, str]) -> None:
    none = packs["NONE"]  # plain ASCII: "+/-", not "\u00b1"
    assert "Window searched: 2026-11-19" not in none
    assert ("Windows searched around 2026-11-20T14:00:00Z, and only these (not the time "
            "between them):\n  +/-120s\n  +/-15min\n"
            "  whole-hour offsets +/-1h..+/-24h, each +/-120s\n"
            "Not found in any of them.\n") in none
    assert "Found in: +/-120s around +1h (time-zone slip?)." in packs["WIDE"]
    # a match in the first window: that window was searched whole
    assert ("Window searched: 2026-11-20T14:01:22Z to 2026-11-20T14:05:22Z (+/-120s)"
            in packs["LATE"])


# -- 3. the caveats a person must see in portal.txt --------------------------------------------


def _warnings(portal: str) -> str:
    assert "\nWarnings (read before submitting):\n" in portal, portal
    return " ".join(portal.split("Warnings (read before submitting):\n", 1)[1].split())


def test_portal_txt_says_a_naive_time_was_read_as_utc(packs: dict[str, str]) -> None:
    assert "- time had no zone; read as UTC" in _warnings(packs["NAIVE"])


def test_portal_txt_says_an_answer_is_ambiguous_and_who_else_fits(
        packs: dict[str, str]) -> None:
    p = packs["AMBIG"]
    assert "Result: AMBIGUOUS" in p
    assert "Best fit: Shady Routes over trunk SHADY-7." in p
    assert ("Also fits: a call at 2026-11-20T14:03:30Z (+8.0 s from the time given) from "
            "Acme Transit over trunk ACME_IN_1.") in p
    assert "other call(s) from a different hand-off match almost as well" in _warnings(p)


def test_portal_txt_says_a_match_was_found_only_by_widening(packs: dict[str, str]) -> None:
    w = _warnings(packs["WIDE"])
    assert "found only by widening the search: +1h offset (time-zone slip?)" in w
    assert "check the time zone" in w


def test_portal_txt_says_the_answer_is_late(packs: dict[str, str]) -> None:
    assert "- late: the 24-hour deadline 2020-01-03T00:00:00Z passed" in _warnings(
        packs["LATE"])
    assert "Warnings" not in packs["NONE"]  # nothing to say: no section


def test_portal_txt_names_an_unlisted_foreign_provider_as_foreign(
        packs: dict[str, str]) -> None:
    w = _warnings(packs["POE"])
    assert "- foreign provider Globe Carrier is not listed in the Robocall Mitigation" in w


# -- 4. --help: an example everywhere, 80 columns ----------------------------------------------


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            out += _commands(sub, (*path, name))
    return out


@pytest.mark.parametrize("path", _commands(cli), ids=lambda p: " ".join(p) or "tracehop")
def test_every_help_has_an_example_and_fits_80_columns(path: tuple[str, ...]) -> None:
    r = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    wide = [line for line in r.output.splitlines() if len(line) > 80]
    assert wide == [], wide
    example = " ".join(("tracehop", *path)) if path else "tracehop "
    assert any(line.lstrip().startswith(example) for line in r.output.splitlines()
               if line.startswith("    ")), r.output


def test_respond_help_says_how_a_batch_is_matched() -> None:
    r = CliRunner().invoke(cli, ["respond", "--help"], env={"COLUMNS": "80"})
    text = " ".join(r.output.split())
    assert "The batch is matched as one join" not in text
    assert "A small batch is answered one lookup per inquiry, a large one as one join" in text


# -- 5. --window: the library's bounds, finite ------------------------------------------------


@pytest.mark.parametrize("value", ["0.0005", "0", "86400.5", "nan", "NaN", "inf", "-inf"])
def test_window_outside_the_library_bounds_or_not_finite_is_a_usage_error(
        tmp_path: Path, value: str) -> None:
    r = CliRunner().invoke(cli, ["lookup", "--store", str(tmp_path / "none"), "--called",
                                 "+13125550100", "--at", "2026-11-20T14:03:22Z",
                                 f"--window={value}"])
    assert r.exit_code == 2, r.output  # click's usage error, before any store is opened
    assert "Invalid value for '--window'" in r.output
    assert "0.001<=x<=86400" in r.output or "is not a number of seconds" in r.output
    assert "Traceback" not in r.output


def test_window_help_shows_the_library_bounds() -> None:
    r = CliRunner().invoke(cli, ["lookup", "--help"], env={"COLUMNS": "80"})
    assert "0.001<=x<=86400" in r.output and "0<x<=86400" not in r.output


def test_the_smallest_window_is_accepted(store_dir: str) -> None:
    r = CliRunner().invoke(cli, ["lookup", "--store", store_dir, "--called", "+13125550200",
                                 "--at", "2026-11-20T14:03:25Z", "--window", "0.001",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["inquiry"]["window_s"] == 0.001


# -- 6. rmd check names the peer's role ------------------------------------------------------


def test_rmd_check_prints_the_peers_actual_role() -> None:
    r = CliRunner().invoke(cli, ["rmd", "check", RMD, "--peers", PEERS])
    assert r.exit_code == 1
    assert "NOT LISTED foreign provider Globe Carrier is not listed" in r.output
    assert "NOT LISTED upstream provider Shady Routes is not listed" in r.output
    assert "upstream provider Globe Carrier" not in r.output
    j = CliRunner().invoke(cli, ["rmd", "check", RMD, "--peers", PEERS, "--json"])
    roles = {c["provider"]: c["role"] for c in json.loads(j.stdout)["peers"]}
    assert roles == {"Acme Transit": "upstream", "Shady Routes": "upstream",
                     "Globe Carrier": "foreign"}
