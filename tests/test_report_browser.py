"""The demo's HTML report rendered in headless Chromium; the screenshot is kept as an artifact
under test-artifacts/ (gitignored)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tracehop.demo.run import prepare_out, run_demo
from tracehop.report.html import write_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                            "(apt-get install -y chromium; .ci/run does it)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    run = run_demo(prepare_out(tmp_path / "demo"), calls=8, ordinary=40)
    report = write_report(run)
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "demo-report.png"
    png.unlink(missing_ok=True)
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
           f"--screenshot={png}", "--window-size=1280,1600", report.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    # a rendered page, not a blank one: a blank 1280x1600 PNG compresses to a few KB
    assert len(data) > 50_000
    shutil.copy(report, ARTIFACTS / "demo-report.html")
