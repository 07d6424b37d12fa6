"""`tracehop lookup`: human output, --json, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, leg, make_store

from tracehop.answer import TracebackAnswer
from tracehop.cli import cli

N = "+13125550100"


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[str, str]:
    make_store(tmp_path / "store", [
        leg(N, "2026-11-20 14:03:30", calling="+12025550111", source_record=42),
        leg(N, "2026-11-20 14:03:25", trunk="BRAVO_IN", calling="+19995550000"),
    ])
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    return str(tmp_path / "store"), str(tmp_path / "peers.toml")


def test_json_answer(setup: tuple[str, str]) -> None:
    store, peers = setup
    r = CliRunner().invoke(cli, ["lookup", "--store", store, "--called", "(312) 555-0100",
                                 "--at", "2026-11-20T09:03:22-05:00", "--calling",
                                 "202-555-0111", "--peers", peers, "--json"])
    assert r.exit_code == 0, r.output
    a = TracebackAnswer.from_dict(json.loads(r.output))
    assert a.status == "upstream"
    assert a.upstream is not None and a.upstream.provider == "Acme Transit"
    assert a.match is not None and a.match.evidence.record == 42
    assert a.inquiry.time_utc == "2026-11-20T14:03:22Z"


def test_human_output_shows_status_upstream_record_and_alternatives(
        setup: tuple[str, str]) -> None:
    store, peers = setup
    r = CliRunner().invoke(cli, ["lookup", "--store", store, "--called", N, "--at",
                                 "2026-11-20T14:03:22Z", "--peers", peers])
    assert r.exit_code == 0, r.output
    assert "Status      ambiguous" in r.output
    assert "Upstream    Bravo Telecom, trunk BRAVO_IN" in r.output
    assert "Runners-up  2026-11-20T14:03:30Z (+8.0 s)  Acme Transit" in r.output
    assert "Searched    2026-11-20T14:01:22Z .. 2026-11-20T14:05:22Z  (step ±120s)" in r.output
    assert "Evidence    /data/Master.csv" in r.output


def test_window_and_no_peers(setup: tuple[str, str]) -> None:
    store, _ = setup
    r = CliRunner().invoke(cli, ["lookup", "--store", store, "--called", N, "--at",
                                 "2026-11-20 14:00:00", "--window", "30", "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.output)
    assert a["status"] == "ambiguous"  # two unmapped trunks, 3.5 min after, ±15min step
    assert a["searched"]["step"] == "±15min"
    assert "time had no zone; read as UTC" in a["warnings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--called", "hello", "--at", "2026-11-20T14:03:22Z"], "is not a valid phone number"),
        (["--called", N, "--at", "yesterday"], "is not a date-time tracehop reads"),
        (["--called", N, "--at", "2026-11-20T14:03:22Z", "--window", "0"], "0.001<=x<=86400"),
        (["--called", N, "--at", "2026-11-20T14:03:22Z", "--window", "2 fortnights"],
         "not a number of seconds. Give the half-width in seconds"),
    ],
)
def test_bad_input_is_one_clear_error(setup: tuple[str, str], args: list[str],
                                      message: str) -> None:
    store, _ = setup
    r = CliRunner().invoke(cli, ["lookup", "--store", store, *args])
    assert r.exit_code != 0
    assert message in r.output


def test_missing_store_and_bad_peers(tmp_path: Path, setup: tuple[str, str]) -> None:
    store, _ = setup
    r = CliRunner().invoke(cli, ["lookup", "--store", str(tmp_path / "none"), "--called", N,
                                 "--at", "2026-11-20T14:03:22Z"])
    assert r.exit_code == 1 and "Error:" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[peer]]\nname = "Acme"\nrole = "upsteam"\ntrunks = ["A"]\n')
    r = CliRunner().invoke(cli, ["lookup", "--store", store, "--called", N,
                                 "--at", "2026-11-20T14:03:22Z", "--peers", str(bad)])
    assert r.exit_code == 1
    assert "bad.toml:3: peer #1 'Acme': role 'upsteam' is not one of" in r.output


def test_one_call_with_another_calling_number_says_so(tmp_path: Path) -> None:
    # Ambiguous because the only call found disagrees on the calling number, not because
    # more than one call fits: the text must not claim a second call.
    make_store(tmp_path / "store", [leg(N, "2026-11-20 14:03:30", calling="+19995550000")])
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    r = CliRunner().invoke(cli, ["lookup", "--store", str(tmp_path / "store"), "--called", N,
                                 "--at", "2026-11-20T14:03:22Z", "--calling", "202-555-0111",
                                 "--peers", str(tmp_path / "peers.toml")])
    assert r.exit_code == 0, r.output
    assert "the one call found has another calling number" in r.output
    assert "more than one call fits" not in r.output


def test_a_record_without_a_calling_number_says_none(tmp_path: Path) -> None:
    make_store(tmp_path / "store", [leg(N, "2026-11-20 14:03:30", calling=None)])
    r = CliRunner().invoke(cli, ["lookup", "--store", str(tmp_path / "store"), "--called", N,
                                 "--at", "2026-11-20T14:03:22Z"])
    assert r.exit_code == 0, r.output
    assert "calling (none)" in r.output and "None" not in r.output


def test_region_reads_a_national_number_of_another_country(tmp_path: Path) -> None:
    """A store of a UK provider's calls: the national form 020 7946 0958 is +442079460958
    with --region GB (as respond's --region), and no valid US number without it."""
    make_store(tmp_path / "store", [leg("+442079460958", "2026-11-20 14:03:30")])
    args = ["lookup", "--store", str(tmp_path / "store"), "--called", "020 7946 0958",
            "--at", "2026-11-20T14:03:22Z", "--json"]
    r = CliRunner().invoke(cli, [*args, "--region", "GB"])
    assert r.exit_code == 0, r.output
    a = TracebackAnswer.from_dict(json.loads(r.output))
    assert a.inquiry.called == "+442079460958" and a.match is not None
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and "not a valid phone number" in r.output
