"""A consistent, immutable view of the store at one log version.

A reader takes a :class:`Snapshot` and queries the paths it lists. Commits only ever add new
files, and compaction only marks files removed in the log: the files themselves are deleted by
``Store.vacuum`` after a retention period, so a snapshot's paths stay readable while other
writers commit or compact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tracehop.store.log import DataFile, RejectFile, TableState
from tracehop.store.records import FileRecord


class Snapshot:
    """The store as of :attr:`version`. Paths returned are absolute strings."""

    def __init__(self, root: Path, state: TableState) -> None:
        self.root = root
        self.version = state.version
        self._by_day: dict[date, list[DataFile]] = {}
        for f in state.live.values():  # log order: older files first within a day
            self._by_day.setdefault(f.day, []).append(f)
        self._rejects: list[RejectFile] = list(state.rejects.values())
        self._files: dict[str, FileRecord] = dict(state.files)

    def __repr__(self) -> str:
        return f"Snapshot(root={str(self.root)!r}, version={self.version}, files={self.file_count})"

    # --- leg files ---------------------------------------------------------------------------

    def days(self) -> list[date]:
        """The UTC days that hold legs, ascending."""
        return sorted(self._by_day)

    def data_files(self, days: Iterable[date] | None = None) -> list[DataFile]:
        """Live leg files (relative paths and sizes), day by day."""
        wanted = self.days() if days is None else sorted(set(days))
        return [f for d in wanted for f in self._by_day.get(d, [])]

    def files_for(self, from_utc: datetime, to_utc: datetime) -> list[str]:
        """Leg files of the UTC days that [from_utc, to_utc] touches (naive = UTC)."""
        first, last = _utc_day(from_utc), _utc_day(to_utc)
        if first > last:
            return []
        out: list[str] = []
        d = first
        while d <= last:
            out.extend(str(self.root / f.path) for f in self._by_day.get(d, []))
            d += timedelta(days=1)
        return out

    def all_files(self) -> list[str]:
        return [str(self.root / f.path) for f in self.data_files()]

    @property
    def file_count(self) -> int:
        return sum(len(v) for v in self._by_day.values())

    @property
    def rows(self) -> int:
        """Leg rows in the snapshot, from the log's statistics (no file is opened)."""
        return sum(f.rows for fs in self._by_day.values() for f in fs)

    # --- rejects and ingested files ------------------------------------------------------------

    def reject_files(self) -> list[str]:
        return [str(self.root / r.path) for r in self._rejects]

    def reject_entries(self) -> list[RejectFile]:
        """The live rejects files as the log lists them (relative path, size, rows, and the
        version of the commit whose rejects each holds: None for a merged one)."""
        return list(self._rejects)

    @property
    def rejected_rows(self) -> int:
        return sum(r.rows for r in self._rejects)

    def ingested_files(self) -> list[FileRecord]:
        """Every source file recorded by a commit, first record per content hash."""
        return list(self._files.values())

    def ingested(self, file_id: str) -> FileRecord | None:
        """The record of the file with this sha256, or None: a dict lookup."""
        return self._files.get(file_id)


def _utc_day(ts: datetime) -> date:
    if ts.tzinfo is None:
        return ts.date()
    return ts.astimezone(UTC).date()
