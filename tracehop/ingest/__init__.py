"""Reading CDR exports into call legs (DESIGN.md §2, §3): profiles, detection, ingest runs."""

from tracehop.ingest.formats import ParseResult, register_format, register_reader
from tracehop.ingest.run import FileSummary, IngestSummary, ingest_paths, parse_file

__all__ = [
    "FileSummary",
    "IngestSummary",
    "ParseResult",
    "ingest_paths",
    "parse_file",
    "register_format",
    "register_reader",
]
