"""What the processing pipeline counts (for metrics and tests) and logs per settled batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import structlog

from processors.batcher import Batch
from processors.executor import ExecutionOutcome

#: qloop's own events, with fields (structlog; rendered by streams.logs).
events = structlog.get_logger("qloop.worker")


@dataclass(slots=True)
class PipelineStats:
    """Counters for metrics, progress reporting and tests."""

    received: int = 0
    dead_letters: int = 0
    results: int = 0
    duplicates: int = 0
    routed: int = 0
    #: Bulk sets batched where they entered: their hop-2 partition is this worker's.
    shortcuts: int = 0
    submissions: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)  # size -> batches (bounded)

    def settled(self, batch: Batch, outcome: ExecutionOutcome, seconds: float) -> None:
        """Count one settled batch and log it (one ``batch settled`` line at INFO)."""
        events.info(
            "batch settled",
            job_id=outcome.job.job_id if outcome.job is not None else None,
            backend=batch.backend,
            primitive=str(batch.primitive),
            sets=batch.size,
            results=len(outcome.results),
            dead_letters=len(outcome.dead_letters),
            duplicates=len(outcome.duplicates),
            seconds=round(seconds, 4),
        )
        self.submissions += outcome.job is not None
        self.results += len(outcome.results)
        self.dead_letters += len(outcome.dead_letters)
        self.duplicates += len(outcome.duplicates)
        self.batch_sizes[batch.size] += 1


__all__ = ["PipelineStats", "events"]
