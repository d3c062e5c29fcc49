"""Topology batcher: pack parameter sets into few backend submissions.

A batch is one submission to one backend with one primitive. Inside it, sets are grouped into
PUBs by (template, shots, precision): one compiled circuit with an ``N x P`` parameter array.
A batch closes when it holds ``max_batch`` sets or its oldest set has waited ``max_wait_s``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from processors.backends.base import FloatArray
from processors.pending import PendingSet
from schemas import CircuitTemplate, ParameterUpdate, Primitive

GroupKey = tuple[str, int | None, float | None]


@dataclass(slots=True)
class Group:
    """The sets of one PUB: same template, shots and precision."""

    template: CircuitTemplate
    shots: int | None
    precision: float | None
    sets: list[PendingSet] = field(default_factory=list)

    def values(self) -> FloatArray:
        """Return the ``N x P`` parameter array, rows in arrival order."""
        width = len(self.template.parameter_names)
        rows = [s.update.parameters for s in self.sets]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


class Lane(StrEnum):
    """Which queue a set waits in: interactive sets never wait behind a bulk backlog."""

    BULK = "bulk"
    INTERACTIVE = "interactive"

    @classmethod
    def of(cls, update: ParameterUpdate) -> Lane:
        """A ``priority`` above 0 is interactive (a person or a tight loop waits for it)."""
        return cls.INTERACTIVE if update.priority > 0 else cls.BULK


@dataclass(slots=True)
class Batch:
    """One backend submission: a backend, a primitive, a lane and its PUB groups."""

    backend: str
    primitive: Primitive
    opened_monotonic: float
    lane: Lane = Lane.BULK
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    size: int = 0

    @property
    def sets(self) -> list[PendingSet]:
        """All sets, grouped by PUB."""
        return [s for g in self.groups.values() for s in g.sets]

    def add(self, pending: PendingSet) -> None:
        """Append ``pending`` to its PUB group."""
        update = pending.update
        key: GroupKey = (update.template_id, update.shots, update.precision)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(pending.template, update.shots, update.precision)
        group.sets.append(pending)
        self.size += 1


@dataclass(slots=True)
class BatchStats:
    """Batch-size distribution and why batches closed."""

    sizes: Counter[int] = field(default_factory=Counter)
    closed_by_size: int = 0
    closed_by_time: int = 0
    closed_by_drain: int = 0

    @property
    def batches(self) -> int:
        """Number of closed batches."""
        return sum(self.sizes.values())

    @property
    def sets(self) -> int:
        """Number of sets in closed batches."""
        return sum(size * n for size, n in self.sizes.items())


class TopologyBatcher:
    """Accumulates sets per (backend, primitive, lane) and closes batches by size or age.

    Not thread-safe: one agent owns one batcher. Memory is bounded by the number of open
    batches times ``max_batch``; the caller applies backpressure on top.

    Args:
        max_batch: Sets per batch that close it immediately.
        max_wait_s: Age of a batch's first set after which :meth:`due` closes it.
        clock: Monotonic clock (injected in tests).

    """

    def __init__(
        self,
        max_batch: int,
        max_wait_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._open: dict[tuple[str, Primitive, Lane], Batch] = {}
        self.stats = BatchStats()

    @property
    def pending(self) -> int:
        """Sets held in open batches."""
        return sum(b.size for b in self._open.values())

    def add(self, pending: PendingSet) -> list[Batch]:
        """Add one set; return the batch it closed by size, if any."""
        update = pending.update
        key = (update.backend, update.primitive, Lane.of(update))
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = Batch(key[0], key[1], self._clock(), key[2])
        batch.add(pending)
        if batch.size >= self._max_batch:
            self.stats.closed_by_size += 1
            return [self._close(key)]
        return []

    def due(self, ready: Callable[[str, Lane], bool] | None = None) -> list[Batch]:
        """Close and return every batch whose first set has waited ``max_wait_s``.

        Args:
            ready: Tells whether a backend can take a submission of a lane now. A due batch for a
                backend that cannot stays open and keeps growing (up to ``max_batch``): under
                load the wait for a free slot is spent filling the next submission instead of
                queueing a small one, while an idle backend still gets a batch at ``max_wait``.

        """
        now = self._clock()
        keys = [
            k
            for k, b in self._open.items()
            if now - b.opened_monotonic >= self._max_wait_s and (ready is None or ready(k[0], k[2]))
        ]
        self.stats.closed_by_time += len(keys)
        return [self._close(k) for k in keys]

    def next_deadline(self) -> float | None:
        """Monotonic time at which :meth:`due` will next return something (None if idle)."""
        if not self._open:
            return None
        return min(b.opened_monotonic for b in self._open.values()) + self._max_wait_s

    def drain(self) -> list[Batch]:
        """Close everything (shutdown or rebalance)."""
        keys = list(self._open)
        self.stats.closed_by_drain += len(keys)
        return [self._close(k) for k in keys]

    def _close(self, key: tuple[str, Primitive, Lane]) -> Batch:
        batch = self._open.pop(key)
        self.stats.sizes[batch.size] += 1
        return batch


__all__ = ["Batch", "BatchStats", "Group", "GroupKey", "Lane", "TopologyBatcher"]
