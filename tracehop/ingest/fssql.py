"""FreeSWITCH mod_cdr_csv's ``sql`` template: recognised, and refused with the fix.

The shipped cdr_csv.conf.xml (conf/vanilla/autoload_configs/cdr_csv.conf.xml) has a template
that writes each record as an SQL statement, for a script to pipe into a database:

    <template name="sql">INSERT INTO cdr VALUES ("${caller_id_name}",...,"${bleg_uuid}",
    "${accountcode}");</template>

Read as CSV it looks like the compiled-in 13-field default, but the first field starts with
``INSERT INTO cdr VALUES (`` and the last ends with ``);`` (an account code ``ACME");``). Its
values are the default template's, unescaped, so the statement is not even valid SQL when a
value holds a quote.

Decision: a file of such statements is **refused as a whole**, naming the file and the fix:
switch the template to ``example`` (the vanilla default, read by ``freeswitch_cdr_csv``), or
load the statements into the database they were written for and export that as CSV.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from tracehop.errors import UnknownFormatError
from tracehop.ingest.formats import ParseResult, register_format

FORMAT: Final = "freeswitch_cdr_sql"
_STATEMENT: Final = re.compile(rb'^\s*INSERT\s+INTO\s+[\w."`]+\s+VALUES\s*\(\s*"', re.IGNORECASE)


def detect(head: bytes, path: Path) -> bool:
    lines = [ln for ln in head.split(b"\n")[:20] if ln.strip()]
    return bool(lines) and all(_STATEMENT.match(ln) for ln in lines[:-1] or lines)


def parse(path: Path, tz: str | None, source: str | None) -> ParseResult:
    raise refusal(path)


def refusal(path: Path | str) -> UnknownFormatError:
    """The error a file of these statements gets, detected or read with a --format."""
    return UnknownFormatError(
        "this is FreeSWITCH mod_cdr_csv's 'sql' template (INSERT INTO cdr VALUES (...); "
        "statements), not a CSV call-record file; tracehop does not read SQL",
        path=path,
        hint="Switch mod_cdr_csv to the 'example' template (default-template in "
        "cdr_csv.conf.xml; read as format freeswitch_cdr_csv), or load these statements into "
        "their database and export the table as CSV with a header",
    )


register_format(FORMAT, detect, parse)
