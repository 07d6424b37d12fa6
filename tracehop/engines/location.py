"""Opening a store where it lies: a local directory, or an object-storage URL.

A local directory is opened with :class:`tracehop.store.Store`. A URL (``s3a://``, ``s3://``,
``gs://``, ``abfss://``, ``file://``) is opened read-only as a :class:`UrlStore`: the store is
a Delta Lake table (docs/interfaces.md, "the store"), so its ``_delta_log`` lists every live
leg file with its ``day`` partition and row count. The log is read with ``deltalake`` (a
maintained Delta reader with native S3, GCS and Azure clients; credentials from the usual
environment variables, e.g. ``AWS_ACCESS_KEY_ID`` / ``AWS_REGION``,
``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_ACCOUNT_NAME``), and the file paths handed
to the engine are the URL the user gave joined with each file's relative path, so Spark reads
``s3a://bucket/store/legs/day=2026-11-20/part-....parquet`` through its own Hadoop connector.

Only engines that read object storage (Spark) accept a remote URL; DuckDB reads local stores
(``file://`` URLs are turned into local paths for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from tracehop.errors import ConfigError, EngineMissingError, StoreError, StoreNotFoundError

if TYPE_CHECKING:
    from tracehop.store import Store

#: Engines that read object-storage URLs themselves.
URL_ENGINES: Final = frozenset({"spark"})


def is_url(location: str) -> bool:
    """True for ``scheme://...`` (a one-letter scheme is a Windows drive, not a URL)."""
    scheme = urlsplit(location).scheme
    return len(scheme) > 1 and "://" in location


@dataclass(frozen=True)
class _File:
    path: str  # relative to the store root, as in the Delta log
    day: date
    rows: int


class UrlSnapshot:
    """The store at one Delta log version, as the matcher sees it (``files_for``, ``rows``)."""

    def __init__(self, root: str, version: int, files: list[_File]) -> None:
        self.root = root.rstrip("/")
        self.version = version
        self._by_day: dict[date, list[_File]] = {}
        for f in sorted(files, key=lambda f: (f.day, f.path)):
            self._by_day.setdefault(f.day, []).append(f)

    def __repr__(self) -> str:
        return f"UrlSnapshot(root={self.root!r}, version={self.version})"

    def _url(self, f: _File) -> str:
        return f"{self.root}/{f.path}"

    def days(self) -> list[date]:
        return sorted(self._by_day)

    def files_for(self, from_utc: datetime, to_utc: datetime) -> list[str]:
        """URLs of the leg files of the UTC days [from_utc, to_utc] touches (naive = UTC)."""
        first, last = _utc_day(from_utc), _utc_day(to_utc)
        out: list[str] = []
        d = first
        while d <= last:
            out.extend(self._url(f) for f in self._by_day.get(d, []))
            d += timedelta(days=1)
        return out

    def all_files(self) -> list[str]:
        return [self._url(f) for d in self.days() for f in self._by_day[d]]

    @property
    def rows(self) -> int:
        return sum(f.rows for fs in self._by_day.values() for f in fs)


class UrlStore:
    """A tracehop store at a URL, read-only: every :meth:`snapshot` reads the latest log."""

    def __init__(self, url: str, storage_options: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = storage_options

    def __repr__(self) -> str:
        return f"UrlStore({self.url!r})"

    def snapshot(self) -> UrlSnapshot:
        try:
            from deltalake import DeltaTable
        except ImportError:
            raise EngineMissingError("reading a store at a URL needs the deltalake package",
                                     hint="pip install 'tracehop[spark]'") from None
        try:
            table = DeltaTable(self.url, storage_options=self.storage_options)
            version = int(table.version())
            actions = table.get_add_actions(flatten=True)
        except Exception as e:  # deltalake raises TableNotFoundError, OSError, DeltaError
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "no files in log segment" in str(e).lower() or "not found" in str(e).lower():
                raise StoreNotFoundError(
                    f"{self.url}: no tracehop store here (no readable _delta_log): {first}",
                    hint="Check the URL and the storage credentials in the environment") from None
            raise StoreError(f"{self.url}: cannot read the store's Delta log: {first}",
                             hint="Check the URL and the storage credentials in the environment"
                             ) from None
        return UrlSnapshot(self.url, version, _files(actions))


def _files(actions: Any) -> list[_File]:
    import pyarrow as pa

    table = pa.table(actions)
    if "partition.day" not in table.column_names:
        raise StoreError("the Delta table is not partitioned by day: not a tracehop store")
    out: list[_File] = []
    for row in table.select(["path", "partition.day", "num_records"]).to_pylist():
        day = row["partition.day"]
        if isinstance(day, str):
            day = date.fromisoformat(day)
        out.append(_File(unquote(str(row["path"])), day, int(row["num_records"] or 0)))
    return out


def _utc_day(ts: datetime) -> date:
    return ts.date() if ts.tzinfo is None else ts.astimezone(UTC).date()


def open_location(location: str, engine: str = "duckdb") -> Store | UrlStore:
    """The store at ``location`` for ``engine``: a :class:`Store`, or a :class:`UrlStore`.

    A ``file://`` URL is a local directory for DuckDB; any other URL needs an engine that
    reads object storage.
    """
    from tracehop.store import Store

    if not is_url(location):
        return Store.open(location)
    parts = urlsplit(location)
    if engine in URL_ENGINES:
        return UrlStore(location)
    if parts.scheme == "file":
        return Store.open(unquote(parts.path))
    raise ConfigError(
        f"{location}: the {engine} engine reads local stores only",
        hint="Run with --engine spark (with the Hadoop connector for "
        f"{parts.scheme}:// configured; docs/scaling.md), or copy the store to a local directory",
    )
