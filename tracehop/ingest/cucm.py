"""Cisco Unified CM CMR files: recognised, and refused with a reason (not call records).

CUCM's CDR Repository Manager pushes two kinds of flat file side by side: ``cdr_*`` (call
detail records, ``cdrRecordType`` 1; read by the ``cisco_cucm_cdr`` profiles) and ``cmr_*``
(call management records, ``cdrRecordType`` 2: per-leg voice-quality statistics such as
packets, jitter and ``varVQMetrics``; Cisco CDR Administration Guide, "CMR field
descriptions"; research/cdr_formats.md §8). A CMR carries no start time of the call, no
calling number, no trunk and no direction, so it cannot answer a traceback.

Decision: a CMR file is **rejected as a whole** with an error that names the file, says what
it is and what to give instead (the ``cdr_*`` file of the same batch). Ingesting a directory
that holds both therefore stores the CDRs and lists the CMR under skipped files with that
reason; naming a CMR file on the command line makes ``tracehop ingest`` exit non-zero.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from tracehop.errors import UnknownFormatError
from tracehop.ingest.formats import ParseResult, register_format

FORMAT: Final = "cisco_cucm_cmr"
#: CMR-only column names (12.5/14 release; older releases have a subset of them).
_CMR_COLUMNS: Final = ("numberPacketsSent", "numberOctetsSent", "varVQMetrics", "directoryNum")
#: A headerless CMR record: type 2, callManagerId, callId, nodeId, then the quoted directoryNum.
_CMR_RECORD: Final = re.compile(rb'^2,\d+,\d+,\d+,"[^"]*",\d+,\d{9,10},')


def detect(head: bytes, path: Path) -> bool:
    first = head.split(b"\n", 1)[0]
    if b"cdrRecordType" in first:
        return sum(1 for c in _CMR_COLUMNS if c.encode() in first) >= 2
    return bool(_CMR_RECORD.match(first))


def parse(path: Path, tz: str | None, source: str | None) -> ParseResult:
    raise UnknownFormatError(
        "this is a Cisco Unified CM CMR file (call management records: voice-quality "
        "statistics, cdrRecordType 2), not a call detail record; it holds no call start, "
        "calling number or trunk, so tracehop does not ingest it",
        path=path,
        hint="Ingest the cdr_* file of the same batch instead (format cisco_cucm_cdr)",
    )


register_format(FORMAT, detect, parse)
