"""A key-value map whose entries live for a time window, dropped a bucket at a time.

The ledger remembers an event id only for as long as a redelivery can plausibly happen (the
idempotency window, seven days by default); after that the id is forgotten, in memory here and
on the topic by Kafka's time retention. Keys are kept in buckets of ``window / BUCKETS``
seconds by the time they were first written (the Kafka record's timestamp on replay), so
expiring is dropping whole dicts, never a scan per key: a key lives between ``window`` and
``window + window / BUCKETS`` seconds. A lookup checks the few live buckets, newest first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")
#: Buckets per window: memory overshoots the window by at most 1/BUCKETS.
BUCKETS = 8


class WindowedMap(Generic[V]):
    """``key -> value``, each key forgotten ``window_s`` after it was first written.

    Not locked: the journal that owns it holds its own lock around every call.
    """

    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        if not math.isfinite(window_s) or window_s <= 0:
            raise ValueError(f"the window must be a positive number of seconds, not {window_s!r}")
        self.window_s = window_s
        self._width = window_s / BUCKETS
        self._clock = clock
        #: bucket index (write time // width) -> its keys; few, so scanned newest first.
        self._buckets: dict[int, dict[str, V]] = {}
        #: The buckets, newest first: kept in order as buckets come and go, not sorted per
        #: lookup (three lookups per parameter set).
        self._newest_first: list[dict[str, V]] = []
        self._size = 0

    def _bucket_of(self, key: str) -> dict[str, V] | None:
        for bucket in self._newest_first:
            if key in bucket:
                return bucket
        return None

    def _reorder(self) -> None:
        self._newest_first = [self._buckets[i] for i in sorted(self._buckets, reverse=True)]

    def get(self, key: str, default: V | None = None) -> V | None:
        """The value of ``key``, or ``default`` when it is unknown or expired."""
        bucket = self._bucket_of(key)
        return default if bucket is None else bucket[key]

    def __contains__(self, key: str) -> bool:
        return self._bucket_of(key) is not None

    def set(self, key: str, value: V, at: float | None = None) -> None:
        """Write ``key``; a known key keeps its place (its window runs from its first write)."""
        bucket = self._bucket_of(key)
        if bucket is not None:
            bucket[key] = value
            return
        when = self._clock() if at is None else at
        if when < self._clock() - self.window_s:
            return  # already past the window (a replayed record Kafka has not yet deleted)
        index = int(when // self._width)
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = {}
            self._reorder()
        bucket[key] = value
        self._size += 1

    def pop(self, key: str) -> V | None:
        """Remove ``key``; return its value (None when unknown)."""
        bucket = self._bucket_of(key)
        if bucket is None:
            return None
        self._size -= 1
        return bucket.pop(key)

    def expire(self, now: float | None = None) -> list[str]:
        """Drop every bucket wholly older than the window; return the keys dropped."""
        horizon = (self._clock() if now is None else now) - self.window_s
        dropped: list[str] = []
        expired = [i for i in self._buckets if (i + 1) * self._width <= horizon]
        for index in expired:
            dropped += self._buckets.pop(index)
        if expired:
            self._reorder()
        self._size -= len(dropped)
        return dropped

    def keys(self) -> Iterator[str]:
        """Every live key, oldest bucket first."""
        for index in sorted(self._buckets):
            yield from self._buckets[index]

    def __len__(self) -> int:
        return self._size


__all__ = ["BUCKETS", "WindowedMap"]
