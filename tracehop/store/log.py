"""The transaction log: ``STORE/_delta_log/%020d.json``, one file per committed version.

Atomicity (Delta PROTOCOL.md "Delta Log Entries": a version file must be created atomically and
only once). A commit writes its actions to a temporary file in ``_delta_log``, fsyncs it, then
``os.link``s it to the version's name. ``link`` fails if the name exists, so of two writers
racing for version N exactly one wins; the other gets :class:`StoreConflictError` and retries on
top of N. A crash leaves either no version file (the commit never happened: its data files are
unreferenced and invisible) or a complete one (the commit happened). A torn version file can
only come from a writer that bypassed this protocol; replay refuses it with an error that names
the file.

Replay is incremental: :meth:`TransactionLog.replay` applies only the versions after the state
it is given, so a long-lived process reads each log file once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from tracehop.errors import StoreConflictError, StoreError, StoreIOError
from tracehop.store.delta import PARTITION_COLUMN, READER_VERSION
from tracehop.store.records import FileRecord
from tracehop.store.state import StateFile

LOG_DIR: Final = "_delta_log"
_VERSION_FILE = re.compile(r"^(\d{20})\.json$")


@dataclass(frozen=True)
class DataFile:
    """A live leg file: ``path`` is relative to the store root, as in the ``add`` action."""

    path: str
    day: date
    size: int
    rows: int
    added_ms: int


@dataclass(frozen=True)
class RejectFile:
    """A Parquet file of rejected records (REJECT_SCHEMA), relative to the store root.

    ``version``: the log version of the commit whose rejects it holds (a file written again
    without some rows keeps it); None for a file merged from the rejects of several commits
    (store/rejectmerge.py), whose rows say theirs."""

    path: str
    size: int
    rows: int
    version: int | None = None


@dataclass
class TableState:
    """The table as of ``version``: what a replay of versions 0..version yields."""

    version: int = -1
    schema_string: str | None = None
    writer_version: int = 0  # the protocol's minWriterVersion (writer.check_writable)
    live: dict[str, DataFile] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)  # path -> deletionTimestamp (ms)
    rejects: dict[str, RejectFile] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)  # file_id -> first record
    state: dict[str, StateFile] = field(default_factory=dict)  # key -> latest blob (state.py)
    # reject file -> the file_ids recorded by the commit that wrote it: whose rows it may hold
    # (a reject row names its file as the ingest was given it, not by content).
    reject_owners: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def copy(self) -> TableState:
        return TableState(
            version=self.version,
            schema_string=self.schema_string,
            writer_version=self.writer_version,
            live=dict(self.live),
            tombstones=dict(self.tombstones),
            rejects=dict(self.rejects),
            files=dict(self.files),
            state=dict(self.state),
            reject_owners=dict(self.reject_owners),
        )


class TransactionLog:
    """Reads and appends the version files of one store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / LOG_DIR

    def version_path(self, version: int) -> Path:
        return self.dir / f"{version:020d}.json"

    def exists(self) -> bool:
        return self.version_path(0).exists()

    def identity(self) -> tuple[int, int, int]:
        """(inode, mtime, size) of version 0: tells a re-created store from the one cached."""
        try:
            st = self.version_path(0).stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def latest_version(self) -> int:
        """Highest committed version, or -1 when the log is empty."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return -1
        best = -1
        for name in names:
            m = _VERSION_FILE.match(name)
            if m:
                best = max(best, int(m.group(1)))
        return best

    def read_version(self, version: int) -> list[dict[str, Any]]:
        path = self.version_path(version)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise StoreError(
                f"{path}: transaction log version {version} is missing",
                hint="The log must be gapless; restore the file from a backup",
            ) from e
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"{path}: cannot read transaction log file ({e})") from e
        actions: list[dict[str, Any]] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise StoreError(
                    f"{path}:{lineno}: transaction log file is torn or corrupt ({e.msg})",
                    hint=self._torn_hint(version),
                ) from e
            if not isinstance(obj, dict):
                raise StoreError(f"{path}:{lineno}: transaction log line is not a JSON object")
            actions.append(obj)
        if not actions:
            # Every version holds at least one action (tracehop writes a commitInfo first).
            # An empty file is one whose bytes never reached the disk: read as "no change" it
            # hid that commit's legs and records, and vacuum then deleted its files as orphans.
            raise StoreError(f"{path}: transaction log file is empty (torn or truncated)",
                             hint=self._torn_hint(version))
        # tracehop ends every line with a newline; other Delta writers (delta-rs, as
        # `deltalake` runs VACUUM or OPTIMIZE) leave the last one off. A version is written
        # whole by an atomic rename in either case, so a cut file shows as JSON that does not
        # parse (caught above), and a missing final newline alone is no sign of one.
        return actions

    def _torn_hint(self, version: int) -> str:
        if version < self.latest_version():
            # Moving out a version with later ones leaves a gap no replay can cross.
            return ("later versions build on it: restore it from a backup of the store (no "
                    "writer of tracehop leaves a version file torn)")
        return ("a writer crashed while writing it without the atomic protocol; if no writer "
                "is running, move it out of _delta_log to return the store to the previous "
                "version")

    def replay(self, state: TableState | None = None, upto: int | None = None) -> TableState:
        """Apply versions after ``state.version`` (up to ``upto`` or the latest) to a copy."""
        st = state.copy() if state is not None else TableState()
        last = self.latest_version() if upto is None else upto
        for v in range(st.version + 1, last + 1):
            _apply(st, v, self.read_version(v), self.version_path(v))
        return st

    def write(self, version: int, actions: list[dict[str, Any]]) -> None:
        """Create version file ``version`` atomically; StoreConflictError if it exists."""
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.version_path(version)
        tmp = self.dir / f".{version:020d}.json.{uuid.uuid4().hex}.tmp"
        body = _body(actions)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError as e:
                raise StoreConflictError(
                    f"{target}: another writer committed version {version} first",
                    hint="Retry the commit on top of the new version",
                ) from e
        finally:
            tmp.unlink(missing_ok=True)
        try:
            fsync_dir(self.dir)
        except OSError as e:
            # Linked: the version is committed (callers keep its files: holds()), only its
            # durability is in doubt. A raw OSError gave a traceback, and "cannot write"
            # would read as nothing committed, so say which it is.
            err = StoreIOError(self.root, e, action="sync the transaction log of")
            err.message = (f"version {version} was committed, but {err.message} (a crash "
                           f"before the disk writes it out could lose that version)")
            raise err from e


    def holds(self, version: int, actions: list[dict[str, Any]]) -> bool:
        """Whether version file ``version`` exists and holds exactly ``actions``: a
        :meth:`write` interrupted after its link (KeyboardInterrupt during the directory sync)
        did commit them."""
        try:
            return self.version_path(version).read_text(encoding="utf-8") == _body(actions)
        except (OSError, UnicodeDecodeError):
            return False


def _body(actions: list[dict[str, Any]]) -> str:
    """A version file's text: one JSON action per line."""
    return "".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions)


def fsync_dir(path: Path) -> None:
    """Make a directory entry (a new file name) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _apply(st: TableState, version: int, actions: list[dict[str, Any]], path: Path) -> None:
    for action in actions:
        try:
            _apply_one(st, action, version)
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"{path}: malformed action {action!r} ({e})") from e
        except StoreError as e:  # name the log file (the store) it comes from
            raise StoreError(f"{path}: {e.message}", hint=e.hint) from e
    st.version = version


def _apply_one(st: TableState, action: dict[str, Any], version: int) -> None:
    if "protocol" in action:
        need = int(action["protocol"]["minReaderVersion"])
        st.writer_version = int(action["protocol"].get("minWriterVersion", 0))
        if need > READER_VERSION:
            raise StoreError(
                f"the store needs Delta reader version {need}; tracehop reads version "
                f"{READER_VERSION}",
                hint="The table was upgraded by another tool; tracehop cannot read it",
            )
    elif "metaData" in action:
        md = action["metaData"]
        if md.get("partitionColumns") != [PARTITION_COLUMN]:
            raise StoreError(f"the store must be partitioned by {PARTITION_COLUMN!r} only")
        st.schema_string = md["schemaString"]
    elif "add" in action:
        add = action["add"]
        stats = json.loads(add["stats"]) if add.get("stats") else {}
        p = add["path"]
        st.live[p] = DataFile(
            path=p,
            day=date.fromisoformat(add["partitionValues"][PARTITION_COLUMN]),
            size=int(add["size"]),
            rows=int(stats.get("numRecords", -1)),
            added_ms=int(add["modificationTime"]),
        )
        st.tombstones.pop(p, None)
    elif "remove" in action:
        rm = action["remove"]
        st.live.pop(rm["path"], None)
        st.tombstones[rm["path"]] = int(rm.get("deletionTimestamp") or 0)
    elif "commitInfo" in action:
        info = action["commitInfo"].get("tracehop") or {}
        owners = tuple(str(rec["fileId"]) for rec in info.get("files", []))
        for rej in info.get("rejects", []):
            st.rejects[rej["path"]] = RejectFile(
                path=rej["path"], size=int(rej["size"]), rows=int(rej["rows"]), version=version
            )
            st.reject_owners[rej["path"]] = owners
        for rec in info.get("files", []):
            fr = FileRecord.from_json(rec)
            st.files.setdefault(fr.file_id, fr)
        # A reject file written anew leaves the old one unreferenced from this version on:
        # like a removed leg file, vacuum counts its retention from here.
        when = int(action["commitInfo"].get("timestamp") or 0)
        # old -> new: one old file written again without some rows (store/supersede.py), or
        # several small ones merged into one by compaction (store/rejectmerge.py)
        _replace_rejects(st, info.get("rejectsReplaced") or {}, when, ())
        if forgotten := info.get("forgotten"):  # tracehop/store/forget.py
            gone = set(forgotten["files"])
            for fid in gone:
                st.files.pop(fid, None)
            _replace_rejects(st, forgotten.get("rejects", {}), when, gone)
        for key, blob in (info.get("state") or {}).items():  # the latest blob per key wins
            new = None if blob is None else StateFile.from_json(blob)
            old = st.state.get(key)
            if old is not None and (new is None or new.path != old.path):
                # Superseded: vacuum counts its retention from here, as for a removed file
                # (a blob no version named yet may be one a commit in flight is about to
                # name, and waits longer: store/compact.py vacuum_files).
                st.tombstones[old.path] = when
            if new is None:
                st.state.pop(key, None)
            else:
                st.state[key] = new
    # txn, cdc and other actions of reader version 1 carry nothing tracehop needs.


def _replace_rejects(st: TableState, replaced: dict[str, str | None], when: int,
                     gone: set[str] | tuple[()]) -> None:
    """Apply ``old -> new`` reject file replacements (new None: no row was left). The new
    file takes the owners of all its old ones (less the ``gone`` file ids), their commit
    version when they share one, and the place in the log order of the newest of them, so
    that ``tracehop rejects`` still lists the newest ingest's rejects first."""
    if not replaced:
        return  # (most versions: no pass over the reject files)
    by_new: dict[str, list[RejectFile | None]] = {}
    owners: dict[str, dict[str, None]] = {}
    order = {p: i for i, p in enumerate(st.rejects)}
    last: dict[str, int] = {}
    for old, new in replaced.items():
        was = st.rejects.pop(old, None)
        st.tombstones[old] = when
        kept = st.reject_owners.pop(old, ())
        if new is None:
            continue
        by_new.setdefault(new, []).append(was)
        owners.setdefault(new, {}).update(dict.fromkeys(o for o in kept if o not in gone))
        if old in order:
            last[new] = max(last.get(new, -1), order[old])
    if not by_new:
        return
    for new, olds in by_new.items():
        st.reject_owners[new] = tuple(owners[new])
        versions = {o.version if o is not None else None for o in olds}
        if new in st.rejects:
            v = versions.pop() if len(versions) == 1 else None
            st.rejects[new] = dataclasses.replace(st.rejects[new], version=v)
    # Each new file in the place of the newest file it replaces (it was appended last).
    at = {last[n]: n for n in by_new if n in st.rejects and n in last}
    if at:
        moved = set(at.values())
        rebuilt: dict[str, RejectFile] = {}
        for i, p in enumerate(order):  # the log order before this version's replacements
            if p in st.rejects and p not in moved:
                rebuilt[p] = st.rejects[p]
            if i in at:
                rebuilt[at[i]] = st.rejects[at[i]]
        for p, rf in st.rejects.items():  # (every file is in `order`; kept for safety)
            rebuilt.setdefault(p, rf)
        st.rejects = rebuilt
