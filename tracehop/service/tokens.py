"""Per-requester API tokens for ``tracehop serve``, stored hashed in a JSON file.

A token is ``th_`` followed by 43 URL-safe base64 characters: 32 bytes (256 bits) from
:mod:`secrets`. It is printed once, by ``tracehop token add``; the file keeps only its SHA-256.

Why a plain SHA-256 and not a slow KDF (scrypt, argon2): a KDF exists to make guessing a
*low-entropy* secret (a password) expensive. A 256-bit random token cannot be guessed, so a
stolen token file gives nothing that a fast hash would make easier to brute-force, while a KDF
would cost tens of milliseconds on every request. This is the same reasoning GitHub and PyPI use
for their API tokens.

The file (JSON, written atomically with mode 0600)::

    {"format": "tracehop-tokens", "version": 1,
     "tokens": [{"name": "consortium", "sha256": "<64 hex>", "created_utc": "...",
                 "revoked_utc": null}]}

Revoked entries stay in the file so that the audit log's requester names keep their meaning.
:class:`TokenFile` re-reads the file whenever its size, mtime or inode changes, so ``tracehop
token revoke`` takes effect on a running service without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracehop.errors import TokenError
from tracehop.pendingfile import PendingFile

_log = logging.getLogger("tracehop.service")

TOKEN_PREFIX = "th_"
_FORMAT = "tracehop-tokens"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def hash_token(token: str) -> str:
    """The SHA-256 (hex) a token file keeps for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh 256-bit random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenEntry:
    name: str
    sha256: str
    created_utc: str
    revoked_utc: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_utc is None

    @property
    def fingerprint(self) -> str:
        """The first 12 hex digits of the hash: enough to tell tokens apart in a listing."""
        return self.sha256[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "created_utc": self.created_utc,
                "revoked_utc": self.revoked_utc}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_entries(path: Path) -> list[TokenEntry]:
    """Read and validate a token file. A missing file has no tokens."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise TokenError(f"cannot read the token file ({e})", path=path,
                         hint="Check the path and its permissions") from None
    if not text.strip():
        # An empty file holds no tokens yet: deploy steps often create it first with the
        # service's group and mode (`install -m 0640 -g tracehop /dev/null tokens.json`), and
        # `token add` must then fill it. Refusing it as "not valid JSON" sent the operator to
        # `token add`, which refused it the same way.
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TokenError(f"the token file is not valid JSON (line {e.lineno}: {e.msg})",
                         path=path, hint="Restore it from a backup, or move it aside and "
                         "recreate it with `tracehop token add` (new tokens for every "
                         "requester)") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or not isinstance(
            doc.get("tokens"), list):
        raise TokenError("this is not a tracehop token file", path=path,
                         hint="Create one with `tracehop token add NAME --tokens FILE`")
    entries: list[TokenEntry] = []
    for i, raw in enumerate(doc["tokens"], start=1):
        if not isinstance(raw, dict):
            raise TokenError(f"token entry {i} is not an object", path=path)
        name, digest = raw.get("name"), raw.get("sha256")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise TokenError(f"token entry {i} has an invalid name {name!r}", path=path)
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise TokenError(f"token entry {i} ({name}) has no valid sha256 hash", path=path,
                             hint="Revoke it and add a new token")
        revoked = raw.get("revoked_utc")
        entries.append(TokenEntry(name=name, sha256=digest,
                                  created_utc=str(raw.get("created_utc") or ""),
                                  revoked_utc=str(revoked) if revoked else None))
    return entries


def _write_entries(path: Path, entries: list[TokenEntry]) -> None:
    """Replace the file atomically (temp file + rename) so a reader never sees half a file."""
    doc = {"format": _FORMAT, "version": 1, "tokens": [e.to_dict() for e in entries]}
    _require_dir(path)
    try:
        # The file's own mode and group stay: docs/deploy.md has it root:tracehop 0640 for the
        # service's user to read, and a rewrite that left it 0600 root:root would lock the
        # service out (it fails closed: every request 401).
        before: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        before = None
    owner = (before.st_uid, before.st_gid) if before is not None else None
    mode = stat.S_IMODE(before.st_mode) if before is not None else 0o600
    with PendingFile(path, mode=mode, owner=owner) as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def _require_dir(path: Path) -> None:
    """A token file's directory must exist: creating it would hide a mistyped --tokens path
    (the service would never see the token)."""
    if not path.parent.is_dir():
        raise TokenError(f"the directory {path.parent} does not exist",
                         path=path, hint="Create it first, or check the --tokens path")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent ``token add``/``revoke`` runs on one file (read-modify-write)."""
    _require_dir(path)
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def add_token(path: Path, name: str, *, rotate: bool = False) -> str:
    """Add a requester and return its new token (the only time it is ever visible).

    ``rotate``: the requester already has an active token, and gets a second one beside it,
    so that its client can switch over before the old one is revoked (by its fingerprint):
    revoking first would refuse every inquiry in between."""
    if not _NAME_RE.match(name):
        raise TokenError(f"invalid token name {name!r}",
                         hint="Use 1-64 letters, digits, '.', '_', '@' or '-'")
    token = new_token()
    with _locked(path):
        entries = read_entries(path)
        active = any(e.name == name and e.active for e in entries)
        if active and not rotate:
            raise TokenError(f"an active token named {name!r} already exists", path=path,
                             hint=f"To replace it without a gap, add a second one with "
                                  f"`tracehop token add {name} --rotate --tokens {path}`, "
                                  f"switch the client over, then revoke the old one with "
                                  f"`tracehop token revoke {name} --fingerprint FP "
                                  f"--tokens {path}`; or revoke it first with "
                                  f"`tracehop token revoke {name} --tokens {path}`")
        if rotate and not active:
            raise TokenError(f"no active token named {name!r} to rotate", path=path,
                             hint=f"Add it without --rotate: `tracehop token add {name} "
                                  f"--tokens {path}`")
        entries.append(TokenEntry(name=name, sha256=hash_token(token), created_utc=_now()))
        _write_entries(path, entries)
    return token


def revoke_token(path: Path, name: str, fingerprint: str | None = None) -> int:
    """Revoke every active token named ``name`` (with ``fingerprint``: only the one whose hash
    starts with it, as `token list` shows it); returns how many were revoked."""
    fp = fingerprint.strip().lower() if fingerprint is not None else None
    if fp is not None and not re.fullmatch(r"[0-9a-f]{6,64}", fp):
        raise TokenError(f"invalid fingerprint {fingerprint!r}",
                         hint="Give the hex digits `tracehop token list` shows (6 or more)")

    def chosen(e: TokenEntry) -> bool:
        return e.name == name and e.active and (fp is None or e.sha256.startswith(fp))

    with _locked(path):
        entries = read_entries(path)
        hits = [e for e in entries if chosen(e)]
        if not hits:
            what = f"named {name!r}" + ("" if fp is None else f" with fingerprint {fp}")
            raise TokenError(f"no active token {what}", path=path,
                             hint="`tracehop token list --tokens FILE` shows the names and "
                                  "fingerprints")
        now = _now()
        entries = [TokenEntry(e.name, e.sha256, e.created_utc, now) if chosen(e) else e
                   for e in entries]
        _write_entries(path, entries)
    return len(hits)


class TokenFile:
    """Verifies bearer tokens against a token file, re-reading it when it changes.

    The check costs one ``stat`` per request. If a changed file cannot be read, the service
    fails closed (no token verifies) until it is fixed, rather than keeping a stale list in
    which a revoked token would still work.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._sig: tuple[int, int, int] | None = None
        self._active: dict[str, str] = {}  # sha256 -> requester name
        self.load_error: TokenError | None = None
        self._started = False  # the first load's error is raised below, not logged too
        self._reload_if_changed()
        self._started = True
        if self.load_error is not None:
            raise self.load_error
        if self._sig is None:
            # said "has no active token" of a file that is not there (a mistyped --tokens)
            raise TokenError("the token file does not exist", path=self.path,
                             hint="Check the --tokens path, or create it with "
                                  "`tracehop token add NAME --tokens FILE`")
        if not self._active:
            raise TokenError("the token file has no active token", path=self.path,
                             hint="Add one with `tracehop token add NAME --tokens FILE`")

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload_if_changed(self) -> None:
        sig = self._signature()
        if sig == self._sig and self._sig is not None:
            return
        with self._lock:
            if sig == self._sig and self._sig is not None:
                return
            try:
                entries = read_entries(self.path) if sig is not None else []
            except TokenError as e:
                # Fail closed (every request 401), and tell the operator why: from the
                # client's side a damaged file looks like a wrong token.
                self._active = {}
                self.load_error = e
                if self._started:  # at start `serve` says it once, as its Error: line
                    _log.error("token file unusable, refusing every request until it is "
                               "fixed: %s", e)
            else:
                self._active = {e.sha256: e.name for e in entries if e.active}
                self.load_error = None
                if not self._active and self._sig is not None:
                    # Deleted, emptied or every token revoked on a running service: every
                    # request is now 401, which a client cannot tell from a wrong token.
                    _log.warning("the token file %s has no active token (missing, empty or "
                                 "all revoked): every request is refused", self.path)
            self._sig = sig

    def verify(self, token: str | None) -> str | None:
        """The requester name for a valid, unrevoked token; ``None`` otherwise."""
        if not token:
            return None
        self._reload_if_changed()
        # The lookup is keyed by the hash of the guess, so any timing difference can only reveal
        # facts about that hash, which do not help to find a valid token: no constant-time
        # comparison of the token itself is needed.
        return self._active.get(hash_token(token))
