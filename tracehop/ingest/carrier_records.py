"""Shared plumbing for the carrier document readers (Ribbon, Acme, BroadWorks, Kamailio,
OpenSIPS, CGRateS): physical lines with their numbers, CSV splitting of one record, and the
(rows, rejects) frames a reader hands to its profile (tracehop.ingest.formats.ReadFn).

Every reader keeps, for each record it emits, the 1-based physical line (``_line``) and the
record's text (``_raw``), and for each line it cannot use a reject with a reason: nothing is
dropped silently (docs/profiles.md, "Bad input").
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tracehop.errors import UnreadableFileError
from tracehop.ingest.readers import LINE, RAW, REASON


def read_text(path: Path) -> str:
    """The file as text: UTF-8, with Latin-1 for the lines that are not (switch exports are not
    always UTF-8, research/cdr_formats.md §13)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFileError(f"cannot read the file: {e.strerror}", path=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        out = []
        for line in data.split(b"\n"):
            try:
                out.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(line.decode("latin-1"))
        return "\n".join(out)


def physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for every line, blank ones included."""
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")
    for i, line in enumerate(text.split("\n"), start=1):
        yield i, line.rstrip("\r")


def split_csv(line: str, delimiter: str = ",") -> list[str]:
    """One CSV record (RFC 4180 quoting, lenient about stray quotes)."""
    return next(csv.reader([line], delimiter=delimiter, strict=False), [])


def split_unescaped_quotes(line: str, delimiter: str = ",") -> list[str]:
    """One record of a writer that wraps a value in quotes without escaping the quotes inside
    it (Acme's ``""Doe, John" <sip:...>;tag=1"``): a quoted value ends only at a quote
    followed by the delimiter or the end of the line, so a display name's quotes and commas
    stay in the value. Unquoted values end at the next delimiter, as in CSV."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            end = i + 1
            while True:
                end = line.find('"', end)
                if end < 0:  # unterminated: the rest of the line is the value
                    fields.append(line[i + 1:])
                    return fields
                if end + 1 == n or line[end + 1] == delimiter:
                    break
                end += 1
            fields.append(line[i + 1:end])
            i = end + 1
        else:
            end = line.find(delimiter, i)
            fields.append(line[i:] if end < 0 else line[i:end])
            i = n if end < 0 else end
        if i >= n:
            return fields
        i += 1  # the delimiter
        if i == n:
            fields.append("")
            return fields


@dataclass
class Collected:
    """Rows (dicts of string columns) and rejects, accumulated by a reader."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, line: int, raw: str, row: dict[str, str | None]) -> None:
        self.rows.append(row)
        self.lines.append(line)
        self.raws.append(raw)

    def reject(self, line: int, reason: str, raw: str) -> None:
        self.rejects.append((line, reason, raw))

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return rows_frame(self.rows, self.lines, self.raws), rejects_frame(self.rejects)


def rows_frame(
    rows: list[dict[str, str | None]], lines: list[int], raws: list[str]
) -> pl.DataFrame:
    columns = sorted({k for r in rows for k in r})
    frame = pl.DataFrame(
        {c: [r.get(c) for r in rows] for c in columns}, schema={c: pl.String for c in columns}
    )
    return frame.with_columns(
        pl.Series(LINE, lines, dtype=pl.Int64), pl.Series(RAW, raws, dtype=pl.String)
    )


def rejects_frame(rejects: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            LINE: [r[0] for r in rejects],
            REASON: [r[1] for r in rejects],
            RAW: [r[2] for r in rejects],
        },
        schema={LINE: pl.Int64, REASON: pl.String, RAW: pl.String},
    )


def empty_rejects() -> pl.DataFrame:
    return rejects_frame([])
