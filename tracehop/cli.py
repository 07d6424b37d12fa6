"""The ``tracehop`` command line: click only.

Each command parses its options, calls the library, and formats the result. Library errors
(:class:`tracehop.errors.TracehopError`) become one ``Error: what happened. How to fix it.``
line and exit code 1; nothing else is caught, so a bug still shows its traceback.

Each command's docstring is its ``--help`` and carries an example.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from tracehop import __version__
from tracehop.errors import TracehopError

#: What an interrupted command leaves, by command (the default: its output is not written).
_INTERRUPTED = {
    "ingest": "the store holds this ingest whole or not at all (`tracehop files` lists what "
              "it holds); run the same command again to finish",
    "capture-dir": "the store holds each run's commit whole or not at all; run it again to go on",
    "compact": "the store is as before or compacted, never half; run it again to finish",
    "respond": "--out is written only once every inquiry is answered (the audit log keeps "
               "an entry for each answer given); run it again",
}


class _Group(click.Group):
    """Turns library errors into one clear line at the CLI edge."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TracehopError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            # Click's own "Aborted!" says nothing of the store. Every write tracehop does is
            # all or nothing (a store commit, --out, the token file), so say that, and exit
            # as a shell expects of an interrupted command (128 + SIGINT).
            left = _INTERRUPTED.get(ctx.invoked_subcommand or "",
                                    "what was not finished was not written")
            click.echo(f"Error: interrupted. Nothing is half written: {left}.", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="tracehop")
def cli() -> None:
    """tracehop: answer robocall traceback inquiries from your own call records.

    \b
    Quick start on bundled demo data:
        tracehop demo

    \b
    On your own records (peers.toml: who is behind each trunk, see README.md):
        tracehop ingest /var/log/asterisk/cdr-csv/Master.csv --store calls.store \\
            --tz America/New_York
        tracehop lookup --store calls.store --called "(312) 555-0100" \\
            --at "2026-11-20 09:03:22-05:00" --peers peers.toml

    `tracehop COMMAND --help` shows a command's options and examples; the commands that
    report something print it as JSON with --json.

    \b
    Exit status:
        0    done (an answer "not_found" is an answer)
        1    an error (the message says how to fix it), or a check failed:
             audit verify, rmd check, demo; ingest when nothing could be
             read from a file named
        2    a usage error: a missing or invalid option or argument
        130  interrupted (Ctrl-C); nothing is half written
    """


# --- ingest ---------------------------------------------------------------------------------
# Owned by the ingest work (tracehop/ingest). Keep the body thin.


# SIP capture reader options, for `ingest` (captures among the files) and `capture-dir`.
_sip_local_net_option = click.option(
    "--sip-local-net", "local_nets", multiple=True, metavar="CIDR",
    help="SIP captures: the provider's own SBC/proxy addresses; INVITEs sent from them are "
         "outbound legs. Repeatable. Default: TRACEHOP_SIP_LOCAL_NETS.")
_cert_dir_option = click.option(
    "--cert-dir", type=click.Path(exists=True, file_okay=False), default=None,
    help="SIP captures: local STI certificates to verify PASSporTs (x5u -> file by name or "
         "manifest.json). Default: TRACEHOP_CERT_DIR; nothing is fetched.")


@cli.command("ingest",
             short_help="Read CDR exports and SIP captures into the store.")
# readable=False: an unreadable file is one file's error in the summary, like a missing one.
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False))
# --store is not click.Path(file_okay=False) here, nor in any other command: a
# file given as the store got click's "Directory ... is a file." with a usage text, exit 2, no
# fix and (ingest --json) no summary object; the store's own error names the fix.
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (created if missing).")
@click.option("--format", "fmt", default=None, metavar="NAME|PROFILE.toml",
              help="A built-in format name or your own profile; detected when not given.")
@click.option("--tz", default=None, metavar="ZONE",
              help="IANA zone of timestamps that carry none, e.g. America/New_York.")
@click.option("--source", default=None, help="A name for this feed, kept on every record.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.option("--keep-raw/--no-keep-raw", default=True, show_default=True,
              help="Keep each record's original text as evidence for answers.")
@_sip_local_net_option
@_cert_dir_option
def ingest_cmd(paths: tuple[str, ...], store_dir: str, fmt: str | None, tz: str | None,
               source: str | None, as_json: bool, keep_raw: bool,
               local_nets: tuple[str, ...], cert_dir: str | None) -> None:
    """Read CDR exports (files or directories) into the call-leg store, in one commit.

    Malformed records are kept as rejects with file, line and reason (the summary shows the
    first few; `tracehop rejects` lists them); the summary counts add up (read = stored +
    rejected + duplicates). Re-ingesting a file adds nothing. Rotated files compressed with
    gzip, bzip2, xz or zstd are read as the file they hold. A quoted pattern
    ('/var/spool/cdr/*.csv', as a systemd unit passes it) is expanded. A file that cannot be read is
    reported and the others are still committed; exits non-zero when nothing could be
    ingested from a file, or from any file of a directory, named on the command line.

    \b
    Example:
        tracehop ingest /var/log/asterisk/cdr-csv/Master.csv --store calls.store \\
            --tz America/New_York --source pbx1
    """
    import json as _json
    import sys
    import time

    from tracehop.ingest.progress import progress_bar
    from tracehop.ingest.run import IngestSummary, ingest_paths
    from tracehop.ingest.summary import render_summary
    from tracehop.sip import configured

    started = time.perf_counter()
    show_bar = not as_json and sys.stderr.isatty()
    try:
        _refuse_unlistable(paths)
        with _sigterm_as_interrupt(), progress_bar(enabled=show_bar) as advance, configured(
                local_nets=list(local_nets) or None, cert_dir=cert_dir):
            summary = ingest_paths(list(paths), store_dir, format=fmt, tz=tz, source=source,
                                   progress=advance, keep_raw=keep_raw)
    except TracehopError as e:
        if as_json:  # the run stopped as a whole, nothing committed: still one summary object
            stopped = IngestSummary(elapsed_s=time.perf_counter() - started).to_dict()
            stopped["errors"] = [{"path": getattr(e, "path", None), "error": str(e)}]
            click.echo(_json.dumps(stopped))
        raise
    if as_json:
        click.echo(_json.dumps(summary.to_dict()))
    else:
        click.echo(render_summary(summary))
        if summary.rejected and summary.version is not None:
            _echo_first_rejects(store_dir, summary.version)
    for failed in summary.failed_named:
        click.echo(f"Error: {failed.error}", err=True)
    if summary.failed_named:
        sys.exit(1)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemctl stop, a timer's TimeoutStartSec, `timeout 1h tracehop ingest ...`)
    ends the run as Ctrl-C does (ingest, capture-dir, compact, forget): the clean-ups run and
    nothing is committed. Its default action killed the process at once, leaving the
    decompressed copy of a .gz file in $TMPDIR (its plain size, GBs, at every run so stopped)
    and the day files being written."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding application's worker)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refuse_unlistable(paths: tuple[str, ...]) -> None:
    """A named directory that cannot be listed, or a named path whose directory cannot be
    entered, is an error before anything is read: the directory walk of ``ingest_paths``
    would skip the first without a word and stop at the second."""
    import errno
    import os
    import stat

    from tracehop.errors import UnreadableFileError

    for p in paths:
        try:
            is_dir = stat.S_ISDIR(os.stat(p).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            continue  # a missing file is that file's error in the summary
        except OSError as e:
            raise UnreadableFileError(
                f"cannot reach the file: {e.strerror}", path=p,
                hint="Check the permissions of the directories above it: the user running "
                "tracehop must be able to enter them") from None
        if is_dir and not os.access(p, os.R_OK | os.X_OK):
            raise UnreadableFileError(
                f"cannot list the directory: {os.strerror(errno.EACCES)}", path=p,
                hint="Check its permissions: the user running tracehop must be able to read "
                "and enter it")


#: Rejected records shown by the text summary of ``ingest``.
FIRST_REJECTS = 5


def _echo_first_rejects(store_dir: str, version: int) -> None:
    """The first rejects of the commit that made ``version``, and how to list them all."""
    import shlex

    from tracehop.store.rejects import read_rejects

    try:
        found = read_rejects(store_dir, version=version, limit=FIRST_REJECTS)
    except TracehopError as e:
        click.echo(f"warning: cannot list the rejected records: {e}", err=True)
        return
    if not found.total:
        return  # none of them was stored (a file whose every record was rejected)
    for r in found.rejects:
        click.echo(f"  {r.where}: {r.reason}")
    if found.total > len(found.rejects):
        click.echo(f"  ... and {found.total - len(found.rejects):,} more")
    click.echo(f"list them with: tracehop rejects --store {shlex.quote(store_dir)}")


# --- rejects --------------------------------------------------------------------------------
# Rejected records kept by ingest (tracehop/store/rejects.py).


@cli.command("rejects",
             short_help="List the rejected records with file, line and reason.")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (made by tracehop ingest).")
@click.option("--file", "file_name", default=None, metavar="NAME",
              help="Only the records of this source file: its path as ingested, or its "
                   "last part (Master.csv).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0),
              help="List at most this many; 0 lists them all.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: total, and each reject's file, line, reason, raw "
                   "text (in full), format, source and time.")
def rejects_cmd(store_dir: str, file_name: str | None, limit: int, as_json: bool) -> None:
    """List rejected records: file, line, reason and raw text, newest ingest first.

    A malformed record never stops an ingest: it is kept in the store with its file, line and
    reason. This lists them so you can fix the export or the format profile. The raw text is
    cut to fit 80 columns here; --json gives it in full.

    \b
    Example:
        tracehop rejects --store calls.store --file Master.csv --limit 50
    """
    import json

    from tracehop.store.rejects import read_rejects

    found = read_rejects(store_dir, file=file_name, limit=limit or None)
    if as_json:
        click.echo(json.dumps({"store": store_dir, "total": found.total,
                               "rejects": [r.to_dict() for r in found.rejects]}))
        return
    if not found.total:
        of = f" from {file_name}" if file_name else ""
        click.echo(f"No rejected records{of} in {store_dir}.")
        return
    for r in found.rejects:
        click.echo(f"{r.where}: {r.reason}")
        if r.raw:
            click.echo("    " + r.raw_shortened(80 - 4))
    if found.total > len(found.rejects):
        click.echo(f"({len(found.rejects):,} of {found.total:,} shown; --limit 0 lists all)")


@cli.command("files",
             short_help="List the files ingested into the store.")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (made by tracehop ingest).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: each file's record as the store keeps it.")
def files_cmd(store_dir: str, as_json: bool) -> None:
    """List the files ingested into the store: id, time, format, counts and path.

    Re-ingesting a listed file adds nothing; a file that grew is read on from where it ended.
    The id (the sha256 of the content; its first 12 digits shown) is what `tracehop forget`
    takes besides a path.

    \b
    Example:
        tracehop files --store calls.store
    """
    import json

    from tracehop.store import Store

    records = sorted(Store.open(store_dir).ingested_files(), key=lambda r: r.ingested_at)
    if as_json:
        click.echo(json.dumps({"store": store_dir,
                               "files": [r.to_json() for r in records]}))
        return
    if not records:
        click.echo(f"No files ingested into {store_dir} yet.")
        return
    for r in records:
        counts = f"{r.rows_read:,} read"
        if r.stored is not None:
            counts += f", {r.stored:,} stored"
        if r.rejected:
            counts += f", {r.rejected:,} rejected"
        if r.duplicates:
            counts += f", {r.duplicates:,} already stored"
        when = r.ingested_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{r.file_id[:12]}  {when}  {r.format or '?'}  {counts}")
        click.echo(f"    {r.path}")


@cli.command("forget",
             short_help="Remove ingested files from the store, to ingest them anew.")
@click.argument("files", nargs=-1, required=True, metavar="PATH_OR_ID...")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (made by tracehop ingest).")
@click.option("--dry-run", is_flag=True, help="Only say which ingested files would go.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def forget_cmd(files: tuple[str, ...], store_dir: str, dry_run: bool, as_json: bool) -> None:
    """Remove what ingested files put in the store, so that they can be ingested anew.

    A file read with the wrong --tz has every leg off by hours, and ingesting it again is
    skipped as done. Forget it, then ingest it with the right zone. Its legs and rejected
    records go in one store version (readers keep working); so do the other versions of a file
    that grew (Master.csv). Name the file by its path, or by its id from `tracehop files`.

    \b
    Example:
        tracehop forget /var/log/asterisk/cdr-csv/Master.csv --store calls.store
        tracehop ingest /var/log/asterisk/cdr-csv/Master.csv --store calls.store \\
            --tz America/Chicago
    """
    import json

    from tracehop.ingest.forget import resolve
    from tracehop.store import Store

    store = Store.open(store_dir)
    records = resolve(store, files)
    if dry_run:
        # What forget would drop: the files named and the other versions of each.
        from tracehop.store.forget import chain

        records = chain({r.file_id: r for r in store.ingested_files()},
                        [r.file_id for r in records])
        if as_json:
            click.echo(json.dumps({"dry_run": True, "files": [r.to_json() for r in records]}))
            return
        for r in records:
            click.echo(f"Would forget {r.path} ({r.file_id[:12]}, {r.rows_read:,} read)")
        return
    with _sigterm_as_interrupt():  # its clean-up deletes the rewritten files (as compact)
        result = store.forget([r.file_id for r in records])
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    for r in result.files:
        click.echo(f"Forgot {r.path} ({r.file_id[:12]}, {r.format or '?'})")
    click.echo(f"Removed {result.legs_removed:,} legs and {result.rejects_removed:,} rejected "
               f"records; rewrote {result.leg_files_rewritten} day files; "
               f"committed version {result.version}.")


# --- lookup ---------------------------------------------------------------------------------
# Owned by the matcher work (tracehop/match).


class _WindowSeconds(click.FloatRange):
    """--window: the library's bounds (tracehop.inquiry), and a finite number (not nan/inf)."""

    name = "seconds"

    def __init__(self) -> None:
        from tracehop.inquiry import MAX_WINDOW_S, MIN_WINDOW_S

        super().__init__(min=MIN_WINDOW_S, max=MAX_WINDOW_S)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        import math

        from tracehop.inquiry import WINDOW_HINT, window_seconds

        # "5m", "90s", "±120": read as the inquiry files' window column is read; click's
        # own refusal ("'5m' is not a valid seconds.") named no fix.
        try:
            value = window_seconds(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds. {WINDOW_HINT}.", param, ctx)
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):  # nan compares false with both bounds
            self.fail(f"{value!r} is not a number of seconds. {WINDOW_HINT}.", param, ctx)
        return rv


@cli.command("lookup",
             short_help="Answer one inquiry: who handed us the call to this number?")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (made by tracehop ingest).")
@click.option("--called", required=True, metavar="NUM",
              help="The called number, E.164 or national (default country: --region).")
@click.option("--at", "at", required=True, metavar="TIME",
              help="The call time: ISO 8601 with a zone or offset, or followed by an IANA zone "
                   "name; US 11/20/2026 9:03 AM and Unix seconds are read too (a naive time "
                   "is read as UTC).")
@click.option("--calling", default=None, metavar="NUM",
              help="The calling number shown, if known.")
@click.option("--window", type=_WindowSeconds(), default=None,
              help="Search ±this many seconds first (default 120; 90s, 5m, 1h also read); "
                   "then widen in steps.")
@click.option("--peers", "peers_file", type=click.Path(dir_okay=False), default=None,
              help="Peer directory (TOML) mapping trunks/IPs/accounts to providers.")
@click.option("--region", default="US", show_default=True,
              help="Default country for numbers written without a country code (as "
                   "respond's --region).")
@click.option("--json", "as_json", is_flag=True, help="Print one TracebackAnswer as JSON.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True,
              help="Query engine. spark: pip install 'tracehop[spark]'; local[2] unless "
              "TRACEHOP_SPARK_MASTER is set; --store may then be an s3a://, gs:// or abfss:// "
              "URL (docs/scaling.md).")
def lookup_cmd(store_dir: str, called: str, at: str, calling: str | None,
               window: float | None, peers_file: str | None, region: str, as_json: bool,
               engine: str) -> None:
    """Who handed us the call to CALLED at AT? Answer one traceback inquiry.

    Searches the inbound legs to the number within ±window, then widens (±15 min, then
    whole-hour offsets up to ±24 h for time-zone slips) and says which step found it.
    Last, it looks within ±window for a leg whose dialed or diverted-from number is
    CALLED (a call the switch translated or forwarded).

    \b
    Example:
        tracehop lookup --store calls.store --called "(312) 555-0100" \\
            --at 2026-11-20T09:03:22-05:00 --peers peers.toml --json
    """
    # Imports stay inside: a lookup process must start fast (< 1 s end to end).
    from tracehop.engines.base import open_engine
    from tracehop.engines.location import open_location
    from tracehop.inquiry import Inquiry
    from tracehop.match.matcher import Matcher

    inquiry = Inquiry.parse(called, at, calling, window=window, region=region)
    directory = None
    if peers_file is not None:
        from tracehop.peers import PeerDirectory

        directory = PeerDirectory.load(peers_file)
    store = open_location(store_dir, engine)
    answer = Matcher(store, directory, engine=open_engine(engine)).lookup(inquiry)
    if as_json:
        click.echo(answer.to_json(indent=2))
    else:
        from tracehop.match.report import render_text

        click.echo(render_text(answer))


# --- compact --------------------------------------------------------------------------------
# Owned by the store work (tracehop/store).


@cli.command("compact",
             short_help="Rewrite each day of the store as one sorted file.")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory.")
@click.option("--day", "days", multiple=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              metavar="YYYY-MM-DD",
              help="UTC day to compact (YYYY-MM-DD); repeatable. Default: every day.")
@click.option("--vacuum-hours", type=click.FloatRange(min=0), default=None,
              help="Afterwards delete files unreferenced for longer than this many hours.")
@click.option("--rewrite", is_flag=True,
              help="Rewrite days that have one file too: files written by an older tracehop "
                   "take the current layout (page codec, page size).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def compact_cmd(
    store_dir: str, days: tuple[Any, ...], vacuum_hours: float | None, rewrite: bool,
    as_json: bool
) -> None:
    """Rewrite each UTC day that has several files as one file sorted by called number, time.

    Incremental ingests add a file per day each time; compaction keeps lookups fast. Small
    rejects files (one per ingest that rejected a record) are merged too, each reject kept
    with its file, line and reason. Readers
    keep working while it runs. Removed files stay on disk until --vacuum-hours deletes the
    ones removed longer ago than that: a lookup, `serve` or an ingest running at that moment
    may still read them, so --vacuum-hours 0 only when nothing else uses the store. Files
    that a killed or crashed ingest left (never committed, never visible) go too, but only
    once 6 hours old whatever --vacuum-hours: a running ingest may be about to commit them.
    After an upgrade that changed the file layout, --rewrite brings every day to it.

    \b
    Example:
        tracehop compact --store calls.store --day 2026-11-20 --json
        tracehop compact --store calls.store --rewrite --vacuum-hours 168
    """
    import json

    from tracehop.store import Store

    store = Store.open(store_dir)
    # SIGTERM as Ctrl-C (as for ingest): its clean-up deletes the day files written so far
    # (the default action left them, a whole store's size with --rewrite, for a vacuum >= 6 h
    # later).
    with _sigterm_as_interrupt():
        result = store.compact([d.date() for d in days] or None, rewrite=rewrite)
    out: dict[str, Any] = result.to_dict()
    if vacuum_hours is not None:
        vac = store.vacuum(vacuum_hours)
        out["vacuum"] = {"deleted": len(vac.deleted), "bytes_freed": vac.bytes_freed}
    if as_json:
        click.echo(json.dumps(out))
        return
    if result.version is None:
        click.echo("Nothing to compact: every day has at most one file, and no small "
                   "rejects files follow each other.")
    else:
        for d in result.days:
            click.echo(
                f"{d.day}: {d.files_before} files -> 1 ({d.rows:,} rows, "
                f"{d.bytes_before:,} -> {d.bytes_after:,} bytes)"
            )
        for r in result.rejects:
            click.echo(
                f"rejects: {r.files_before} files -> 1 ({r.rows:,} rejected records, "
                f"{r.bytes_before:,} -> {r.bytes_after:,} bytes)"
            )
        click.echo(f"Committed version {result.version}.")
    if "vacuum" in out:
        click.echo(
            f"Vacuum: deleted {out['vacuum']['deleted']} files, "
            f"{out['vacuum']['bytes_freed']:,} bytes."
        )


# --- respond / audit ------------------------------------------------------------------------
# Owned by the respond work (tracehop/respond).


@cli.command("respond",
             short_help="Answer a file of inquiries (CSV or JSON lines).")
@click.argument("inquiries", type=click.Path(dir_okay=False))
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory to answer from (made by tracehop ingest).")
@click.option("--peers", "peers_file", required=True, type=click.Path(dir_okay=False),
              help="The peer directory (TOML).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Write the answers (JSON lines) here instead of stdout.")
@click.option("--evidence", "evidence_dir", type=click.Path(file_okay=False), default=None,
              help="Write one evidence pack per answer under this directory; a new "
                   "directory for each run (one that holds packs already is refused).")
@click.option("--zip", "evidence_zip", is_flag=True,
              help="Zip each evidence pack (with --evidence).")
@click.option("--audit", "audit_file", type=click.Path(dir_okay=False), default=None,
              help="Append every inquiry and answer to this hash-chained audit log.")
@click.option("--requester", default="cli", show_default=True,
              help="Who asked (recorded in the audit log), e.g. itg or a ticket id.")
@click.option("--rmd", "rmd_file", type=click.Path(dir_okay=False), default=None,
              help="FCC Robocall Mitigation Database CSV: flag upstreams not listed.")
@click.option("--hours", "hours_file", type=click.Path(dir_okay=False), default=None,
              help="Business hours for the 24-hour clock, in TOML: [hours] zone = "
                   "\"America/New_York\", mon = \"08:00-18:00\" (and tue ... sun), "
                   "holidays = [\"2026-12-25\"]. Default: around the clock.")
@click.option("--region", default="US", show_default=True,
              help="Default country for numbers written without a country code.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the campaign summary as JSON (on stderr) instead of a table.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True,
              help="Query engine. spark: pip install 'tracehop[spark]'; local[2] unless "
              "TRACEHOP_SPARK_MASTER is set; --store may then be an s3a://, gs:// or abfss:// "
              "URL (docs/scaling.md).")
def respond_cmd(inquiries: str, store_dir: str, peers_file: str, out_file: str | None,
                evidence_dir: str | None, evidence_zip: bool, audit_file: str | None,
                requester: str, rmd_file: str | None, hours_file: str | None, region: str,
                as_json: bool, engine: str) -> None:
    """Answer a file of inquiries: one TracebackAnswer per inquiry, in order, as JSON lines.

    INQUIRIES is a CSV with a header `called,calling,time` (optional columns: id, window,
    duration, disposition, received, zone: the IANA zone of times given without an offset)
    or JSON lines with those keys (or a JSON array of them). A small batch is answered
    one lookup per inquiry, a large one as one join against the store, whichever costs less
    for the store's size (always one join with --engine spark). A bad row is answered in its
    place with an "error" object naming the line and the reason; the batch always completes.
    The campaign summary goes to stderr. --evidence writes NNNNN-<id or number>/ per answer
    (portal.txt, answer.json, record.txt, ...); packs are never overwritten.

    \b
    Example:
        tracehop respond inquiries.csv --store calls.store --peers peers.toml \\
            --out answers.jsonl --evidence packs/2026-11-20 --audit audit.jsonl \\
            --requester itg --rmd rmd.csv --hours hours.toml
    """
    import json
    import sys
    from pathlib import Path

    from rich.console import Console

    from tracehop.engines.base import open_engine
    from tracehop.engines.location import open_location
    from tracehop.match import BATCH_THRESHOLD, Matcher
    from tracehop.peers import PeerDirectory
    from tracehop.respond.audit import AuditLog
    from tracehop.respond.batch import RespondOptions, respond, write_jsonl
    from tracehop.respond.deadline import Clock, load_clock
    from tracehop.respond.inquiries import read_inquiries
    from tracehop.respond.rmd import load_rmd
    from tracehop.store import Store

    if evidence_zip and not evidence_dir:  # it was ignored: no pack written, none zipped
        raise click.UsageError("--zip zips the evidence packs: give --evidence DIR too")
    # --out replaces its file and --audit appends to its file: either naming an input (or
    # --out naming the audit log) destroyed it -- `--out audit.jsonl --audit audit.jsonl`
    # appended the entries and then replaced the whole hash-chained log with the answers.
    _refuse_same_file({"--out": out_file, "--audit": audit_file},
                      {"INQUIRIES": inquiries, "--peers": peers_file, "--rmd": rmd_file,
                       "--hours": hours_file, "--audit": audit_file})
    store = open_location(store_dir, engine)
    if evidence_dir and not isinstance(store, Store):
        raise click.UsageError("--evidence reads the raw records from a local store; "
                               "answer from the URL without --evidence, or copy the store")
    peers = PeerDirectory.load(peers_file)
    file = read_inquiries(inquiries, region=region)
    opts = RespondOptions(
        requester=requester,
        clock=load_clock(hours_file) if hours_file else Clock(),
        rmd=load_rmd(rmd_file) if rmd_file else None,
        audit=AuditLog(audit_file) if audit_file else None,
        evidence_dir=Path(evidence_dir) if evidence_dir else None,
        evidence_zip=evidence_zip,
        store=store if isinstance(store, Store) else None,
    )
    # Spark pays about a second per query: a batch is always one join per pass there,
    # never a loop of point lookups (the auto cost model is DuckDB's).
    threshold = 1 if engine == "spark" else BATCH_THRESHOLD
    matcher = Matcher(store, peers, engine=open_engine(engine), batch_threshold=threshold)
    if not out_file:
        result = respond(file, matcher, opts)
        write_jsonl(result.answers, sys.stdout)
    else:
        # Made before anything is answered: a bad --out must fail before the audit entries
        # and evidence packs are written (a rerun would find the evidence directory taken).
        from tracehop.respond.output import answers_file

        with answers_file(Path(out_file)) as out:
            result = respond(file, matcher, opts)
            write_jsonl(result.answers, out)
    summary = result.summary.to_dict() | {"audit_head": result.audit_head,
                                          "evidence_packs": len(result.packs)}
    if as_json:
        click.echo(json.dumps(summary), err=True)
    else:
        result.summary.render(Console(stderr=True))
        if result.audit_head:
            click.echo(f"Audit log {audit_file}: head {result.audit_head}", err=True)


def _refuse_same_file(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """Refuse an output option naming the same file as another option (resolved paths, so
    ``./a`` and ``a`` are one file; a file not yet made cannot be an input)."""
    import os

    def key(p: str) -> str:
        return os.path.normcase(os.path.realpath(p))

    for out_opt, out_path in outputs.items():
        if not out_path:
            continue
        for in_opt, in_path in inputs.items():
            if in_opt == out_opt or not in_path or key(in_path) != key(out_path):
                continue
            raise click.UsageError(f"{out_opt} {out_path} is the same file as {in_opt}: "
                                   "it would be overwritten or appended to; give "
                                   f"{out_opt} a file of its own")


@cli.group("audit",
           short_help="Verify the hash-chained audit log of inquiries and answers.")
def audit_group() -> None:
    """The hash-chained audit log of inquiries and answers (respond --audit, serve).

    \b
    Example:
        tracehop audit verify audit.jsonl
    """


def _head_hash(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--expect-head: a whole sha256 hex digest. Anything else (the 16-digit prefix an earlier
    report shows, the `3f2a...` of the example) can never match, and was reported as
    "TAMPERED: entries were removed from the end" of a log that verifies."""
    import re

    if value is None:
        return None
    head = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", head):
        raise click.BadParameter(
            f"{value!r} is not a head hash. Give all 64 hex digits, as `tracehop serve` "
            "printed at start or `tracehop audit verify` printed after 'head'", ctx, param)
    return head


@audit_group.command("verify",
                     short_help="Check the audit log's hash chain.")
@click.argument("log_file", type=click.Path(dir_okay=False))
@click.option("--expect-head", default=None, metavar="HASH", callback=_head_hash,
              help="A head hash recorded earlier (by `serve` at start, or an earlier "
                   "verify; all 64 hex digits): the chain must still reach it, so entries "
                   "cut from the end are detected; entries written since are fine.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def audit_verify_cmd(log_file: str, expect_head: str | None, as_json: bool) -> None:
    """Check the audit log's hash chain; exit 1 at the first edited, deleted or moved entry.

    \b
    Example:
        tracehop audit verify audit.jsonl
        tracehop audit verify audit.jsonl --expect-head \\
            3f2a9c1e7b04d8a65e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f
    """
    import json

    from tracehop.respond.audit import verify

    rep = verify(log_file, expected_head=expect_head)
    if as_json:
        click.echo(json.dumps(rep.to_dict()))
    elif rep.ok:
        click.echo(f"{log_file}: OK, {rep.entries} entries, head {rep.head_hash}")
    else:
        where = f"{log_file}:{rep.first_bad_line}" if rep.first_bad_line else log_file
        at = f" at seq {rep.first_bad_seq}" if rep.first_bad_seq is not None else ""
        before = ("before it" if rep.first_bad_line else "on their own")
        click.echo(f"{where}: TAMPERED{at}: {rep.reason} ({rep.entries} entries verify "
                   f"{before})", err=True)
    if not rep.ok:
        raise SystemExit(1)


@cli.group("rmd",
           short_help="Check peers against the FCC Robocall Mitigation Database.")
def rmd_group() -> None:
    """The FCC Robocall Mitigation Database listing: check your peers against it.

    \b
    Example:
        tracehop rmd check rmd.csv --peers peers.toml
    """


@rmd_group.command("check",
                   short_help="Check the upstream and foreign peers against an RMD CSV.")
@click.argument("rmd_file", type=click.Path(dir_okay=False))
@click.option("--peers", "peers_file", required=True, type=click.Path(dir_okay=False),
              help="The peer directory (TOML) whose upstream and foreign peers are checked.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rmd_check_cmd(rmd_file: str, peers_file: str, as_json: bool) -> None:
    """Import an RMD CSV export and check every upstream and foreign peer against it.

    Exit 1 when a peer is not listed: traffic from it must be refused (47 CFR 64.6305(g)).

    \b
    Example:
        tracehop rmd check rmd.csv --peers peers.toml
    """
    import json

    from tracehop.peers import PeerDirectory
    from tracehop.respond.rmd import load_rmd

    rmd = load_rmd(rmd_file)
    peers = PeerDirectory.load(peers_file)
    checks = [rmd.check(p.name, p.ocn, role=p.role) for p in peers.peers
              if p.role in ("upstream", "foreign")]
    if as_json:
        click.echo(json.dumps({"listing": rmd.summary(),
                               "skipped": [{"line": ln, "reason": r} for ln, r in rmd.skipped],
                               "peers": [c.to_dict() | {"role": c.role} for c in checks]}))
    else:
        click.echo(f"{rmd_file}: {len(rmd.filings)} filings read, {len(rmd.skipped)} rows "
                   "skipped")
        for ln, reason in rmd.skipped:
            click.echo(f"  {rmd_file}:{ln}: skipped ({reason})")
        for c in checks:
            click.echo(("  listed     " if c.listed else "  NOT LISTED ") + c.message)
    if any(not c.listed for c in checks):
        raise SystemExit(1)


# --- serve / token --------------------------------------------------------------------------
# Owned by the service work (tracehop/service).


@cli.command("serve",
             short_help="Answer inquiries over HTTP (the authenticated responder).")
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory to answer from (made by tracehop ingest).")
@click.option("--peers", "peers_file", required=True, type=click.Path(dir_okay=False),
              help="The peer directory (TOML).")
@click.option("--tokens", "tokens_file", required=True, type=click.Path(dir_okay=False),
              help="The API token file (from `tracehop token add`).")
@click.option("--audit", "audit_file", type=click.Path(dir_okay=False), default=None,
              help="The audit log (JSON lines, hash-chained). "
                   "Default: audit.jsonl beside the token file.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep loopback behind a reverse proxy.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--rate-limit", "rate", default=6000, show_default=True,
              type=click.IntRange(min=1), help="Inquiries per minute per requester.")
@click.option("--max-batch", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Most inquiries in one request.")
@click.option("--max-body", default=1024 * 1024, show_default=True,
              type=click.IntRange(min=1024), help="Largest request body, in bytes.")
@click.option("--ssl-certfile", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Serve HTTPS with this certificate (PEM).")
@click.option("--ssl-keyfile", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The certificate's private key (PEM).")
@click.option("--ssl-ca-certs", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Require client certificates signed by this CA (mTLS).")
@click.option("--matchers", type=click.IntRange(min=1), default=None,
              help="Matchers (DuckDB connections) answering in parallel. Default: "
                   "the number of CPUs, at most 4.")
@click.option("--proxy-client-cert", is_flag=True,
              help="Behind a proxy doing mTLS: require X-SSL-Client-Verify: SUCCESS and "
                   "audit-log X-SSL-Client-DN (see docs/deploy.md).")
@click.option("--forwarded-allow-ips", default=None,
              help="Trust X-Forwarded-For/-Proto from these proxy addresses "
                   "(e.g. 127.0.0.1), so the audit log names the real client.")
def serve_cmd(store_dir: str, peers_file: str, tokens_file: str, audit_file: str | None,
              host: str, port: int, rate: int, max_batch: int, max_body: int,
              ssl_certfile: str | None, ssl_keyfile: str | None, ssl_ca_certs: str | None,
              matchers: int | None, proxy_client_cert: bool,
              forwarded_allow_ips: str | None) -> None:
    """Answer inquiries over HTTP: POST /v1/inquiries, GET /v1/health, GET /openapi.json.

    Every /v1/inquiries request carries `Authorization: Bearer TOKEN`; every request and
    answer goes in the audit log. See docs/deploy.md for TLS, a reverse proxy and systemd.

    \b
    Example:
        tracehop token add consortium --tokens tokens.json
        tracehop serve --store calls.store --peers peers.toml --tokens tokens.json
        curl -H "Authorization: Bearer th_..." -d '{"called": "+13125550100",
             "time": "2026-11-20T14:03:22Z"}' http://127.0.0.1:8080/v1/inquiries
    """
    from pathlib import Path

    from tracehop.service.run import TLSOptions, build_app, serve

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    if ssl_ca_certs and not ssl_certfile:
        raise click.UsageError("--ssl-ca-certs (mTLS) needs --ssl-certfile and --ssl-keyfile")
    tls = (TLSOptions(ssl_certfile, ssl_keyfile, ssl_ca_certs)
           if ssl_certfile and ssl_keyfile else None)
    if tls is not None:
        tls.check()  # a clear Error: before anything is opened, not uvicorn's SSLError trace
    audit = audit_file or str(Path(tokens_file).resolve().parent / "audit.jsonl")
    app = build_app(store_dir, peers_file, tokens_file, audit, rate_per_minute=rate,
                    max_batch=max_batch, max_body_bytes=max_body, matchers=matchers,
                    proxy_client_cert=proxy_client_cert)
    # The chain cannot show entries cut from its end, or a log deleted, while the service was
    # stopped: what is left still verifies. The head at each start, kept by the journal, is
    # what `audit verify --expect-head` checks that against.
    from tracehop.respond.audit import AuditLog

    seq, head = AuditLog(audit).head()
    click.echo(f"Audit log: {audit} (ends at seq {seq}, hash {head}: check later with "
               f"`tracehop audit verify {audit} --expect-head {head}`)" if seq
               else f"Audit log: {audit} (new)", err=True)
    if not _is_loopback(host):
        # Reachable from the network: say what docs/deploy.md warns of, at the moment it
        # applies (nothing was said, and the service ran exposed).
        if tls is None:
            click.echo(f"Warning: plain HTTP on {host}: bearer tokens and answers cross the "
                       "network unencrypted. Listen on 127.0.0.1 behind a TLS proxy, or give "
                       "--ssl-certfile and --ssl-keyfile.", err=True)
        if proxy_client_cert:
            click.echo(f"Warning: --proxy-client-cert on {host}: anyone who reaches the port "
                       "directly can send X-SSL-Client-Verify: SUCCESS. Listen on 127.0.0.1 "
                       "(or firewall the port) so that only the proxy connects.", err=True)
    serve(app, host, port, tls=tls, forwarded_allow_ips=forwarded_allow_ips)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


@cli.group("token",
           short_help="Manage the API tokens of `tracehop serve`.")
def token_group() -> None:
    """Manage the API tokens of `tracehop serve` (one per requester, stored hashed).

    \b
    Example:
        tracehop token add consortium --tokens tokens.json
        tracehop token list --tokens tokens.json
    """


@token_group.command("add",
                     short_help="Create a token for requester NAME (shown once).")
@click.argument("name")
@click.option("--tokens", "tokens_file", required=True, type=click.Path(dir_okay=False),
              help="The token file (created if missing, mode 0600).")
@click.option("--rotate", is_flag=True,
              help="NAME has an active token: add a second one beside it (both work until "
                   "the old one is revoked by its fingerprint).")
def token_add_cmd(name: str, tokens_file: str, rotate: bool) -> None:
    """Create a token for requester NAME and print it once; the file keeps only its hash.

    To replace a token without a gap, add the new one with --rotate, switch the client over,
    then revoke the old one by the fingerprint `token list` shows.

    \b
    Example:
        tracehop token add consortium --tokens tokens.json
        tracehop token add consortium --rotate --tokens tokens.json
    """
    from pathlib import Path

    from tracehop.service.tokens import add_token

    token = add_token(Path(tokens_file), name, rotate=rotate)
    click.echo(token)
    click.echo(f"Token for {name!r} added to {tokens_file}. It is shown only now: "
               "hand it to the requester over a secure channel.", err=True)


def _require_token_file(tokens_file: str) -> None:
    """`token list` and `token revoke` read an existing token file. A mistyped path listed
    nothing and exited 0 ("no tokens" is not what it means), and revoke said "no active token
    named 'x'" (and left a lock file beside the path)."""
    from pathlib import Path

    from tracehop.errors import TokenError

    if not Path(tokens_file).exists():
        raise TokenError("the token file does not exist", path=tokens_file,
                         hint="Check the --tokens path; `tracehop token add` creates it")


@token_group.command("revoke",
                     short_help="Revoke requester NAME's token.")
@click.argument("name")
@click.option("--tokens", "tokens_file", required=True, type=click.Path(dir_okay=False),
              help="The token file.")
@click.option("--fingerprint", "fingerprint", default=None, metavar="HEX",
              help="Revoke only NAME's token with this fingerprint (from `token list`): the "
                   "old one after a --rotate.")
def token_revoke_cmd(name: str, tokens_file: str, fingerprint: str | None) -> None:
    """Revoke requester NAME's token; a running service refuses it from the next request.

    \b
    Example:
        tracehop token revoke consortium --tokens tokens.json
        tracehop token revoke consortium --fingerprint 3f2a9c1e7b04 \\
            --tokens tokens.json
    """
    from pathlib import Path

    from tracehop.service.tokens import revoke_token

    _require_token_file(tokens_file)
    n = revoke_token(Path(tokens_file), name, fingerprint)
    click.echo(f"Revoked {n} token(s) named {name!r}.")


@token_group.command("list",
                     short_help="List requesters and token fingerprints.")
@click.option("--tokens", "tokens_file", required=True, type=click.Path(dir_okay=False),
              help="The token file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: tokens, each with name, fingerprint, created_utc "
                   "and revoked_utc.")
def token_list_cmd(tokens_file: str, as_json: bool) -> None:
    """List requesters: name, hash fingerprint, created, revoked. Tokens are never shown.

    \b
    Example:
        tracehop token list --tokens tokens.json
    """
    import json
    from pathlib import Path

    from tracehop.service.tokens import read_entries

    _require_token_file(tokens_file)
    entries = read_entries(Path(tokens_file))
    if as_json:  # one object, as every other --json of tracehop prints
        click.echo(json.dumps({"tokens": [
            {"name": e.name, "fingerprint": e.fingerprint, "created_utc": e.created_utc,
             "revoked_utc": e.revoked_utc} for e in entries]}))
        return
    for e in entries:
        state = f"revoked {e.revoked_utc}" if e.revoked_utc else "active"
        click.echo(f"{e.name}\t{e.fingerprint}\tcreated {e.created_utc}\t{state}")


# --- demo -----------------------------------------------------------------------------------
# Owned by the demo work (tracehop/sim, tracehop/chain).


@cli.command("demo",
             short_help="Trace a robocall campaign across simulated providers.")
@click.option("--out", "out_dir", default="tracehop-demo", show_default=True,
              type=click.Path(file_okay=False),
              help="Where to write the providers' records, stores and report.html "
                   "(a previous demo there is replaced).")
@click.option("--calls", default=12, show_default=True, type=click.IntRange(1, 100_000),
              help="Number of campaign calls to place and trace.")
@click.option("--seed", default=7, show_default=True, type=int,
              help="Random seed of the simulation (same seed, same calls).")
@click.option("--http", "http", is_flag=True,
              help="Ask each provider over HTTP: one `tracehop serve` per provider.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON object.")
def demo_cmd(out_dir: str, calls: int, seed: int, http: bool, as_json: bool) -> None:
    """Trace a robocall campaign across a simulated network of providers.

    Builds five providers (Asterisk, Ribbon SBC, SIP captures with STIR/SHAKEN, Cisco CUCM,
    FreeSWITCH; each with its own clock skew, time zone and number format), writes their
    records as the switches do, ingests each
    into its own store, traces every campaign call hop by hop from the terminating provider,
    checks each chain against the simulation's ground truth, and writes report.html. Exits
    non-zero if any chain is wrong.

    \b
    Example:
        tracehop demo
        tracehop demo --calls 40 --http --out /tmp/th-demo
    """
    import json
    from pathlib import Path

    from tracehop.demo.console import print_run, summary_dict
    from tracehop.demo.run import prepare_out, run_demo
    from tracehop.report.html import write_report

    out = prepare_out(Path(out_dir))
    say = (lambda _m: None) if as_json else (lambda m: click.echo(m, err=True))
    run = run_demo(out, calls=calls, seed=seed, http=http, progress=say)
    report = write_report(run)
    if as_json:
        click.echo(json.dumps(summary_dict(run) | {"report": str(report)}, indent=2))
    else:
        print_run(run)
        click.echo(f"Report: {report}")
    if not run.all_correct:
        raise SystemExit(1)


# --- sip captures ---------------------------------------------------------------------------
# Owned by the SIP work (tracehop/sip). Single captures go through `tracehop ingest`.


@cli.command("capture-dir",
             short_help="Read a directory of rotating SIP captures incrementally.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--store", "store_dir", required=True, type=click.Path(), metavar="DIR",
              help="The store directory (created if missing).")
@click.option("--source", default=None, help="A name for this capture feed.")
@_sip_local_net_option
@_cert_dir_option
@click.option("--pattern", default="*", show_default=True, help="File name glob.")
@click.option("--horizon", "horizon_h", type=click.FloatRange(min=0, min_open=True),
              default=4.0, show_default=True,
              metavar="HOURS",
              help="Longest call to wait for: a dialog open longer than this (capture time "
                   "since its INVITE) is written as it stands, with a warning (inf: never).")
@click.option("--flush", is_flag=True,
              help="Write every open dialog now instead of holding it for the next run "
                   "(the end of a capture campaign).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
def capture_dir_cmd(directory: str, store_dir: str, source: str | None,
                    local_nets: tuple[str, ...], cert_dir: str | None, pattern: str,
                    horizon_h: float, flush: bool, as_json: bool) -> None:
    """Read the new part of every capture in a rotating capture directory.

    Files already ingested are skipped; a capture that grew is read on from where the last
    run stopped. Calls still in progress at the end of a run (no final response or no BYE
    yet) are held in the store and completed by the next run, so each leg is written once,
    complete. Run it from cron after each rotation; --flush writes what is still open.

    \b
    Example:
        tracehop capture-dir /var/spool/sbc-pcaps --store calls.store \\
            --sip-local-net 192.0.2.0/24 --cert-dir /etc/tracehop/sti-certs
    """
    import dataclasses
    import json
    from pathlib import Path

    from tracehop.sip import configured
    from tracehop.sip.directory import ingest_directory

    # configured, not configure: the options hold for this command only (configure set them
    # for the process, and an ingest run later in it read its captures with this --sip-local-net)
    with _sigterm_as_interrupt(), configured(  # a timer's stop: the commit's clean-up runs
            local_nets=list(local_nets) or None, cert_dir=cert_dir) as cfg:
        res = ingest_directory(Path(directory), Path(store_dir), source=source, config=cfg,
                               pattern=pattern, horizon_s=horizon_h * 3600.0, flush=flush)
    if as_json:
        # `read` as `ingest --json` counts it: read = stored + rejected + duplicates (the legs
        # written this run; the dialogs held open are counted when they are written).
        out = {"read": res.stored + res.rejected + res.duplicates, **dataclasses.asdict(res)}
        click.echo(json.dumps(out, indent=2))
        return
    import textwrap

    # One line each (it was one line of 200 columns), wrapped to fit 80.
    for line in (f"{res.files_seen} captures: {res.files_read} new, {res.files_resumed} "
                 f"grown, {res.files_skipped} unchanged; {res.messages} SIP messages "
                 f"({res.elapsed_s:.1f} s)",
                 f"{res.stored} legs stored, {res.rejected} rejected, {res.duplicates} "
                 "duplicates",
                 f"{res.dialogs_held} open dialogs held for the next run "
                 f"({res.dialogs_carried} carried in, {res.dialogs_expired} past --horizon, "
                 f"{res.dialogs_flushed} flushed)"):
        click.echo(textwrap.fill(line, 80, subsequent_indent="  ", break_long_words=False,
                                 break_on_hyphens=False))
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tracehop")


if __name__ == "__main__":  # pragma: no cover
    main()
