"""QA: two columns naming one key that disagree ("called" twice, or "Called Number" and
"DNIS" with different numbers) were answered from the first, silently: the answer must say
which value it used and which it ignored."""

from __future__ import annotations

from pathlib import Path

from tracehop.respond.inquiries import read_inquiries


def test_disagreeing_repeated_columns_are_warned_about(tmp_path: Path) -> None:
    p = tmp_path / "dup.csv"
    p.write_text("Called Number,Time,DNIS\n"
                 "+13125550100,2026-11-20T14:03:22Z,+13125550101\n"
                 "+13125550100,2026-11-20T14:03:22Z,+13125550100\n"
                 "+13125550100,2026-11-20T14:03:22Z,\n")
    a, b, c = read_inquiries(p).rows
    assert a.inquiry is not None and a.inquiry.called_e164 == "+13125550100"
    assert any("+13125550101" in w and "called" in w for w in a.warnings), a.warnings
    # same value twice, or one empty: nothing to warn about
    assert not any("+1312555010" in w for w in b.warnings), b.warnings
    assert not any("+1312555010" in w for w in c.warnings), c.warnings
