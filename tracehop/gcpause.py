"""Python's cyclic garbage collector paused while a batch builds its answers (and while a
SIP capture is read into legs: :mod:`tracehop.sip.reader`).

A batch of inquiries allocates hundreds of thousands of small objects that live until the
batch ends: candidate rows (dicts), matches, answers. Each allocation burst triggers the cyclic
collector, and its older generations walk every one of those live objects again and again,
only to find no garbage: nothing in a batch forms a cycle that must be freed before the batch
ends. Measured on the 100M-row bench store, 10,000 inquiries, five runs each alternately
(`respond()` as `tracehop respond` runs it): 5.14-5.97 s with the collector running
(`gc_collect_main` and its visitors were ~5% of the CPU profile, all on the thread that ranks
and decides), 4.55-5.16 s paused.

Pausing is process-wide (``gc.disable``), so concurrent batches (``tracehop serve``) share one
count: the collector runs again when the last of them ends, if it ran before the first began.
A service whose batches overlap without pause would never get there: a batch that ends after
the collector has been off for :data:`MAX_PAUSE_S` runs a full collection itself.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

#: Longest the collector stays off while batches keep overlapping (seconds).
MAX_PAUSE_S: Final = 60.0

_lock = threading.Lock()
_active = 0
_was_enabled = False
_paused_since = 0.0


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off (reference counting still frees memory)."""
    global _active, _was_enabled, _paused_since
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            _paused_since = time.monotonic()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
            elif _was_enabled and time.monotonic() - _paused_since > MAX_PAUSE_S:
                _paused_since = time.monotonic()
                collect = True
        if collect:
            gc.collect()  # runs whether or not the collector is enabled
