"""The reader's zero-copy pieces: chunks cut at line ends, and each physical line's text as an
Arrow string view into the chunk (``_raw``, kept as ``raw_record``).

Both replace simpler code that copied the text (a 64 MB concatenation per chunk, a second
Polars read of every line); they must give exactly what a plain split of the bytes gives.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.ingest import readers
from tracehop.ingest.profile import Dialect

LINE_PIECES = st.sampled_from(
    ["a", "12345", '"', ",", "é", "\r", " ", "0123456789abcdef", "SIP/carrier-0000002a", ""]
)
LINES = st.lists(st.lists(LINE_PIECES, max_size=6).map("".join), min_size=1, max_size=40)


def _expected(data: bytes) -> list[str | None]:
    """A plain split: lines end at LF, a CR before the LF is not text, an empty line is null."""
    parts = data.split(b"\n")
    if data.endswith(b"\n"):
        parts = parts[:-1]
    out: list[str | None] = []
    for p in parts:
        if p.endswith(b"\r"):
            p = p[:-1]
        out.append(p.decode("utf-8") if p else None)
    return out


@settings(max_examples=200, deadline=None)
@given(lines=LINES, crlf=st.booleans(), final_eol=st.booleans())
def test_line_views_are_the_lines(lines: list[str], crlf: bool, final_eol: bool) -> None:
    eol = "\r\n" if crlf else "\n"
    data = (eol.join(lines) + (eol if final_eol else "")).encode()
    if not data:
        return
    got = readers.line_views(pa.py_buffer(data))
    assert got.name == readers.RAW
    assert got.to_list() == _expected(data)


def test_line_views_inline_short_lines_and_point_into_the_buffer_for_long_ones() -> None:
    # Arrow stores values of at most 12 bytes inline in the view: both kinds, side by side,
    # and a 12/13-byte pair at the boundary.
    data = b"x\n123456789012\n1234567890123\n\n" + "é".encode() * 20 + b"\r\nend"
    got = readers.line_views(pa.py_buffer(data)).to_list()
    assert got == ["x", "123456789012", "1234567890123", None, "é" * 20, "end"]


def test_line_views_reads_a_slice_of_a_larger_buffer() -> None:
    whole = pa.py_buffer(b"ignored\nfirst\nsecond\ntail")
    view = whole.slice(8, 13)  # "first\nsecond\n"
    assert readers.line_views(view).to_list() == ["first", "second"]


def test_line_views_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(readers._NotUtf8):
        readers.line_views(pa.py_buffer(b"fine\nLatin-1 caf\xe9 here\n"))


CHUNK_PIECES = st.sampled_from(
    [b"a", b"bbbbbbbbbbbb", b",", b'"', b'"q"', b"\n", b"\r\n", b'"x\ny"', b'"unterminated']
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(CHUNK_PIECES, min_size=1, max_size=60), size=st.integers(1, 40))
def test_chunks_cover_the_data_cut_at_line_ends_with_quotes_kept_together(
    parts: list[bytes], size: int
) -> None:
    data = b"".join(parts)
    chunks = list(readers._chunks(lambda off, n: data[off : off + n], 0, b'"', size))
    assert b"".join(buf[:end] for buf, end, _ in chunks) == data
    for buf, end, balanced in chunks:
        assert end > 0
        assert balanced == (buf.count(b'"', 0, end) % 2 == 0)
    for buf, end, _ in chunks[:-1]:
        assert buf[:end].endswith(b"\n")


def test_a_quoted_field_across_a_cut_stays_in_one_chunk() -> None:
    data = b'1,"a\nb",2\n3,"c",4\n'
    for size in range(1, len(data) + 1):
        chunks = list(readers._chunks(lambda off, n: data[off : off + n], 0, b'"', size))
        texts = [buf[:end] for buf, end, _ in chunks]
        assert b"".join(texts) == data
        assert all(ok for *_, ok in chunks)
        assert any(b'1,"a\nb",2\n' in t for t in texts), (size, texts)


def test_an_unclosed_quote_gives_up_at_a_line_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # A truncated record's quote never closes: the chunk may grow by at most
    # MAX_QUOTE_EXTENSION, and must still end at a line end (the next chunk starts a line).
    monkeypatch.setattr(readers, "MAX_QUOTE_EXTENSION", 16)
    data = b'1,"cut short\n' + b"2,a long line that is longer than the extension\n" * 3
    for size in range(4, 40):
        chunks = list(readers._chunks(lambda off, n: data[off : off + n], 0, b'"', size))
        assert b"".join(buf[:end] for buf, end, _ in chunks) == data
        assert all(buf[:end].endswith(b"\n") for buf, end, _ in chunks)


# The byte scans run block by block (SCAN_BLOCK): tiny blocks put every boundary case in play.
SCAN_PIECES = st.sampled_from([b"a", b"\n", b'"', b"\r\n", b"\x00", "é".encode(), b"xyz,"])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(SCAN_PIECES, max_size=40), block=st.integers(1, 9),
       stop=st.integers(0, 200))
def test_byte_counts_are_those_of_bytes_count(parts: list[bytes], block: int, stop: int) -> None:
    data = b"".join(parts)
    stop = min(stop, len(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "SCAN_BLOCK", block)
        for byte in (b'"', b"\n", b"\x00"):
            assert readers._count(data, byte, stop) == data.count(byte, 0, stop)


@settings(max_examples=200, deadline=None)
@given(lines=LINES, crlf=st.booleans(), final_eol=st.booleans(), block=st.integers(1, 9))
def test_line_views_in_small_scan_blocks_and_the_ascii_flag(
    lines: list[str], crlf: bool, final_eol: bool, block: int
) -> None:
    eol = "\r\n" if crlf else "\n"
    data = (eol.join(lines) + (eol if final_eol else "")).encode()
    if not data:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "SCAN_BLOCK", block)
        got, ascii_only = readers._line_views(pa.py_buffer(data))
    assert got.to_list() == _expected(data)
    assert ascii_only == data.isascii()


def test_ascii_and_utf8_chunks_read_the_same_fields(tmp_path: Path) -> None:
    # An all-ASCII chunk is parsed as binary and viewed as text; one with UTF-8 text is parsed
    # as text: both give the same columns.
    dialect = Dialect(columns=("a", "b", "c"), field_counts=(3,))
    rows = ['x,"1, 2",3', "y,,4", 'z,"say ""hi""",5']
    for extra in ("", "é"):
        path = tmp_path / f"f{len(extra)}.csv"
        path.write_text("\n".join(r.replace("y,", f"y{extra},") for r in rows) + "\n")
        layout = readers.read_layout(path, dialect)
        (batch,) = readers.iter_batches(path, dialect, layout)
        assert batch.rows["a"].to_list() == ["x", f"y{extra}", "z"]
        assert batch.rows["b"].to_list() == ["1, 2", "", 'say "hi"']
        assert batch.rows["c"].to_list() == ["3", "4", "5"]
        assert batch.rows.schema["b"] == pl.String
        assert batch.lines == 3 and batch.rejects.height == 0
