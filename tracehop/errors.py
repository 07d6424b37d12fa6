"""Every error tracehop raises on purpose.

The CLI catches only the root, :class:`TracehopError`, and prints ``Error: <message>`` with the
hint on how to fix it. Library users can catch the branch they care about.

::

    TracehopError                     root; ``.hint`` says how to fix it
    ├── InputError                    bad input data; carries ``path`` and ``line`` (or frame)
    │   ├── UnreadableFileError       missing, unreadable, empty or truncated file
    │   ├── UnknownFormatError        --format names no profile, or detection could not tell
    │   ├── RecordError               one record is malformed (normally kept as a reject)
    │   └── CaptureError              a pcap/pcapng/HEP capture cannot be read
    ├── ConfigError                   a configuration file or option is wrong
    │   ├── ProfileError              a format profile (TOML) is invalid
    │   ├── ZoneError                 unknown or missing time zone
    │   ├── PeerDirectoryError        the peer directory (TOML) is invalid
    │   └── TokenError                the API token file is invalid
    ├── InquiryError                  an inquiry cannot be answered as asked (bad number, time,
    │                                 window too wide, missing field)
    ├── StoreError                    the call-leg store cannot be opened or written
    │   ├── StoreNotFoundError        no store at that path
    │   ├── StoreConflictError        another writer committed first; retry
    │   └── StoreIOError              a store file cannot be written or read (permissions, disk
    │                                 full, a file where a directory belongs); carries ``path``;
    │                                 also an OSError
    ├── EngineError                   a query engine failed
    │   └── EngineMissingError        an optional engine is not installed (hint: pip extra)
    └── AuditError                    the audit log is broken or was tampered with

Each error keeps its context (file, line, frame) as attributes so that callers can build their
own messages; ``str(err)`` is already a complete sentence naming the file and line.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class TracehopError(Exception):
    """Root of every error tracehop raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}. {self.hint}" if not self.message.endswith(".") else (
                f"{self.message} {self.hint}"
            )
        return self.message


class InputError(TracehopError):
    """Bad input data. ``path`` names the file; ``line`` (1-based) the line or frame, if known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.reason = message


class UnreadableFileError(InputError):
    """A file is missing, unreadable, empty, or ends in the middle of a record."""


class UnknownFormatError(InputError):
    """``--format`` names no known profile, or the format of a file could not be detected."""


class RecordError(InputError):
    """One record is malformed. Ingest keeps it as a reject rather than raising."""


class CaptureError(InputError):
    """A packet capture (pcap, pcapng, HEP) cannot be read. ``line`` is the frame number."""


class ConfigError(TracehopError):
    """A configuration file or option is wrong. ``path`` names the file, ``line`` (1-based)
    the line at fault, if known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path if line is None or self.path is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class ProfileError(ConfigError):
    """A format profile (TOML) is invalid."""


class ZoneError(ConfigError):
    """A time zone name is unknown, or a zone is needed and none was given."""


class PeerDirectoryError(ConfigError):
    """The peer directory (TOML) is invalid."""


class TokenError(ConfigError):
    """The API token file is invalid."""


class InquiryError(TracehopError):
    """An inquiry cannot be answered as asked. ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        self.field = field
        super().__init__(message, hint=hint)


class StoreError(TracehopError):
    """The call-leg store cannot be opened, read or written."""


class StoreNotFoundError(StoreError):
    """There is no store at the given path."""


class StoreConflictError(StoreError):
    """Another writer committed the same version first. Retrying is safe."""


class StoreIOError(StoreError, OSError):
    """The operating system refused to write (or read) a file of the store.

    ``store`` is the store's root, ``path`` the file or directory the error names (the root
    when the error names none), ``errno`` the OS error number, ``reason`` its text.
    ``unchanged``: the caller knows that nothing was committed (the message says so).
    It is an :class:`OSError` too, so code that caught the operating system's error before
    it was translated still does.
    """

    def __init__(
        self, store: str | Path, err: OSError, *, action: str = "write to",
        unchanged: bool = False,
    ) -> None:
        reason = os.strerror(err.errno) if err.errno else str(err)
        named = err.filename if err.filename is not None else _quoted_path(str(err))
        path = str(named) if named else str(store)
        where = "" if path == str(store) else f"{path}: "
        message = f"cannot {action} the store {store}: {where}{reason}"
        if unchanged:
            message += " (nothing was committed)"
        # A path that does not exist (a directory that could not be made): its parent decides.
        shown = path if os.path.lexists(path) else os.path.dirname(path)
        super().__init__(message, hint=_store_io_hint(err.errno, action, shown))
        # Set after OSError's own __init__, which resets them.
        self.store = str(store)
        self.path = path
        self.reason = reason
        self.errno = err.errno
        self.strerror = reason
        self.filename = path


def _quoted_path(text: str) -> str | None:
    """The path in an error text of the form ``... '/some/path' ...`` (pyarrow's file errors
    carry no ``filename``), or None."""
    m = re.search(r"'(/[^']+)'", text)
    return m.group(1) if m else None


def _store_io_hint(code: int | None, action: str, path: str) -> str:
    if code in (errno.EACCES, errno.EPERM):
        verb = "read" if action in ("read", "open") else "write"
        return (f"Check the permissions of {path} (the user running tracehop must be able to "
                f"{verb} it), or pass another --store")
    if code == errno.EROFS:
        return "The file system is mounted read-only: pass a --store on a writable disk"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "The disk is full or the quota is used up: free some space, or pass a --store " \
               "on another disk"
    if code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return ("A file stands where the store needs a directory (or the reverse): move it "
                "away, or pass another --store")
    return "Check the store directory and its disk, or pass another --store"


class EngineError(TracehopError):
    """A query engine failed."""


class EngineMissingError(EngineError):
    """An optional engine is not installed. The hint names the pip extra to install."""


class AuditError(TracehopError):
    """The audit log is unreadable, or its hash chain does not verify."""
