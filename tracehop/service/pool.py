"""A small pool of matchers, so that concurrent requests do not queue on one DuckDB connection.

A :class:`tracehop.match.Matcher` owns one DuckDB engine, and the engine serialises queries on
its one connection (a connection is not safe for concurrent use). DuckDB releases the GIL
while a query runs, so a second engine lets two requests' queries run at the same time on the
second core. Each matcher takes its own store snapshot per request, so every answer still comes
from one consistent version of the store.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence

from tracehop.answer import TracebackAnswer
from tracehop.inquiry import Inquiry
from tracehop.match import Matcher


class MatcherPool:
    """``size`` matchers; each call borrows one for its duration (blocking when all are busy)."""

    def __init__(self, make: Callable[[], Matcher], size: int) -> None:
        if size < 1:
            raise ValueError("a matcher pool needs at least one matcher")
        self.size = size
        self._free: queue.SimpleQueue[Matcher] = queue.SimpleQueue()
        for _ in range(size):
            self._free.put(make())

    def lookup_many(self, inquiries: Sequence[Inquiry]) -> list[TracebackAnswer]:
        matcher = self._free.get()
        try:
            return matcher.lookup_many(inquiries)
        finally:
            self._free.put(matcher)
