"""The ledger store production runs: the journal on the ledger topic, plus its guards.

Puts together what durability needs on Kafka: the :class:`~streams.ledger.journal.KafkaJournal`
(paid/done marks and budget claims), the :class:`~streams.ledger.dead_letter_index.DeadLetterIndex`
(inputs already dead-lettered), the :class:`~streams.ledger.stall_fence.StallFence` (a process
frozen past its group session writes nothing) and reconciliation against the result topic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from processors.budget import ClaimLog
from processors.idempotency import IdempotencyLedger
from processors.job_book import MappingJobBook, ProviderJobBook
from schemas import AvroCodec
from streams.kafka.topics import TopicNames, align_config, ledger_config
from streams.ledger.checkpoint import FLUSH_TIMEOUT_S
from streams.ledger.dead_letter_index import DeadLetterIndex
from streams.ledger.journal import DEFAULT_WINDOW_S, JournalClaimLog, KafkaJournal
from streams.ledger.leases import JournalLeases, SlotLeases
from streams.ledger.reconcile import reconcile_published
from streams.ledger.stall_fence import StallFence

log = logging.getLogger(__name__)


class KafkaLedgerStore:
    """:class:`~streams.ledger.store.LedgerStore` on Kafka.

    Args:
        producer_conf: Idempotent producer settings for the journal.
        reader_conf: Consumer settings for the tailing readers.
        topics: The topics (ledger, dead letters, results).
        codec: Decodes the dead-letter topic.
        deduplicate: False runs WITHOUT idempotency (the fault suite's negative control).
        tenants: Tenants with their own result topics (multi-tenant mode), for reconciliation.
        window_s: How long an event id is remembered (see :mod:`streams.ledger.window`).
        provider_concurrency: Backend -> submissions at once for the whole group (leases).
        lease_ttl_s: How long a lease whose holder crashed blocks its slot.
        interactive_leases: Slots per limited backend kept for the interactive lane.

    """

    def __init__(
        self,
        producer_conf: dict[str, Any],
        reader_conf: dict[str, Any],
        topics: TopicNames,
        codec: AvroCodec,
        *,
        deduplicate: bool = True,
        tenants: tuple[str, ...] = (),
        window_s: float = DEFAULT_WINDOW_S,
        provider_concurrency: Mapping[str, int] | None = None,
        lease_ttl_s: float = 900.0,
        interactive_leases: int = 1,
    ) -> None:
        self.journal = KafkaJournal(producer_conf, reader_conf, topics.ledger, window_s)
        self.leases: SlotLeases | None = None
        if provider_concurrency:
            self.leases = JournalLeases(
                self.journal, provider_concurrency, lease_ttl_s, interactive_leases
            )
        self._admin_conf = producer_conf
        self.claims: ClaimLog = JournalClaimLog(self.journal)
        self.provider_jobs: ProviderJobBook | None = MappingJobBook(
            self.journal.view("provider/"), self.flush
        )
        self.idempotency: IdempotencyLedger | None = None
        self.dead_letters: DeadLetterIndex | None = None
        if deduplicate:
            self.idempotency = IdempotencyLedger(self.journal.view("event/"))
            self.dead_letters = DeadLetterIndex(
                self.journal.view("dead/"), reader_conf, topics.dead_letters, codec
            )
        #: Its limit is set from the group session timeout once the faust app exists.
        self.fence = StallFence(limit_s=30.0)
        self._reader_conf = reader_conf
        # Multi-tenant mode: results live in each tenant's own topic.
        self._results_topics = [topics.tenant_results(t) for t in tenants] or [topics.results]

    def start(self) -> None:
        """Arm the fence, replay the ledger, align its retention, replay the dead letters."""
        self.fence.start()  # first: start-up flushes are checked against it too
        self.journal.start()  # writes the budget totals: older claims may now be deleted
        wanted = ledger_config(self.journal.window_s)
        if align_config(self._admin_conf, self.journal.topic, wanted):
            log.warning("ledger %s now kept for its window: %s", self.journal.topic, wanted)
        if self.dead_letters is not None:
            self.dead_letters.start()

    def catch_up(self) -> None:
        """Apply every ledger write and dead letter made so far (on partition assignment)."""
        self.journal.wait_caught_up()
        if self.dead_letters is not None:
            self.dead_letters.wait_caught_up()

    def reconcile(self) -> int:
        """Mark done every paid set whose result is already on the result topic."""
        if self.idempotency is None:
            return 0
        ledger = self.idempotency

        def mark_done(event_ids: list[str]) -> None:
            ledger.complete(event_ids)
            self.flush()

        return reconcile_published(self.journal, self._reader_conf, self._results_topics, mark_done)

    def guard(self) -> None:
        """Exit if this process was frozen past its group session (see the stall fence)."""
        self.fence.check()

    def flush(self) -> None:
        """Guard, then wait until every journal write is acknowledged."""
        self.fence.check()  # a frozen zombie exits here: its debits and marks never leave
        self.journal.flush(FLUSH_TIMEOUT_S)

    def published_elsewhere(self, event_ids: list[str]) -> set[str]:
        """Ids another worker marked done, after reading the ledger up to now."""
        self.journal.wait_caught_up(30)
        ledger = self.idempotency
        return set() if ledger is None else {e for e in event_ids if ledger.is_done(e)}

    def is_dead_lettered(self, source: str) -> bool:
        """Marked in the ledger or found on the dead-letter topic."""
        return self.dead_letters is not None and source in self.dead_letters

    def record_dead_lettered(self, sources: list[str]) -> None:
        """Mark ``sources`` in the ledger's ``dead/`` namespace."""
        if self.dead_letters is not None:
            for source in sources:
                self.dead_letters[source] = "done"

    def close(self) -> None:
        """Stop the fence and the readers; flush what is pending."""
        self.fence.stop()
        try:
            self.journal.close()
        finally:
            if self.dead_letters is not None:
                self.dead_letters.stop()


__all__ = ["KafkaLedgerStore"]
