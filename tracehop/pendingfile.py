"""A file written whole or not at all: a temporary file beside it, renamed over it at the end.

A reader (the token-checking service, a script picking up ``respond --out``) sees the old file
or the new one, never half of one, and a run that fails leaves no stray file behind. The
temporary file is made when a :class:`PendingFile` is created, so that an unwritable place
fails before any work is done, not after it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TextIO


def _default_mode() -> int:
    """The mode ``open()`` would give a new file under the process's umask (mkstemp's is 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


class PendingFile:
    """``with PendingFile(path) as f: f.write(...)``: ``path`` replaced by what was written,
    fsynced, when the block ends without an exception; left as it was otherwise.

    ``mode`` (default: what ``open()`` would give) and ``owner`` (uid, gid; kept only where
    the process may set it) are those of the new file. Raises :class:`OSError` at creation
    when the temporary file cannot be made beside ``path``."""

    def __init__(self, path: Path, *, mode: int | None = None,
                 owner: tuple[int, int] | None = None) -> None:
        self.path = path
        fd, self._tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.fchmod(fd, _default_mode() if mode is None else mode)
            if owner is not None:
                with contextlib.suppress(PermissionError):  # not root: the owner stays ours
                    os.fchown(fd, *owner)
            self._file: TextIO = os.fdopen(fd, "w", encoding="utf-8")
        except BaseException:
            os.close(fd)
            self._discard()
            raise

    def __enter__(self) -> TextIO:
        return self._file

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self._file.close()
            self._discard()
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self._file.close()
            self._discard()
            raise

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)
