"""The registry of input formats that are not described by a CSV profile alone.

Two kinds of entries live here:

* **Whole formats** (``register_format(name, detect, parse)``): a reader that turns a file into
  call legs by itself, such as a SIP capture. ``detect(head, path)`` looks at the first bytes
  of a file and says whether it is this format; ``parse(path, tz, source)`` returns a
  :class:`ParseResult`. ``tracehop ingest --format NAME`` and detection both see them. A
  format whose files continue one another (rotated SIP captures: a call's INVITE in one file,
  its BYE in the next) also gives ``parse_group(paths, tz, source)``, one ParseResult per path,
  and ingest hands it the consecutive files of that format in one directory together.
* **Document readers** (``register_reader(name, read)``): they flatten documents (FreeSWITCH
  JSON CDRs, ...) into string columns, and a profile with ``reader = "NAME"`` maps those columns
  to call legs with the same ``[fields]``/``[time]``/rules as a CSV profile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa

DetectFn = Callable[[bytes, Path], bool]
#: (path, tz, source) -> ParseResult
ParseFn = Callable[[Path, "str | None", "str | None"], "ParseResult"]
#: (path, wanted columns) -> (rows with _line/_raw, rejects with _line/_reason/_raw)
ReadFn = Callable[[Path, "frozenset[str]"], "tuple[pl.DataFrame, pl.DataFrame]"]
#: (path, wanted columns, --tz) -> as ReadFn: a reader whose records name their own zone in a
#: way only the switch's zone can decide (Acme's zone abbreviations) checks --tz against them.
ZonedReadFn = Callable[[Path, "frozenset[str]", "str | None"],
                       "tuple[pl.DataFrame, pl.DataFrame]"]
#: (paths, tz, source) -> one ParseResult per path, in order
ParseGroupFn = Callable[[list[Path], "str | None", "str | None"], "list[ParseResult]"]

#: Modules that register formats when imported (another part of tracehop owns them).
PLUGIN_MODULES: Final = (
    "tracehop.sip",
    # The carrier formats (issue 3): CUCM CMR refusal, and the document readers of the
    # Ribbon, Acme, BroadWorks, Kamailio/OpenSIPS and CGRateS profiles.
    "tracehop.ingest.cucm",
    # FreeSWITCH mod_cdr_csv's "sql" template: refused with the fix.
    "tracehop.ingest.fssql",
    "tracehop.ingest.ribbon",
    "tracehop.ingest.acme",
    "tracehop.ingest.broadworks",
    "tracehop.ingest.kamailio",
    "tracehop.ingest.cgrates",
    "tracehop.ingest.genband",
)


@dataclass(frozen=True)
class Resume:
    """Where a file that grew by appending is read on from (:func:`tracehop.ingest.run.
    grown_from`): the end of the version of it the store already holds."""

    offset: int  # bytes already read; they end with a line end
    first_line: int  # physical line number of the first line after them
    id_prefix: str  # the leg_id prefix of the file's first version: its legs' ids stay stable
    rows_before: int  # records read from those bytes (all duplicates now)
    hashed: Any = None  # hashlib state after ``offset`` bytes: the file's hash goes on from it
    version_size: int = 0  # the size of the stored version it goes on from


@dataclass
class ParseResult:
    """One file, parsed: legs with LEG_SCHEMA, rejects with REJECT_SCHEMA, and warnings."""

    legs: pa.Table
    rejects: pa.Table
    warnings: list[str] = field(default_factory=list)
    format: str | None = None
    lines: int = 0  # physical lines (or frames) read
    file_id: str | None = None  # sha256 of the content, if the parser computed it
    size: int = 0  # bytes hashed
    resume: Resume | None = None  # read on from the end of a version already stored
    # Records of a file the store already holds unchanged, not parsed again (its file
    # record's rows_read): they count as read and duplicate.
    rows_known: int = 0


@dataclass(frozen=True)
class RegisteredFormat:
    name: str
    detect: DetectFn
    parse: ParseFn
    parse_group: ParseGroupFn | None = None


_FORMATS: dict[str, RegisteredFormat] = {}
_READERS: dict[str, ReadFn] = {}
_ZONED_READERS: dict[str, ZonedReadFn] = {}
_plugins_loaded = False


def register_format(name: str, detect: DetectFn, parse: ParseFn,
                    parse_group: ParseGroupFn | None = None) -> None:
    """Register (or replace) a whole-file format under ``name``."""
    _FORMATS[name] = RegisteredFormat(name, detect, parse, parse_group)


def register_reader(name: str, read: ReadFn) -> None:
    """Register a document reader that profiles can name with ``reader = "NAME"``."""
    _READERS[name] = read


def register_zoned_reader(name: str, read: ZonedReadFn) -> None:
    """Register a document reader that is also given the ingest's --tz (None when absent)."""
    _ZONED_READERS[name] = read


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import tracehop.ingest.fsjson  # registers the FreeSWITCH JSON reader
    import tracehop.ingest.fsxml  # noqa: F401  (and the XML one, which flattens as it does)

    for mod in PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError:  # an optional part that is not installed
            continue


def registered_formats() -> dict[str, RegisteredFormat]:
    _load_plugins()
    return dict(_FORMATS)


def document_reader(name: str, tz: str | None = None) -> ReadFn | None:
    """The reader registered as ``name``; a zoned reader comes with ``tz`` bound."""
    _load_plugins()
    zoned = _ZONED_READERS.get(name)
    if zoned is not None:
        return lambda path, wanted: zoned(path, wanted, tz)
    return _READERS.get(name)
