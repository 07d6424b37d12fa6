"""Reading the TOML files a user writes: the peer directory, a format profile, business hours.

One reader, so that each of them takes the same files and fails the same way:

- a byte-order mark is skipped: Windows editors (Notepad's "UTF-8 with BOM", PowerShell 5's
  ``Out-File``) start the file with one, and tomllib refuses it as an "Invalid statement (at
  line 1, column 1)" with nothing to tell the user why;
- every error is the caller's :class:`~tracehop.errors.ConfigError` subclass, naming the file,
  the line where tomllib or the reader knows it, and the fix.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from tracehop.errors import ConfigError

# tomllib ends its messages with "(at line 3, column 5)", or "(at end of document)".
_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(path: str | Path, error: type[ConfigError], what: str, *,
              missing_hint: str | None = None,
              format_hint: str | None = None) -> tuple[dict[str, Any], str]:
    """The parsed file and its text. ``what`` names the file in messages ("the peer
    directory"); ``missing_hint`` is the fix for a missing file (which option to check),
    ``format_hint`` the fix for invalid TOML (where the format is described)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        # A sentence: "the profile was not found" (it read "the profile not found").
        raise error(f"{what} was not found", path=p, hint=missing_hint) from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, not a file", path=p, hint=missing_hint) from None
    except UnicodeDecodeError as e:
        bad_line = p.read_bytes()[: e.start].count(b"\n") + 1
        raise error(f"{what} is not UTF-8 text (byte 0x{e.object[e.start]:02x})", path=p,
                    line=bad_line, hint="Save the file as UTF-8 (TOML files are UTF-8)") from None
    except OSError as e:
        raise error(f"cannot read {what} ({e.strerror})", path=p) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        found = _AT_LINE.search(str(e))
        # "at end of document" (an unclosed array or string): the line it was opened on is
        # the one to look at.
        line = int(found.group(1)) if found else (
            unclosed_line(text) if "end of document" in str(e) else None)
        raise error(f"not valid TOML: {e}", path=p, line=line, hint=format_hint) from None


def unclosed_line(text: str) -> int | None:
    """For "at end of document": the last line that opens a bracket or a string it does not
    close (the usual cause: a list or quote left open)."""
    last = None
    for n, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0]
        if code.count("[") > code.count("]") or code.count('"') % 2:
            last = n
    return last
