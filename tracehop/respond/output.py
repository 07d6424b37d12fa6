"""Where ``respond --out`` writes its answers."""

from __future__ import annotations

from pathlib import Path

from tracehop.errors import ConfigError
from tracehop.pendingfile import PendingFile


def answers_file(path: Path) -> PendingFile:
    """The answers file, made (as a temporary file beside ``path``) before anything is
    answered, and put in place whole when the run ends: a bad path fails before the audit
    entries and evidence packs are written, and a failed run leaves no half-written file."""
    if path.is_dir():
        raise ConfigError("--out names a directory", path=str(path),
                          hint="Give the file to write the answers to")
    try:
        return PendingFile(path)
    except OSError as e:
        raise ConfigError(f"cannot write the answers file ({e.strerror})", path=str(path),
                          hint="Check that its directory exists and is writable") from None
