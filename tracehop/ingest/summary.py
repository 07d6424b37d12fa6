"""The human-readable end-of-ingest summary printed by ``tracehop ingest``."""

from __future__ import annotations

from tracehop.ingest.run import IngestSummary

#: Files listed one per line under the totals (beyond it, only those that need a look).
PER_FILE_LINES = 20


def _fmt_n(n: int) -> str:
    return f"{n:,}"


def render_summary(s: IngestSummary) -> str:
    span = "-"
    if s.first_utc and s.last_utc:
        span = (
            f"{s.first_utc.strftime('%Y-%m-%d %H:%M:%S')}Z .. "
            f"{s.last_utc.strftime('%Y-%m-%d %H:%M:%S')}Z"
        )
    lines = [
        f"files       {s.files} ({len(s.failed)} failed)" if s.failed else f"files       {s.files}",
        f"read        {_fmt_n(s.read)}",
        f"stored      {_fmt_n(s.stored)}",
        f"rejected    {_fmt_n(s.rejected)}",
        f"duplicates  {_fmt_n(s.duplicates)}",
        f"time span   {span}",
        f"elapsed     {s.elapsed_s:.2f} s ({_fmt_n(int(s.rows_per_s))} rows/s)",
    ]
    # A directory of FreeSWITCH JSON CDRs (a file per leg) is tens of thousands of files: one
    # line each buried the totals and the warnings. Past PER_FILE_LINES files, only those that
    # need a look (failed, with rejects, waiting) are listed, up to that many; --json has all.
    listed = s.per_file
    if len(listed) > PER_FILE_LINES:
        listed = [f for f in listed if f.error or f.rejected or f.waiting][:PER_FILE_LINES]
    for f in listed:
        state = ("already ingested; its new last line is still being written" if f.waiting
                 else "already ingested" if f.skipped else (f.error or f"{f.format}"))
        lines.append(f"  {f.path}: {_fmt_n(f.read)} read, {_fmt_n(f.rejected)} rejected  "
                     f"[{state}]")
    if len(listed) < len(s.per_file):
        lines.append(f"  ... and {_fmt_n(len(s.per_file) - len(listed))} more files "
                     "(--json lists each)")
    # A file skipped in a directory walk has its warning "skipped: <its error>": the error is
    # on its line above already (each junk file of a directory was said twice), and past
    # PER_FILE_LINES of them the rest are counted, not listed.
    said = {f"skipped: {f.error}" for f in listed if f.error}
    skipped = [w for w in s.warnings if w.startswith("skipped: ") and w not in said]
    warnings = [w for w in s.warnings if not w.startswith("skipped: ")]
    warnings += skipped[:PER_FILE_LINES]
    if warnings or len(skipped) > PER_FILE_LINES:
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in warnings)
    if len(skipped) > PER_FILE_LINES:
        lines.append(f"  - ... and {_fmt_n(len(skipped) - PER_FILE_LINES)} more files skipped "
                     "(--json lists each)")
    kept = sum(f.rejected for f in s.per_file if not f.error and not f.skipped)
    if kept:
        lines.append("rejected records are kept in the store with their reasons")
    if s.rejected > kept:
        # A file whose every record was rejected failed as a whole: nothing of it is stored.
        lines.append("the records of a file that failed as a whole are not stored: fix its "
                     "cause and ingest it again")
    return "\n".join(lines)
