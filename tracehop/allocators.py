"""Memory-allocator settings for the native libraries tracehop drives, set when it is imported.

Polars allocates through its own jemalloc, pyarrow through mimalloc. Both give freed memory
back to the kernel soon: Polars' jemalloc serves every allocation over 8 MiB from a dedicated
arena that returns it at once (``oversize_threshold``), mimalloc purges freed pages after 10
ms (``purge_delay``). An ingest allocates and frees column buffers of tens of MB all the time
(a gathered row group, an encoded page, a cast), so each reuse of that memory is a fresh page
fault, and the kernel zeroes every page before handing it back: on this kind of virtual
machine ~3.5 µs per 4 KiB page. Before these settings the kernel's page faults were 22% of
the CPU time of a 10M-row Asterisk ingest (``perf record``: ``clear_page_erms`` alone 13%),
and 38% of its CPU time was system time.

Measured (``python benchmarks/bench_ingest.py --rows 10000000``, one ingest per process,
quiet machine, 2026-12-07): libraries' defaults 389-425k rows/s, 2.75-2.90M page faults,
13.4-18.4 s of system time; with the settings below 457-472k rows/s, 1.94-1.99M faults,
9.9-11.3 s. Each half alone gains less (jemalloc's only: 426k; mimalloc's only with jemalloc's
oversize arena off: 465k). A 10 s purge delay instead of none kept most faults (2.7M, 438-448k).

The libraries read these variables once, when they are loaded, so they are set here, before
tracehop imports either, and only where the environment does not set them already (a value of
yours wins, an empty ``_RJEM_MALLOC_CONF`` included). A process that loaded Polars or pyarrow
before importing tracehop keeps the libraries' own defaults: import tracehop first (the
``tracehop`` command and the benchmarks do).

The cost: freed memory stays in the process to be reused, so a long-lived process (``tracehop
serve``) keeps the resident size of its largest batch instead of shrinking back. Set
``MIMALLOC_PURGE_DELAY=10`` and ``_RJEM_MALLOC_CONF=`` (empty) to get the defaults back.
"""

from __future__ import annotations

import os
from typing import Final

#: Environment variable -> value, each read by one library when it loads.
SETTINGS: Final[dict[str, str]] = {
    # Polars' jemalloc (tikv-jemallocator reads the prefixed name): big allocations come from
    # the ordinary arenas, and freed pages are kept for reuse, never purged.
    "_RJEM_MALLOC_CONF": "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1",
    # pyarrow's mimalloc (its default memory pool on Linux): never purge freed pages.
    "MIMALLOC_PURGE_DELAY": "-1",
}


def apply() -> dict[str, str]:
    """Set each of :data:`SETTINGS` the environment does not already set; return the values
    in effect for them."""
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in SETTINGS}
