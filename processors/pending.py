"""A validated parameter set waiting to be batched, with where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import CircuitTemplate, ParameterUpdate


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Kafka coordinates of an input (for dead letters and offset bookkeeping)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class PendingSet:
    """One accepted update, its template and provenance.

    Attributes:
        update: The decoded, edge-validated update.
        template: Its registered template.
        source: Where the update was read from.
        received_monotonic: ``time.monotonic()`` at receipt (drives ``max_wait``).
        received_at: Wall-clock receipt time (UTC).
        digest: ``payload_digest(update)``, computed once at intake: every idempotency check
            downstream compares it, none hashes the set again.
        raw: The encoded message, kept only so a later dead letter can carry it (redacted).

    """

    update: ParameterUpdate
    template: CircuitTemplate
    source: SourceRef
    received_monotonic: float
    received_at: datetime
    digest: str
    raw: bytes = b""


__all__ = ["PendingSet", "SourceRef"]
