"""The append-only, hash-chained audit log of every inquiry and answer (DESIGN.md §7).

One JSON object per line. Each entry records who asked, when, what was asked, what was
searched and what was answered, plus ``prev_hash`` (the ``hash`` of the entry before it; 64
zeros for the first) and ``hash`` = SHA-256 over the canonical JSON of the entry *without*
``hash`` but *with* ``prev_hash`` (keys sorted, no spaces, UTF-8). Changing, deleting or
moving any entry therefore breaks the chain at that point, and :func:`verify` names the first
line where it breaks.

What a chain alone cannot show is a truncation of the *last* entries: the remaining prefix is
still a valid chain. :func:`verify` returns the head hash so that an operator can record it
elsewhere (a ticket, a daily e-mail) and check it later with ``expected_head``.

Appends are safe across processes: the file is opened with ``O_APPEND``, an exclusive
``flock`` is held while the last entry is read and the new ones are written, and the data is
``fsync``-ed before the lock is released, so two responders can share one log without
interleaving or forking the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracehop.errors import AuditError

_log = logging.getLogger("tracehop.audit")

GENESIS_HASH = "0" * 64
#: Keys every entry carries, in the order they are written (the hash does not depend on it).
ENTRY_KEYS = ("seq", "time", "who", "asked", "searched", "answered", "prev_hash", "hash")


#: The inquiry fields an audit entry repeats under "asked" (from the answer's inquiry echo).
ECHO_KEYS = ("id", "called", "calling", "time_utc", "called_raw", "calling_raw", "time_raw",
             "window_s")


def asked_echo(answer: dict[str, Any]) -> dict[str, Any]:
    """The inquiry as the answer echoes it, for an audit entry's "asked"."""
    inq = answer.get("inquiry") or {}
    return {k: inq[k] for k in ECHO_KEYS if k in inq}


def answered_summary(answer: dict[str, Any]) -> dict[str, Any]:
    """What an audit entry records of an answer (TracebackAnswer JSON): the status, who handed
    the call over (or which customer placed it), the leg, and the confidence. The same shape
    for ``tracehop respond`` and ``tracehop serve``, so one log can hold both."""
    up = answer.get("upstream") or {}
    cu = answer.get("customer") or {}
    return {
        "status": answer.get("status"),
        "upstream": up.get("provider"),
        "trunk": up.get("trunk"),
        "ip": up.get("ip"),
        "customer": cu.get("account") or cu.get("name"),
        "leg_id": (answer.get("match") or {}).get("leg_id"),
        "confidence": answer.get("confidence"),
    }


def canonical_json(obj: Any) -> bytes:
    """The byte form the hash is computed over: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``entry`` without its ``hash`` key."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """What one inquiry asked and what tracehop answered; ``seq``/hashes are added on append."""

    who: str
    asked: dict[str, Any]
    searched: dict[str, Any] | None
    answered: dict[str, Any]
    time: datetime | None = None  # when it was answered; defaults to the append time


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`. ``ok`` is False at the first broken link."""

    path: str
    entries: int  # entries read up to the first problem (all of them when ok)
    ok: bool
    head_hash: str  # hash of the last good entry (GENESIS_HASH for an empty log)
    first_bad_line: int | None = None  # 1-based line in the file
    first_bad_seq: int | None = None  # seq written on that line, if it could be read
    reason: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_bad_line": self.first_bad_line,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


class AuditLog:
    """An audit log file. Create it lazily: the first :meth:`append` makes the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: (seq, hash) of the last entry this object wrote. A log that other writers share
        #: only ever grows past it; one whose last entry is now *behind* it was deleted or
        #: cut while we ran.
        self._head: tuple[int, str] | None = None

    def append(self, record: AuditRecord) -> dict[str, Any]:
        """Append one entry; returns it as written (with seq, prev_hash and hash)."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
        """Append entries atomically with respect to other writers; one fsync for the lot."""
        if not records:
            return []
        with self._locked() as fd:
            seq, prev = _last_link(self.path)
            if self._head is not None and seq < self._head[0]:
                # The log was deleted, or cut at a line, under a running writer. Starting
                # over from what is left (a new genesis after a deletion) made a chain that
                # verified OK, and the removed entries left no trace. Chain on from the last
                # entry written here instead: `tracehop audit verify` then reports the gap.
                _log.error("%s: the audit log ends at seq %d but seq %d was written to it: "
                           "entries were deleted or cut; chaining on from seq %d so that "
                           "`tracehop audit verify` shows the gap", self.path, seq,
                           self._head[0], self._head[0])
                seq, prev = self._head
            now = datetime.now(UTC)
            entries: list[dict[str, Any]] = []
            lines: list[bytes] = []
            for rec in records:
                seq += 1
                entry: dict[str, Any] = {
                    "seq": seq,
                    "time": _iso(rec.time or now),
                    "who": rec.who,
                    "asked": rec.asked,
                    "searched": rec.searched,
                    "answered": rec.answered,
                    "prev_hash": prev,
                }
                entry["hash"] = entry_hash(entry)
                prev = entry["hash"]
                entries.append(entry)
                lines.append(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
            data = b"".join(lines)
            written = 0
            while written < len(data):  # os.write may write less than asked
                written += os.write(fd, data[written:])
            os.fsync(fd)
            self._head = (seq, prev)
        return entries

    def verify(self, expected_head: str | None = None) -> VerifyReport:
        return verify(self.path, expected_head=expected_head)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry: (0, genesis) for a missing or empty log."""
        return _last_link(self.path)

    def check(self) -> None:
        """Raise :class:`AuditError` now if an append would fail: the file cannot be opened
        for appending, or its last entry (which the next one chains to) cannot be read.
        Cheap (it reads only the tail), so a long-running writer can call it at start."""
        with self._locked():
            _last_link(self.path)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as e:
            raise AuditError(f"{self.path}: cannot open the audit log for appending ({e})",
                             hint="Check the directory exists and is writable") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _last_link(path: Path) -> tuple[int, str]:
    """(seq, hash) of the last entry, read from the end of the file; (0, genesis) if empty."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, GENESIS_HASH
    if size == 0:
        return 0, GENESIS_HASH
    with path.open("rb") as f:
        chunk = 4096
        buf = b""
        last = b""
        pos = size
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            stripped = buf.rstrip(b"\n")
            nl = stripped.rfind(b"\n")
            if nl >= 0 or pos == 0:
                last = stripped[nl + 1 :]
                break
            chunk *= 2
    if not buf.endswith(b"\n"):
        raise AuditError(f"{path}: the last audit entry is not terminated by a newline "
                         "(a write was cut short)",
                         hint="Run `tracehop audit verify` and restore the log from a copy")
    try:
        entry = json.loads(last)
        return int(entry["seq"]), str(entry["hash"])
    except (ValueError, KeyError, TypeError) as e:
        raise AuditError(f"{path}: the last audit entry cannot be read ({e})",
                         hint="Run `tracehop audit verify` to find the damage") from e


def verify(path: str | Path, *, expected_head: str | None = None) -> VerifyReport:
    """Walk the chain from the first line; stop at the first entry that does not verify.

    Checks per line: valid JSON object with all keys; ``seq`` is one more than the previous
    (a gap means a deleted entry, a step back a reordering); ``prev_hash`` equals the previous
    entry's ``hash``; ``hash`` equals the recomputed hash (an edited entry).
    """
    p = Path(path)
    if not p.exists():
        raise AuditError(f"{p}: no audit log at this path",
                         hint="Give the file passed to `tracehop respond --audit`")
    prev_hash = GENESIS_HASH
    prev_seq = 0
    n = 0
    # The expected head may be followed by later entries (a service kept writing after it was
    # recorded): the chain must reach it, not end at it. Requiring the end made the check
    # fail on every log still in use.
    reached = expected_head is None or expected_head == GENESIS_HASH

    def bad(line: int, seq: int | None, reason: str) -> VerifyReport:
        return VerifyReport(path=str(p), entries=n, ok=False, head_hash=prev_hash,
                            first_bad_line=line, first_bad_seq=seq, reason=reason)

    with p.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                return bad(lineno, None, "the last line is not terminated (a write was cut "
                                         "short)")
            try:
                entry = json.loads(raw, object_pairs_hook=_unique_keys)
            except _DuplicateKey as e:
                return bad(lineno, None, f"the entry was modified: {e}")
            except ValueError as e:
                return bad(lineno, None, f"not valid JSON ({e})")
            if not isinstance(entry, dict):
                return bad(lineno, None, "not a JSON object")
            missing = [k for k in ENTRY_KEYS if k not in entry]
            if missing:
                return bad(lineno, None, f"missing key(s) {', '.join(missing)}")
            seq = entry["seq"]
            if not isinstance(seq, int):
                return bad(lineno, None, f"seq {seq!r} is not an integer")
            if entry_hash(entry) != entry["hash"]:
                return bad(lineno, seq, f"entry seq {seq} was modified: its hash does not match "
                                        "its content")
            if seq != prev_seq + 1:
                if seq > prev_seq + 1:
                    missing_seqs = set(range(prev_seq + 1, seq))
                    # Only on failure: look ahead to tell a move from a deletion.
                    later = _seqs_in(f) & missing_seqs
                    if later:
                        what = (f"seq {seq} follows seq {prev_seq}; seq {min(later)} comes later "
                                "in the file: entries were reordered")
                    else:
                        gap = (str(prev_seq + 1) if seq == prev_seq + 2
                               else f"{prev_seq + 1}..{seq - 1}")
                        what = f"seq jumps from {prev_seq} to {seq}: entry {gap} was deleted"
                else:
                    what = f"seq {seq} follows seq {prev_seq}: entries were reordered"
                return bad(lineno, seq, what)
            if entry["prev_hash"] != prev_hash:
                return bad(lineno, seq, f"entry seq {seq} does not chain to the entry before "
                                        "it (prev_hash differs): entries were deleted, "
                                        "reordered or replaced")
            prev_hash = entry["hash"]
            prev_seq = seq
            n += 1
            reached = reached or prev_hash == expected_head
    if expected_head is not None and not reached:
        # Which entry went is unknown: the chain verifies on its own, it just does not end
        # where the copy of the head kept elsewhere says.
        return VerifyReport(path=str(p), entries=n, ok=False, head_hash=prev_hash,
                            first_bad_line=None, first_bad_seq=None,
                            reason=f"the chain ends at seq {prev_seq} with hash "
                                   f"{prev_hash[:16]}… without reaching the expected head "
                                   f"{expected_head[:16]}…: entries were removed from the end, "
                                   f"or the log was rewritten and chained anew")
    return VerifyReport(path=str(p), entries=n, ok=True, head_hash=prev_hash)


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique. The writer never repeats a key; a line that does
    was edited: JSON parsers keep the last copy, so a forged value put before the true one
    leaves the parsed entry, and its hash, intact while a reader of the line sees the
    forgery first."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(f"it holds the key {k!r} twice")
            seen.add(k)
    return out


def _seqs_in(lines: Iterable[bytes]) -> set[int]:
    """The ``seq`` values of the remaining lines that can still be read."""
    out: set[int] = set()
    for raw in lines:
        try:
            seq = json.loads(raw).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            out.add(seq)
    return out


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
