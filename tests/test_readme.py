"""The README's transcript is true: the same commands print the same answer."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehop.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _transcript() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ tracehop ...` in the README's console block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```console\n(.*?)```", text, re.S)
    assert block, "README has no console transcript"
    steps: list[tuple[str, list[str]]] = []
    lines = block.group(1).splitlines()
    i = 0
    while i < len(lines):
        cmd = lines[i][2:]
        i += 1
        while cmd.endswith("\\"):
            cmd = cmd[:-1] + lines[i].strip()
            i += 1
        out: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        steps.append((cmd, out))
    return steps


def test_readme_transcript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    steps = _transcript()
    assert [shlex.split(c)[1] for c, _ in steps] == ["ingest", "lookup"]
    for cmd, expected in steps:
        args = [str(tmp_path / "store") if a == "store" else a for a in shlex.split(cmd)[1:]]
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        got = result.output.splitlines()
        if args[0] == "lookup":
            assert got == expected
        else:  # the ingest summary: every line as shown but the elapsed time (it varies)
            for line in expected:
                if not line.startswith("elapsed"):
                    assert line in got


def test_readme_peer_directory_example_loads(tmp_path: Path) -> None:
    """The peer directory format the README shows (and the peers error points to) is one
    tracehop reads."""
    from tracehop.peers import PeerDirectory

    text = (ROOT / "README.md").read_text()
    block = re.search(r"## The peer directory.*?```toml\n(.*?)```", text, re.S)
    assert block, "README has no peer directory example"
    (tmp_path / "peers.toml").write_text(block.group(1))
    peers = PeerDirectory.load(tmp_path / "peers.toml")
    assert peers.resolve("ACME-7", None, None).name == "Acme Transit"  # type: ignore[union-attr]
    assert peers.resolve("x", None, "ACC42").role == "customer"  # type: ignore[union-attr]


def test_readme_json_answer_is_the_transcripts_and_follows_the_schema(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--json` prints the same answer as one TracebackAnswer object, valid under the schema
    the README links; the statuses the README lists are the schema's."""
    import json

    import jsonschema

    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    schema_path = re.search(r"\]\((tracehop/schemas/[^)]+\.json)\)", text)
    assert schema_path, "README links no JSON Schema"
    schema = json.loads((ROOT / schema_path.group(1)).read_text())
    listed = re.search(r"Status is one of ((?:`\w+`,?\s*)+)", text)
    assert listed
    assert re.findall(r"`(\w+)`", listed.group(1)) == schema["properties"]["status"]["enum"]
    runner = CliRunner()
    (ingest, _), (lookup, expected) = _transcript()
    for cmd in (ingest, lookup + " --json"):
        args = [str(tmp_path / "store") if a == "store" else a for a in shlex.split(cmd)[1:]]
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    jsonschema.Draft202012Validator(schema).validate(answer)
    shown = dict(line.split(None, 1) for line in expected if line[:1].strip())
    assert shown["Status"].startswith(answer["status"] + ":")
    assert shown["Confidence"] == f"{answer['confidence']:.2f}"
    assert answer["match"]["leg_id"] in shown["Record"]


def test_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The "As a library" snippet, on the store the transcript's ingest makes."""
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## As a library.*?```python\n(.*?)```", text, re.S)
    assert block, "README has no library example"
    (ingest, _), _ = _transcript()
    args = [str(tmp_path / "store") if a == "store" else a for a in shlex.split(ingest)[1:]]
    assert CliRunner().invoke(cli, args).exit_code == 0
    code = block.group(1).replace('Store.open("store")', f"Store.open({str(tmp_path / 'store')!r})")
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("upstream Upstream(provider='Acme Transit'")


def test_readme_commands_table_names_real_commands_and_options() -> None:
    """Every row of the README's command table is a command, and every option it shows is
    one of that command's."""
    import click

    text = (ROOT / "README.md").read_text()
    table = re.search(r"## Commands\n(.*?)\n\n", text, re.S)
    assert table
    cells = re.findall(r"^\| (`tracehop .*?) \| ", table.group(1), re.M)
    rows = [c.removeprefix("tracehop ") for cell in cells for c in re.findall(r"`([^`]+)`", cell)]
    assert len(rows) >= 15
    shown = set()
    for row in rows:
        words = row.split()
        cmd: click.Command = cli
        path = []
        while isinstance(cmd, click.Group):
            assert words[0] in cmd.commands, f"README names no such command: tracehop {row}"
            path.append(words[0])
            cmd = cmd.commands[words.pop(0)]
        shown.add(tuple(path))
        names = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", row):
            assert flag in names, f"tracehop {' '.join(path)} has no {flag}"
    assert {("token", "revoke"), ("audit", "verify"), ("rmd", "check")} <= shown
