"""The command line as a new user meets it: the common mistakes give one clear `Error:` line
with the fix, the same option behaves the same everywhere, and --help documents it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from matchkit import PEERS_TOML, leg, make_store

from tracehop.cli import cli

N = "+13125550100"


@pytest.fixture()
def store_and_peers(tmp_path: Path) -> tuple[Path, Path]:
    make_store(tmp_path / "store", [leg(N, "2026-11-20 14:03:30", calling="+12025550111")])
    (tmp_path / "peers.toml").write_text(PEERS_TOML)
    return tmp_path / "store", tmp_path / "peers.toml"


def _one_error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output and "Usage:" not in output
    return lines[0]


@pytest.mark.parametrize("command", ["lookup", "respond", "serve", "capture-dir"])
def test_a_file_given_as_the_store_is_the_stores_own_error_in_every_command(
        tmp_path: Path, store_and_peers: tuple[Path, Path], command: str) -> None:
    """lookup, respond, serve and capture-dir answered a file given as --store with click's
    "Directory 'x' is a file." (usage text, exit 2, no fix) where ingest, rejects, files,
    forget and compact give the store's error, which says how to fix it."""
    _, peers = store_and_peers
    not_a_store = tmp_path / "calls.csv"
    not_a_store.write_text("x\n")
    inquiries = tmp_path / "inq.csv"
    inquiries.write_text(f"called,time\n{N},2026-11-20T14:03:22Z\n")
    (tmp_path / "caps").mkdir()
    args = {
        "lookup": ["lookup", "--called", N, "--at", "2026-11-20T14:03:22Z"],
        "respond": ["respond", str(inquiries), "--peers", str(peers)],
        "serve": ["serve", "--peers", str(peers), "--tokens", str(tmp_path / "t.json")],
        "capture-dir": ["capture-dir", str(tmp_path / "caps")],
    }[command]
    r = CliRunner().invoke(cli, [*args, "--store", str(not_a_store)])
    assert r.exit_code == 1
    line = _one_error_line(r.output)
    assert str(not_a_store) in line and "--store" in line
    assert not_a_store.read_text() == "x\n"


def test_every_store_option_reads_DIR_in_help() -> None:
    for command in (["ingest"], ["rejects"], ["files"], ["forget"], ["lookup"], ["compact"],
                    ["respond"], ["serve"], ["capture-dir"]):
        r = CliRunner().invoke(cli, [*command, "--help"], terminal_width=80)
        assert r.exit_code == 0
        assert "--store DIR " in r.output, command


def test_an_expect_head_that_is_no_whole_hash_is_refused_not_reported_tampered(
        tmp_path: Path) -> None:
    """`--expect-head 3f2a...` (the help's example) or the 16-digit prefix a report shows can
    never match: the verify said "TAMPERED: entries were removed from the end" of a sound log
    and exited 1, as for a real truncation."""
    import json

    from tracehop.respond.audit import AuditLog, AuditRecord

    log = tmp_path / "audit.jsonl"
    AuditLog(log).append_many([AuditRecord(who="x", asked={}, searched=None, answered={})] * 3)
    runner = CliRunner()
    head = json.loads(runner.invoke(cli, ["audit", "verify", str(log), "--json"]).output)[
        "head_hash"]
    for bad in ("3f2a...", head[:16], head + "0", "z" * 64):
        r = runner.invoke(cli, ["audit", "verify", str(log), "--expect-head", bad])
        assert r.exit_code == 2, (bad, r.output)
        assert "TAMPERED" not in r.output
        assert "is not a head hash" in r.output and "64 hex digits" in r.output
    # the whole hash, as printed, in either case, verifies
    for good in (head, head.upper(), f" {head} "):
        r = runner.invoke(cli, ["audit", "verify", str(log), "--expect-head", good, "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["ok"] is True


def test_token_revoke_on_a_missing_token_file_says_the_file_does_not_exist(
        tmp_path: Path) -> None:
    """A mistyped --tokens path said "no active token named 'consortium'" (the requester
    seemed unknown) and left a .lock file beside the path."""
    from tracehop.service.tokens import read_entries

    missing = tmp_path / "tokns.json"
    r = CliRunner().invoke(cli, ["token", "revoke", "consortium", "--tokens", str(missing)])
    assert r.exit_code == 1
    line = _one_error_line(r.output)
    assert str(missing) in line and "does not exist" in line and "--tokens" in line
    assert "no active token" not in line
    assert list(tmp_path.iterdir()) == []
    # the file that exists: revoke works as before
    good = tmp_path / "tokens.json"
    assert CliRunner().invoke(cli, ["token", "add", "consortium", "--tokens", str(good)]
                              ).exit_code == 0
    r = CliRunner().invoke(cli, ["token", "revoke", "consortium", "--tokens", str(good)])
    assert r.exit_code == 0, r.output
    assert [e.active for e in read_entries(good)] == [False]


@pytest.mark.parametrize("hours", ["-1", "0"])
def test_capture_dir_refuses_a_horizon_not_above_zero_in_the_hours_given(
        tmp_path: Path, hours: str) -> None:
    """--horizon -1 said "horizon must be a positive number of seconds, not -3600.0": a
    number the user never typed, in a unit the option does not take."""
    (tmp_path / "caps").mkdir()
    r = CliRunner().invoke(cli, ["capture-dir", str(tmp_path / "caps"), "--store",
                                 str(tmp_path / "s"), "--horizon", hours])
    assert r.exit_code == 2
    assert "Invalid value for '--horizon'" in r.output and f"{float(hours)}" in r.output
    assert "3600" not in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s").exists()
    ok = CliRunner().invoke(cli, ["capture-dir", str(tmp_path / "caps"), "--store",
                                  str(tmp_path / "s"), "--horizon", "inf", "--json"])
    assert ok.exit_code == 0, ok.output


def test_a_missing_store_says_how_to_fix_it_in_a_sentence(tmp_path: Path) -> None:
    """The most common mistake of every command (a mistyped --store) read "... (no
    DIR/_delta_log). check --store, or create one by ingesting": the fix is a sentence of
    its own, as in every other `Error: what happened. How to fix it.` line."""
    missing = tmp_path / "calls.store"
    for args in (["files"], ["rejects"], ["compact"],
                 ["lookup", "--called", N, "--at", "2026-11-20T14:03:22Z"]):
        r = CliRunner().invoke(cli, [*args, "--store", str(missing)])
        assert r.exit_code == 1
        line = _one_error_line(r.output)
        assert "no tracehop store here" in line and ". Check --store, or create one" in line
    assert not missing.exists()


def test_a_bad_sip_local_net_says_how_to_fix_it_in_a_sentence(tmp_path: Path) -> None:
    f = tmp_path / "Master.csv"
    f.write_text("x\n")
    r = CliRunner().invoke(cli, ["ingest", str(f), "--store", str(tmp_path / "s"),
                                 "--sip-local-net", "notacidr"])
    assert r.exit_code == 1
    line = _one_error_line(r.output)
    assert "'notacidr'" in line and ". Give CIDRs like 192.0.2.0/24" in line


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    assert isinstance(group, click.Group)
    out: list[tuple[str, ...]] = []
    for name, cmd in group.commands.items():
        out.append((*path, name))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*path, name)))
    return out


def test_the_top_level_help_lists_every_command_whole_and_says_the_exit_codes() -> None:
    """At 80 columns the command list cut every summary short ("Read CDR exports (files or
    directories) into the call-leg..."), and no help said what the exit codes mean."""
    r = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert r.exit_code == 0
    listed = r.output.split("Commands:")[1]
    assert "..." not in listed
    for name, _ in cli.commands.items():
        assert f"\n  {name} " in listed
    assert "Exit status:" in r.output
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n      {code}" in r.output
    assert "tracehop ingest " in r.output and "tracehop lookup " in r.output


def test_every_help_fits_80_columns_has_an_example_and_explains_every_option() -> None:
    runner = CliRunner()
    for command in _commands(cli):
        r = runner.invoke(cli, [*command, "--help"], terminal_width=80)
        assert r.exit_code == 0, command
        assert all(len(line) <= 80 for line in r.output.splitlines()), command
        assert "Example:" in r.output, command
        if "Commands:" in r.output:  # a group: its subcommands' summaries whole
            assert "..." not in r.output.split("Commands:")[1], command
        options = r.output.split("Options:")[1]
        # every option line starts a description: none stands with only its name and type
        for line in options.splitlines():
            if line.startswith("  -"):
                name_and_help = line.strip().split("  ", 1)
                assert len(name_and_help) == 2 and not name_and_help[1].strip().startswith(
                    "["), (command, line)


def test_ingest_of_an_empty_directory_names_it(tmp_path: Path) -> None:
    """`ingest /var/spool/cdr` with no file in it said "no files to ingest. Name CDR files or
    directories", naming none: which of the paths given was empty?"""
    import json

    empty = tmp_path / "cdr"
    (empty / ".hidden").mkdir(parents=True)
    (empty / ".hidden" / "Master.csv").write_text("x\n")
    store = tmp_path / "s"
    r = CliRunner().invoke(cli, ["ingest", str(empty), "--store", str(store)])
    assert r.exit_code == 1
    line = _one_error_line(r.output)
    assert f"{empty}: the directory holds no files to ingest" in line
    assert "starts with '.'" in line
    r = CliRunner().invoke(cli, ["ingest", str(empty), "--store", str(store), "--json"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout)
    assert summary["files"] == 0 and summary["errors"][0]["path"] == str(empty)
    assert not store.exists()


def test_serve_with_a_damaged_token_file_says_so_once(
        tmp_path: Path, store_and_peers: tuple[Path, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    """The log line "token file unusable, refusing every request until it is fixed: ..."
    (meant for a running service) came before the same message as the Error: line."""
    store, peers = store_and_peers
    tokens = tmp_path / "tokens.json"
    tokens.write_text("not json\n")
    r = CliRunner().invoke(cli, ["serve", "--store", str(store), "--peers", str(peers),
                                 "--tokens", str(tokens)])
    assert r.exit_code == 1
    line = _one_error_line(r.output)
    assert str(tokens) in line and "not valid JSON" in line
    assert not any("unusable" in rec.getMessage() for rec in caplog.records)


def test_respond_help_gives_a_business_hours_file_that_loads(tmp_path: Path) -> None:
    """--hours said "Business hours (TOML)": its form was in a module docstring only."""
    from tracehop.respond.deadline import load_clock

    r = CliRunner().invoke(cli, ["respond", "--help"], terminal_width=200)
    help_line = next(ln for ln in r.output.splitlines() if "--hours" in ln and "TOML" in ln)
    for key in ("[hours]", 'zone = "America/New_York"', 'mon = "08:00-18:00"',
                'holidays = ["2026-12-25"]'):
        assert key in help_line
    hours = tmp_path / "hours.toml"
    hours.write_text('[hours]\nzone = "America/New_York"\nmon = "08:00-18:00"\n'
                     'holidays = ["2026-12-25"]\n')
    assert load_clock(hours).hours is not None


def test_compact_and_lookup_help_name_what_their_options_take() -> None:
    r = CliRunner().invoke(cli, ["compact", "--help"], terminal_width=80)
    assert "--day YYYY-MM-DD " in r.output and "%Y" not in r.output
    r = CliRunner().invoke(cli, ["lookup", "--help"], terminal_width=80)
    for shown in ("--called NUM ", "--at TIME ", "--calling NUM "):
        assert shown in r.output


def test_capture_dir_text_summary_fits_80_columns_and_says_what_json_says(
        tmp_path: Path) -> None:
    """The summary was one line of about 200 columns."""
    import json
    import shutil

    from tracehop.store import Store

    fixtures = Path(__file__).parent.parent / "fixtures" / "sip"
    caps = tmp_path / "caps"
    caps.mkdir()
    for name in ("calls_udp.pcap", "calls_v6_tcp.pcapng"):
        shutil.copy(fixtures / name, caps / name)
    text = CliRunner().invoke(cli, ["capture-dir", str(caps), "--store", str(tmp_path / "a"),
                                    "--sip-local-net", "192.0.2.0/24"])
    assert text.exit_code == 0, text.output
    as_json = CliRunner().invoke(cli, ["capture-dir", str(caps), "--store",
                                       str(tmp_path / "b"), "--sip-local-net", "192.0.2.0/24",
                                       "--json"])
    out = json.loads(as_json.stdout)
    lines = text.stdout.splitlines()
    assert len(lines) == 3 and all(len(ln) <= 80 for ln in lines), lines
    assert lines[0].startswith(f"{out['files_seen']} captures: {out['files_read']} new")
    assert lines[1] == (f"{out['stored']} legs stored, {out['rejected']} rejected, "
                        f"{out['duplicates']} duplicates")
    assert lines[2].startswith(f"{out['dialogs_held']} open dialogs held for the next run")
    assert Store.open(tmp_path / "a").snapshot().rows == out["stored"] > 0


def test_respond_zip_without_evidence_is_refused_before_anything_is_answered(
        tmp_path: Path, store_and_peers: tuple[Path, Path]) -> None:
    """--zip without --evidence was ignored without a word: no pack was written or zipped."""
    store, peers = store_and_peers
    inquiries = tmp_path / "inq.csv"
    inquiries.write_text(f"called,time\n{N},2026-11-20T14:03:22Z\n")
    audit = tmp_path / "audit.jsonl"
    r = CliRunner().invoke(cli, ["respond", str(inquiries), "--store", str(store), "--peers",
                                 str(peers), "--zip", "--audit", str(audit)])
    assert r.exit_code == 2
    assert "--zip" in r.output and "--evidence" in r.output and "Traceback" not in r.output
    assert not audit.exists()
    packs = tmp_path / "packs"
    r = CliRunner().invoke(cli, ["respond", str(inquiries), "--store", str(store), "--peers",
                                 str(peers), "--zip", "--evidence", str(packs)])
    assert r.exit_code == 0, r.output
    assert [p.suffix for p in packs.iterdir()] == [".zip"]
