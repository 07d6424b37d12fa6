"""The small value types the store hands out: what was ingested, what a commit or compaction did.

They are plain frozen dataclasses so that the ingest layer, the CLI and tests can build and
compare them, and so that :class:`FileRecord` round-trips through the transaction log as JSON
(``to_json`` / ``from_json``) without losing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from tracehop.errors import StoreError


@dataclass(frozen=True)
class FileRecord:
    """One source file that an ingest read, recorded in the commit that stored its rows.

    ``file_id`` is the sha256 (hex) of the file's content: the ingest layer skips a file whose
    id is already in :meth:`Store.ingested_files`, and can detect that a file grew by appending
    (the first ``size`` bytes of the new file hash to an old ``file_id``).
    """

    file_id: str  # sha256 hex of the content
    path: str  # as given on the command line
    size: int  # bytes hashed
    rows_read: int  # records read = stored + rejected + duplicates
    format: str | None = None  # profile name
    source: str | None = None  # the feed's name (--source)
    ingested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stored: int | None = None  # per-file counts, when the ingest layer knows them
    rejected: int | None = None
    duplicates: int | None = None
    # A CDR file that grows by appending (Asterisk's Master.csv) is read on from ``size`` next
    # time; its legs keep the leg_id prefix of the first version read (``id_prefix``; None:
    # the first 16 hex digits of ``file_id``). ``rows_read`` counts the records up to ``size``.
    id_prefix: str | None = None
    # The first line this version read, when it went on from an earlier version of the file:
    # that version's rejects from this line on were read again (tracehop/store/supersede.py).
    first_line: int | None = None
    # The file's first bytes: ``head_size`` (its first line end at or after 64 KiB) and their
    # sha256. A smaller file at the same path that starts with them is an older copy of this
    # one (restored from a backup), not a new file: the ingest says so (ingest/run.py).
    head_size: int | None = None
    head_sha256: str | None = None
    # The legs this version gave the commit (not kept in the log): with several files in one
    # commit and no duplicate among them, each file's ``stored`` is its own count.
    legs_given: int | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "fileId": self.file_id,
            "path": self.path,
            "size": self.size,
            "rowsRead": self.rows_read,
            "format": self.format,
            "source": self.source,
            "ingestedAt": _iso(self.ingested_at),
            "stored": self.stored,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            **({"idPrefix": self.id_prefix} if self.id_prefix is not None else {}),
            **({"firstLine": self.first_line} if self.first_line is not None else {}),
            **({"head": {"size": self.head_size, "sha256": self.head_sha256}}
               if self.head_size is not None else {}),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FileRecord:
        try:
            return cls(
                file_id=str(obj["fileId"]),
                path=str(obj["path"]),
                size=int(obj["size"]),
                rows_read=int(obj["rowsRead"]),
                format=obj.get("format"),
                source=obj.get("source"),
                ingested_at=datetime.fromisoformat(str(obj["ingestedAt"])),
                stored=obj.get("stored"),
                rejected=obj.get("rejected"),
                duplicates=obj.get("duplicates"),
                id_prefix=obj.get("idPrefix"),
                first_line=obj.get("firstLine"),
                head_size=None if not obj.get("head") else int(obj["head"]["size"]),
                head_sha256=None if not obj.get("head") else str(obj["head"]["sha256"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"malformed file record in the transaction log: {obj!r} ({e})") from e


@dataclass(frozen=True)
class CommitResult:
    """What one :meth:`Store.commit` did. ``stored + duplicates`` = leg rows given."""

    version: int  # log version of the commit that made the rows visible
    stored: int  # leg rows written
    duplicates: int  # leg rows dropped because their leg_id was already stored (or repeated)
    rejected: int  # reject rows written
    files: int = 0  # FileRecords recorded
    days: tuple[date, ...] = ()  # UTC days that received rows
    compacted: tuple[date, ...] = ()  # days compacted automatically after the commit
    # Why that automatic compaction failed (a full disk, a damaged older file of the day), if
    # it did: the commit itself stands, and lookups stay right, only slower, until it is done.
    compact_error: str | None = None
    retries: int = 0  # commits lost to a concurrent writer and redone on top
    # reject rows not written: their file was recorded meanwhile by another commit (the same
    # file ingested twice at once), which wrote the same rejects
    rejects_known: int = 0
    # reject rows of earlier versions of grown files that this commit's versions read again
    # (a line cut by a write in progress, whole now): removed (tracehop/store/supersede.py)
    rejects_superseded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rejects_known": self.rejects_known,
            "rejects_superseded": self.rejects_superseded,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "files": self.files,
            "days": [d.isoformat() for d in self.days],
            "compacted": [d.isoformat() for d in self.compacted],
            "compact_error": self.compact_error,
            "retries": self.retries,
        }


def compact_warning(error: str) -> str:
    """What an ingest says when the automatic compaction after its commit failed."""
    return (f"stored, but the automatic compaction after the commit failed ({error}): "
            "lookups stay right but get slower as a day's files pile up; fix the cause, "
            "then run tracehop compact --store DIR")


@dataclass(frozen=True)
class DayCompaction:
    """One day rewritten by compaction."""

    day: date
    files_before: int
    rows: int
    bytes_before: int
    bytes_after: int


@dataclass(frozen=True)
class RejectsCompaction:
    """Small rejects files merged into one by compaction (store/rejectmerge.py)."""

    files_before: int
    rows: int
    bytes_before: int
    bytes_after: int


@dataclass(frozen=True)
class CompactResult:
    """What one :meth:`Store.compact` did. ``version`` is None when nothing needed rewriting."""

    version: int | None
    days: tuple[DayCompaction, ...] = ()
    rejects: tuple[RejectsCompaction, ...] = ()

    @property
    def files_removed(self) -> int:
        return sum(d.files_before for d in self.days)

    @property
    def files_added(self) -> int:
        return len(self.days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files_removed": self.files_removed,
            "files_added": self.files_added,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "files_before": d.files_before,
                    "rows": d.rows,
                    "bytes_before": d.bytes_before,
                    "bytes_after": d.bytes_after,
                }
                for d in self.days
            ],
            "rejects": [
                {
                    "files_before": r.files_before,
                    "rows": r.rows,
                    "bytes_before": r.bytes_before,
                    "bytes_after": r.bytes_after,
                }
                for r in self.rejects
            ],
        }


@dataclass(frozen=True)
class ForgetResult:
    """What one :meth:`Store.forget` did: the records dropped (the files asked for and the
    other versions of the same files), the legs and rejected records removed with them."""

    version: int
    files: tuple[FileRecord, ...]
    legs_removed: int
    rejects_removed: int
    leg_files_rewritten: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files": [{"path": f.path, "file_id": f.file_id, "size": f.size,
                       "format": f.format} for f in self.files],
            "legs_removed": self.legs_removed,
            "rejects_removed": self.rejects_removed,
            "leg_files_rewritten": self.leg_files_rewritten,
        }


@dataclass(frozen=True)
class VacuumResult:
    """Files deleted by :meth:`Store.vacuum` (unreferenced and older than the retention)."""

    deleted: tuple[str, ...]
    bytes_freed: int


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat()
