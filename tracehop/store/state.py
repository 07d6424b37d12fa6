"""Per-key state blobs committed atomically with the legs they hold back.

Some readers carry work over from one run to the next: the capture-directory reader keeps the
SIP dialogs that are still open (an INVITE answered but not yet hung up) so that the next run,
reading the next rotated file, completes them (:mod:`tracehop.sip.directory`). That state must
move in step with the store: if the legs of a run are committed, the dialogs it held back must
be recorded too, and if the commit never happens, neither may the state. So the state rides in
the commit itself:

- :meth:`Store.commit` writes each blob to ``STORE/_state/<uuid>.bin`` (fsynced, like a leg
  file) before it creates the log version;
- the version's ``commitInfo.tracehop.state`` maps the key to ``{path, size, sha256}`` (or to
  ``null``: the key was cleared);
- replay keeps the latest entry per key (:attr:`TableState.state`).

A crash before the log version exists leaves at most an unreferenced blob, which nothing reads
(the previous version still names the previous blob) and ``vacuum`` deletes; a crash after it
leaves a complete commit. Neither loses a dialog nor stores one twice.

The directory is ``_``-prefixed, like ``_rejects/``: Delta readers and a Delta VACUUM treat it
as hidden. The blob is opaque to the store: its owner chooses the format.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracehop.errors import StoreError

STATE_DIR: Final = "_state"


@dataclass(frozen=True)
class StateFile:
    """Where the blob committed under one key lives (``path`` relative to the store root)."""

    path: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StateFile:
        return cls(path=str(obj["path"]), size=int(obj["size"]), sha256=str(obj["sha256"]))


@dataclass(frozen=True)
class StateBlob:
    """A committed blob: its bytes and its id (the sha256 hex), which a later commit names as
    the state it started from (``Store.commit(..., state_base=...)``)."""

    data: bytes
    id: str


def write_state_file(root: Path, data: bytes) -> StateFile:
    """Write ``data`` as a new blob file, fsynced (and its directory entry), before any log
    version can name it."""
    from tracehop.store.log import fsync_dir  # log.py imports StateFile from here

    rel = f"{STATE_DIR}/{uuid.uuid4().hex}.bin"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(path.parent)
    return StateFile(path=rel, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def read_state_file(root: Path, key: str, sf: StateFile) -> StateBlob:
    """The blob's bytes, checked against the size and sha256 the log recorded."""
    path = root / sf.path
    try:
        data = path.read_bytes()
    except OSError as e:
        raise StoreError(
            f"{path}: the state committed for {key!r} cannot be read ({e})",
            hint="Restore the file from a backup; without it the open work it holds (e.g. "
            "SIP dialogs of a capture directory) is lost",
        ) from e
    if len(data) != sf.size or hashlib.sha256(data).hexdigest() != sf.sha256:
        raise StoreError(
            f"{path}: the state committed for {key!r} is corrupt ({len(data)} bytes, the log "
            f"recorded {sf.size} with sha256 {sf.sha256[:12]}…)",
            hint="Restore the file from a backup",
        )
    return StateBlob(data=data, id=sf.sha256)


def write_state_files(root: Path, state: Mapping[str, bytes | None]) -> dict[str, StateFile | None]:
    """One blob file per key (None: the key is cleared, no file)."""
    return {k: None if v is None else write_state_file(root, v) for k, v in state.items()}


def check_state_base(current: Mapping[str, StateFile], base: Mapping[str, str | None]) -> None:
    """Refuse a commit whose state was computed from a blob that is no longer the latest.

    Two runs over the same capture directory at once would otherwise each continue the same
    open dialogs and the later commit would silently drop what the earlier one held back.
    Retrying on top cannot fix it (the caller's state was derived from the old blob), so this
    is a :class:`StoreConflictError` for the caller to re-run."""
    from tracehop.errors import StoreConflictError

    for key, want in base.items():
        have = current.get(key)
        if (have.sha256 if have is not None else None) != want:
            raise StoreConflictError(
                f"another run committed new state for {key!r} while this one ran",
                hint="Run again: it continues from the state the other run committed "
                "(two runs over the same capture directory must not overlap)",
            )


def state_info(files: Mapping[str, StateFile | None]) -> dict[str, dict[str, Any] | None]:
    """The ``commitInfo.tracehop.state`` value recording ``files``."""
    return {k: None if f is None else f.to_json() for k, f in files.items()}


def remove_state_files(root: Path, files: Mapping[str, StateFile | None]) -> None:
    """Delete the blobs of a commit that did not happen."""
    for f in files.values():
        if f is not None:
            (root / f.path).unlink(missing_ok=True)
