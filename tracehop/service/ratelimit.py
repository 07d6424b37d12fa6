"""Per-requester rate limits: one token bucket per requester name.

Each requester may ask ``per_minute`` inquiries per minute on average, with bursts of up to
``per_minute`` at once (the bucket's capacity). A batch takes one unit per inquiry, so a batch
is no way around the limit. The limiter lives in the service process; behind several workers
each has its own buckets (documented in docs/deploy.md: run one worker).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0  # whole seconds, as the Retry-After header wants (RFC 9110 §10.2.3)
    remaining: int = 0


class RateLimiter:
    """Token buckets keyed by requester. Thread-safe; ``clock`` is injectable for tests."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # units per second
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (level, last refill time)

    def take(self, requester: str, n: int = 1) -> Decision:
        """Take ``n`` units for ``requester`` if all are there; otherwise take none."""
        now = self._clock()
        with self._lock:
            level, last = self._buckets.get(requester, (self.capacity, now))
            level = min(self.capacity, level + (now - last) * self.rate)
            if n <= level:
                level -= n
                self._buckets[requester] = (level, now)
                return Decision(True, 0, int(level))
            self._buckets[requester] = (level, now)
            wait = (n - level) / self.rate
            return Decision(False, max(1, math.ceil(wait)), int(level))
