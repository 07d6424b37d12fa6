"""Property test of the reader: whatever mix of good, short, blank, multi-line and non-UTF-8
records a file holds, and wherever the chunk boundaries fall, every record is stored or
rejected, each with the physical line it starts on and its text as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.ingest import readers
from tracehop.ingest.run import parse_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdr"
GOOD = (FIXTURES / "asterisk_cdr_csv" / "Master_18col.csv").read_text().splitlines()

KINDS = st.sampled_from(["good", "good", "good", "short", "blank", "multiline", "latin1"])


def _record(kind: str, i: int) -> tuple[str | None, bytes]:
    """(expected outcome, bytes of the record without its final newline)."""
    base = GOOD[i % len(GOOD)]
    if kind == "good":
        return "leg", base.encode()
    if kind == "short":
        return "reject", base.split(',"2026')[0].encode()
    if kind == "blank":
        return None, b""
    if kind == "multiline":
        return "leg", base.replace('"SIP/200,60,tT"', '"SIP/200,\n60,tT"').encode()
    return "leg", base.replace("Dial", "D\xeeal").encode("latin-1")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(KINDS, min_size=1, max_size=30), chunk=st.integers(100, 3000),
       crlf=st.booleans())
def test_every_record_is_accounted_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       kinds: list[str], chunk: int, crlf: bool) -> None:
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
    eol = b"\r\n" if crlf else b"\n"
    expected: dict[int, tuple[str, str]] = {}
    parts: list[bytes] = []
    line = 1
    for i, kind in enumerate(kinds):
        outcome, data = _record(kind, i)
        if crlf:
            data = data.replace(b"\n", b"\r\n")
        if outcome is not None:
            text = data.decode("utf-8", errors="strict") if kind != "latin1" else data.decode(
                "latin-1")
            expected[line] = (outcome, text.replace("\r\n", "\n"))
        parts.append(data)
        line += data.count(b"\n") + 1
    f = tmp_path / "Master.csv"
    f.write_bytes(eol.join(parts) + eol)
    if not expected:
        return
    res = parse_file(f, "asterisk_cdr_csv", "America/New_York")
    got: dict[int, tuple[str, str]] = {}
    for r in res.legs.to_pylist():
        got[r["source_record"]] = ("leg", r["raw_record"].replace("\r\n", "\n"))
    for r in res.rejects.to_pylist():
        assert r["reason"]
        got[r["source_record"]] = ("reject", r["raw_record"].replace("\r\n", "\n"))
    assert got == expected
