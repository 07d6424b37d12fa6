"""The docs and every --help say only what the command line does: each option a shown
`tracehop ...` command uses is one of that command's, and docs/profiles.md's profiles load
and its worked example runs."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tracehop.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _command(words: list[str]) -> tuple[click.Command, list[str]] | None:
    """The command `words` (after `tracehop`) names, and the words after it; None if the
    first word is no command (prose: "tracehop answers ...")."""
    cmd: click.Command = cli
    path: list[str] = []
    while isinstance(cmd, click.Group):
        if not words or words[0] not in cmd.commands:
            if path:  # `tracehop token` with no subcommand is prose, a wrong one is not
                assert not words or words[0].startswith("-"), f"no command tracehop {path} {words}"
            return None if not path else (cmd, words)
        path.append(words[0])
        cmd = cmd.commands[words.pop(0)]
    return cmd, words


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def _check(line: str, where: str) -> int:
    """Assert every --option of the `tracehop ...` command on `line` exists; count them."""
    found = _command(line.split()[1:])
    if found is None:
        return 0
    cmd, rest = found
    flags = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", " ".join(rest))
    for flag in flags:
        assert flag in _options(cmd), f"{where}: `{line.strip()}`: {cmd.name} has no {flag}"
    return len(flags)


def _shown_commands(text: str) -> list[str]:
    """`tracehop ...` commands as the docs show them: in code spans and code blocks, with
    backslash continuations joined; a code block's comments dropped."""
    text = re.sub(r"\\\n\s*", " ", text)
    spans = re.findall(r"`(tracehop [^`\n]+)`", text)
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.sub(r"^\$ ", "", line.strip()).split(" #")[0]
            if line.startswith("tracehop "):
                spans.append(line)
    return spans


def test_every_option_the_docs_show_exists() -> None:
    checked = 0
    for doc in DOCS:
        for line in _shown_commands(doc.read_text()):
            checked += _check(line, doc.name)
    assert checked > 60


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _leaf_commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("name", _leaf_commands(cli), ids=lambda n: " ".join(n) or "tracehop")
def test_every_help_example_uses_real_options(name: tuple[str, ...]) -> None:
    res = CliRunner().invoke(cli, [*name, "--help"], terminal_width=200)
    assert res.exit_code == 0
    example = re.split(r"Example:|Quick start.*?:", res.output, maxsplit=1)[1]
    example = example.split("\nOptions:", 1)[0]
    lines = [ln.split("  #")[0] for ln in re.sub(r"\\\n\s*", " ", example).splitlines()]
    shown = [ln.strip() for ln in lines if ln.strip().startswith("tracehop")]
    assert shown, f"{name}: no `tracehop ...` line in the example"
    for line in shown:
        shlex.split(line)  # quotes balanced
        _check(line, f"tracehop {' '.join(name)} --help")


def test_profiles_md_sample_sections_load() -> None:
    """The annotated profile under "The sections" is a profile tracehop accepts (every key
    is checked, so a renamed or misspelt key in the docs fails here)."""
    from tracehop.ingest.profile import parse_profile

    text = (ROOT / "docs" / "profiles.md").read_text()
    block = re.search(r"## The sections\n\n```toml\n(.*?)```", text, re.S)
    assert block
    assert parse_profile(tomllib.loads(block.group(1)), "profiles.md").name == "acme_sbc"


def test_profiles_md_worked_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worked example: the CSV shown is the fixture, and "Try it" stores its three rows."""
    import json

    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "profiles.md").read_text()
    shown = re.search(r"An SBC exports this \(`([^`]+)`\):\n\n```\n(.*?)```", text, re.S)
    assert shown
    assert (ROOT / shown.group(1)).read_text() == shown.group(2)
    try_it = re.search(r"Try it:\n\n```\n(.*?)```", text, re.S)
    assert try_it
    args = shlex.split(try_it.group(1).replace("\\\n", " "))[1:]
    args = [str(tmp_path / "acme.store") if a == "/tmp/acme.store" else a for a in args]
    res = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert (summary["read"], summary["stored"], summary["rejected"]) == (3, 3, 0)
