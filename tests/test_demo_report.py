"""The demo's report and terminal output, from one small in-process run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from tracehop.demo.console import print_run, verdict_lines
from tracehop.demo.run import DemoRun, prepare_out, run_demo
from tracehop.report.html import render, write_report


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out = prepare_out(tmp_path_factory.mktemp("report") / "demo")
    return run_demo(out, calls=6, ordinary=40, silent={"keystone"})


def test_report_is_self_contained(run: DemoRun) -> None:
    html = render(run)
    # works offline: no scripts, no external stylesheets, fonts or images
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "@import" not in html and "url(http" not in html
    assert "<style>" in html


def test_report_draws_each_path_and_summarises_the_campaign(run: DemoRun) -> None:
    html = render(run)
    paths = {(tuple(c.providers()), c.end, c.origin) for c in run.chains}
    assert html.count("<svg") == len(paths)
    for c in run.chains:
        assert f">{c.example.ref}<" in html
        for h in c.hops:
            assert h.provider in html
    # calls per originating customer and per point of entry, with the counts
    n_orig = sum(c.end == "originating" for c in run.chains)
    n_poe = sum(c.end == "point_of_entry" for c in run.chains)
    n_silent = sum(c.end == "no_response" for c in run.chains)
    assert n_silent > 0
    assert re.search(rf'ROBO-7781</td><td>Summit Voice</td><td class="num">{n_orig}<', html)
    assert re.search(rf'Danube Telecom SRL</td><td class="num">{n_poe}<', html)
    assert re.search(rf'no response</td><td>Keystone Transit</td><td class="num">{n_silent}<',
                     html)
    assert f"{len(run.chains)}/{len(run.chains)} chains match" in html


def test_report_file_and_terminal_output(run: DemoRun, tmp_path: Path) -> None:
    path = write_report(run, tmp_path / "r.html")
    assert path.read_text("utf-8").startswith("<!DOCTYPE html>")
    console = Console(width=100, record=True, color_system=None)
    print_run(run, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "Campaign calls traced hop by hop" in text
    assert "no_response" in text and "Keystone Transit" in text
    [first] = verdict_lines(run)
    assert first.startswith(f"{len(run.chains)}/{len(run.chains)} campaign calls traced")
    assert first.endswith("all correct.")
