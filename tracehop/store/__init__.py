"""The call-leg store (DESIGN.md §4): a Delta Lake table of day-partitioned, sorted Parquet.

::

    store = Store.open("calls.store", create=True)
    result = store.commit(legs, rejects, files)      # all or nothing
    snap = store.snapshot()                           # consistent view, immutable
    paths = snap.files_for(from_utc, to_utc)          # only the UTC days the range touches
    store.compact()                                   # one sorted file per day

Modules: ``layout`` (paths and Parquet settings), ``delta`` (the Delta actions we write),
``log`` (atomic commits and replay), ``snapshot`` (read views), ``writer`` (``Store``),
``compact`` (compaction and vacuum), ``forget`` (removing what ingested files put in),
``records`` (the result types), ``rejects`` (rejected records read back).
"""

from tracehop.store.log import DataFile, RejectFile
from tracehop.store.records import (
    CommitResult,
    CompactResult,
    DayCompaction,
    FileRecord,
    ForgetResult,
    VacuumResult,
)
from tracehop.store.rejects import Reject, RejectList, read_rejects
from tracehop.store.snapshot import Snapshot
from tracehop.store.writer import Store

__all__ = [
    "CommitResult",
    "CompactResult",
    "DataFile",
    "DayCompaction",
    "FileRecord",
    "ForgetResult",
    "Reject",
    "RejectFile",
    "RejectList",
    "Snapshot",
    "Store",
    "VacuumResult",
    "read_rejects",
]
