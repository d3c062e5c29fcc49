"""What the checkpoint needs from durable storage and from the producer, as two protocols.

Each has two implementations: the Kafka ones that production runs
(:class:`~streams.ledger.kafka_store.KafkaLedgerStore` over the ledger topic, and
:class:`~streams.kafka.clients.Publisher`) and in-memory twins
(:mod:`streams.ledger.memory`) that the unit tests run the same checkpoint against.
"""

from __future__ import annotations

from typing import Any, Protocol

from processors.budget import ClaimLog
from processors.idempotency import IdempotencyLedger
from processors.job_book import ProviderJobBook
from streams.ledger.leases import SlotLeases


class LedgerStore(Protocol):
    """The durable memory of a worker group: paid/done marks, claims, dead-letter marks.

    Writes are buffered; :meth:`flush` makes every write made so far durable (or raises
    :class:`~streams.kafka.clients.PublishError`), and is the only durability point.
    """

    #: event id -> paid/done (None: de-duplication disabled, the fault-test control).
    idempotency: IdempotencyLedger | None
    #: Where budget claims are decided.
    claims: ClaimLog
    #: Group-wide slots of the backends whose provider limits concurrency (None: no limits).
    leases: SlotLeases | None
    #: event id -> the provider job holding its result (re-attached to after a crash).
    provider_jobs: ProviderJobBook | None

    def flush(self) -> None:
        """Make every write durable; a frozen (fenced) process raises before writing."""
        ...

    def guard(self) -> None:
        """Raise (or exit) if this process may no longer write output (stall fence)."""
        ...

    def published_elsewhere(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` another worker already marked done (read up to now)."""
        ...

    def is_dead_lettered(self, source: str) -> bool:
        """Whether the input at ``source`` (``topic:partition:offset``) has its dead letter."""
        ...

    def record_dead_lettered(self, sources: list[str]) -> None:
        """Remember that these inputs' dead letters are published (durable after flush)."""
        ...


class Outbox(Protocol):
    """Where a batch's records go: encoded and produced, acknowledged by :meth:`flush`."""

    def publish(
        self, topic: str, key: str | None, record: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Enqueue ``record`` under ``key`` (with Kafka ``headers``, e.g. trace context)."""
        ...

    def publish_raw(
        self, topic: str, key: str | None, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Enqueue already-encoded bytes under ``key`` (an input forwarded unchanged)."""
        ...

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every enqueued record; raise ``PublishError`` if any failed."""
        ...


__all__ = ["LedgerStore", "Outbox"]
