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
        raw: The encoded message, kept only so a later dead letter can carry it (redacted).
        digest: ``payload_digest(update)`` when the caller already computed it ("" if not),
            so the idempotency checks downstream do not hash the set again.

    """

    update: ParameterUpdate
    template: CircuitTemplate
    source: SourceRef
    received_monotonic: float
    received_at: datetime
    raw: bytes = b""
    digest: str = ""


__all__ = ["PendingSet", "SourceRef"]
