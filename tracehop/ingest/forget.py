"""Which ingested files a user means by ``tracehop forget PATH...``.

A path names a file the store recorded when the file's content hashes to a record (the file as
it was ingested, wherever it is now), else when a record has its resolved path (the file was
rotated, edited or deleted since, or grew). A record's id, as ``tracehop files`` lists it, may
be given instead, whole or by its first 8 or more hex digits.

SIP captures are refused: a SIP leg is identified by its call (the INVITE's dialog and branch),
not by the capture that held it, so a call's legs may come from several captures; and their
times are the capture's own UTC timestamps, so there is no zone to get wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tracehop.errors import ConfigError
from tracehop.ingest.formats import registered_formats
from tracehop.ingest.run import _path_key, file_sha256
from tracehop.store import FileRecord, ForgetResult, Store

_HEX_ID = re.compile(r"^[0-9a-f]{8,64}$")


def resolve(store: Store, targets: Sequence[str]) -> list[FileRecord]:
    """The records ``targets`` (paths or file ids) name, in the order given, each once.

    Raises ConfigError naming the target when one names no record or a SIP capture."""
    records = store.ingested_files()
    found: dict[str, FileRecord] = {}
    captures = registered_formats()
    for target in targets:
        hits = _records_of(target, records)
        if not hits:
            raise ConfigError(
                f"{target}: no ingested file of this store has this content, path or id",
                hint="`tracehop files --store DIR` lists the ingested files with their ids")
        for r in hits:
            if r.format in captures:
                raise ConfigError(
                    f"{target}: a {r.format} capture cannot be forgotten: its legs belong to "
                    "calls, which may span captures, and their times are the capture's own UTC",
                    hint="Forget CDR files only; to drop captures, ingest them into a new store")
            found.setdefault(r.file_id, r)
    return list(found.values())


def _records_of(target: str, records: Sequence[FileRecord]) -> list[FileRecord]:
    path = Path(target)
    if path.is_file():
        try:
            digest = file_sha256(path)[0]
        except OSError:
            digest = ""
        same = [r for r in records if r.file_id == digest]
        if same:
            return same
    if path.exists() or not _HEX_ID.match(target.lower()):
        key = _path_key(path)
        return [r for r in records if r.path in (key, target)]
    hits = [r for r in records if r.file_id.startswith(target.lower())]
    if len(hits) > 1:
        raise ConfigError(f"{target}: the id prefix matches {len(hits)} ingested files",
                          hint="Give more of the id, as `tracehop files --store DIR` lists it")
    return hits


def forget(store: Store, targets: Sequence[str]) -> ForgetResult:
    """Forget the files ``targets`` name (:func:`resolve`): their legs, rejected records and
    records leave the store in one version, with the other versions of a file that grew."""
    return store.forget([r.file_id for r in resolve(store, targets)])
