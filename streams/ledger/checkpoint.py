"""The checkpoint order of a batch and of a dead letter, in one place.

A set is done only when its result is durable on the result topic *and* the ledger says so;
only then may its input offset be committed. :meth:`SubmissionLedger.settle` is the one
function that decides in which order a batch's effects become durable; every crash point
between two of its steps is covered by the fault suite (``tests/integration/test_faults.py``):

1. admit: classify every set against the ledger (new, paid, done, conflict), compile, and
   charge the new ones, one claim per tenant; a granted claim records its sets as paid;
2. make the claims and paid marks durable (crash after this: the sets re-run free of charge);
3. run the admitted sets on the backend, one submission, publishing its ``JobSubmitted`` as it
   is handed over (consumers see queued and running work, not only finished work); when the
   provider limits concurrency, first take a slot lease of the whole group, freed after;
4. if the batch went stale (a rebalance, or it ran past half the group session), drop the
   results another worker published meanwhile;
5. publish compile records, results and dead letters, after the stall guard;
6. wait for the broker's acks; republish once after a delivery error;
7. mark the published sets done;
8. make the done marks durable (crash before this: reconciliation finds the results);
9. ack the inputs.

Nothing here knows Kafka: the store and the outbox are protocols
(:mod:`streams.ledger.store`), with in-memory twins for the unit tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from typing import TypeVar

from processors.batcher import Batch, Lane
from processors.executor import BatchExecutor, ExecutionOutcome
from schemas import DeadLetter, JobSubmitted
from streams.kafka.clients import PublishError
from streams.kafka.topics import TopicNames
from streams.ledger.dead_letter_index import source_key
from streams.ledger.store import LedgerStore, Outbox
from streams.tracing import tracer

log = logging.getLogger(__name__)

T = TypeVar("T")
Ack = Callable[[], object]
#: Longer than librdkafka's message timeout (300 s): a broker outage stalls a batch until the
#: broker is back instead of failing it (which would leave its inputs unacked until a restart).
FLUSH_TIMEOUT_S = 330.0


class SubmissionLedger:
    """Owns the checkpoint order (module docstring) for one worker.

    Args:
        store: The durable ledger (Kafka journal, or the in-memory twin).
        outbox: Where records are produced (the idempotent publisher, or its twin).
        topics: The output topics.
        pool: Threads for the blocking steps (admission, backend, flushes).
        flush_timeout_s: How long a flush may wait for the broker.
        results_topic: Where a tenant's results go (multi-tenant mode: the tenant's own topic;
            else the shared ``job-results``).

    """

    def __init__(
        self,
        store: LedgerStore,
        outbox: Outbox,
        topics: TopicNames,
        pool: Executor,
        *,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
        results_topic: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.results_topic = results_topic or (lambda _tenant: topics.results)
        self.outbox = outbox
        self.topics = topics
        self._pool = pool
        self._flush_s = flush_timeout_s
        self._pending_acks: list[Ack] = []
        self._dead_sources: list[str] = []

    async def _off_loop(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def settle(
        self,
        batch: Batch,
        executor: BatchExecutor,
        *,
        stale: Callable[[], bool],
        ack: Callable[[], None],
        headers: Mapping[str, dict[str, str]] | None = None,
    ) -> ExecutionOutcome:
        """Take ``batch`` through steps 1-9; raise (inputs unacked) if any step fails.

        ``headers``: per event id, the Kafka headers its result carries (its trace context).
        """
        spans = tracer()
        # 1-2. Admit and charge; claims and paid marks are durable before anything runs.
        with spans.start_as_current_span("qloop.admit"):
            admission = await self._off_loop(executor.admit, batch, self.store.flush)
        # 3. One backend submission for the admitted sets, in a group-wide slot where the
        #    provider limits concurrency, announced as it is handed over.
        leases, backend = self.store.leases, admission.backend
        lease = None
        if leases is not None and backend is not None and admission.admitted:
            urgent = batch.lane is Lane.INTERACTIVE  # may take the slots kept for its lane
            lease = await self._off_loop(leases.take, backend.name, urgent)
        try:
            with spans.start_as_current_span("qloop.execute"):
                outcome = await self._off_loop(executor.run, admission, self._hand_off)
        finally:
            if leases is not None and backend is not None and lease is not None:
                await self._off_loop(leases.free, backend.name, lease)
        # 4. A stale batch drops what another worker published while it ran.
        if stale():
            outcome = await self._off_loop(self._drop_published_elsewhere, outcome)
        # 5-6. Publish, then wait for the broker's acks (republish once on a delivery error).
        carriers = dict(headers or {})
        with spans.start_as_current_span("qloop.publish"):
            await self._off_loop(self._publish, outcome, carriers)
            await self._off_loop(self._deliver, outcome, carriers)
        # 7-8. Mark the published sets done and make the marks durable.
        await self._off_loop(self._mark_done, [r.event_id for r in outcome.results])
        # 9. Ack the inputs: their offsets may now be committed.
        ack()
        return outcome

    def _drop_published_elsewhere(self, outcome: ExecutionOutcome) -> ExecutionOutcome:
        """Narrows, but does not close, the zombie window (that needs transactions)."""
        done = self.store.published_elsewhere([r.event_id for r in outcome.results])
        if not done:
            return outcome
        log.warning("dropping %d result(s) already published by another worker", len(done))
        kept = [r for r in outcome.results if r.event_id not in done]
        return replace(outcome, results=kept, duplicates=[*outcome.duplicates, *sorted(done)])

    def _hand_off(self, job: JobSubmitted) -> None:
        self.store.guard()
        self.outbox.publish(self.topics.jobs, job.job_id, job)  # delivered with step 6's flush

    def _publish(
        self,
        outcome: ExecutionOutcome,
        headers: Mapping[str, dict[str, str]] | None = None,
        *,
        with_job: bool = False,
    ) -> None:
        self.store.guard()  # a process frozen past its session exits here, before any output
        topics, outbox = self.topics, self.outbox
        if with_job and outcome.job is not None:  # same job id: the jobs table keeps one row
            outbox.publish(topics.jobs, outcome.job.job_id, outcome.job)
        for record in outcome.compiles:
            outbox.publish(topics.compilations, record.compile_key, record)
        for snapshot in outcome.calibrations:  # compacted on backend/calibration_id
            key = f"{snapshot.backend}/{snapshot.calibration_id}"
            outbox.publish(topics.calibrations, key, snapshot)
        for result in outcome.results:
            carrier = (headers or {}).get(result.event_id)
            outbox.publish(self.results_topic(result.tenant), result.event_id, result, carrier)
        for letter in outcome.dead_letters:
            outbox.publish(topics.dead_letters, letter.event_id, letter)

    def _deliver(
        self, outcome: ExecutionOutcome, headers: Mapping[str, dict[str, str]] | None = None
    ) -> None:
        try:
            self.outbox.flush(self._flush_s)
        except PublishError:
            # Some records timed out for good: publish the outcome again (downstream
            # deduplicates by event id) rather than lose a result.
            log.warning("republishing %d result(s) after a delivery error", len(outcome.results))
            self._publish(outcome, headers, with_job=True)
            self.outbox.flush(self._flush_s)

    def _mark_done(self, event_ids: list[str]) -> None:
        ledger = self.store.idempotency
        if ledger is not None:
            ledger.complete(event_ids)
            self.store.flush()

    def forward(
        self, topic: str, key: str, raw: bytes, ack: Ack, headers: dict[str, str] | None = None
    ) -> None:
        """Produce an accepted input unchanged to ``topic``; ``ack`` it once the broker has it.

        A crash before the ack forwards it again: the next hop sees the same event id and
        payload, which the idempotency ledger makes harmless. The ack waits for
        :meth:`settle_acks`.
        """
        self.store.guard()
        self.outbox.publish_raw(topic, key, raw, headers)
        self._pending_acks.append(ack)

    def dead_letter(self, letter: DeadLetter, ack: Ack, key: str | None = None) -> bool:
        """Publish ``letter`` unless its input already has one; ``ack`` once it is durable.

        Keyed by ``key``, else by the letter's event id. Returns whether it was published. The
        ack waits for :meth:`settle_acks`.
        """
        source = source_key(letter)
        self._pending_acks.append(ack)
        if self.store.is_dead_lettered(source):  # redelivered after a crash
            return False
        self.store.guard()
        self.outbox.publish(self.topics.dead_letters, key or letter.event_id, letter)
        self._dead_sources.append(source)
        return True

    async def settle_acks(self) -> None:
        """Dead letters' and forwards' checkpoint: broker acks, ledger marks, then input acks.

        On a delivery error everything is kept for the next call (the records stay queued in
        the producer) instead of being dropped, which would stall the partitions' commits.
        """
        if not self._pending_acks:
            return
        acks, self._pending_acks = self._pending_acks, []
        sources, self._dead_sources = self._dead_sources, []
        try:
            await self._off_loop(self.outbox.flush, self._flush_s)
            if sources:
                await self._off_loop(self._record_dead, sources)
        except PublishError as exc:
            self._pending_acks = acks + self._pending_acks
            self._dead_sources = sources + self._dead_sources
            log.warning("dead letters or forwards not yet acknowledged, retrying: %s", exc)
            return
        for ack in acks:
            ack()

    def _record_dead(self, sources: list[str]) -> None:
        self.store.record_dead_lettered(sources)
        self.store.flush()


__all__ = ["FLUSH_TIMEOUT_S", "SubmissionLedger"]
