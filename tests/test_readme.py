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
        else:  # the ingest summary: every count line as shown (elapsed time varies)
            for line in expected:
                if not line.startswith(("elapsed", "  ")):
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
