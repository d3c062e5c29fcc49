"""The processing pipeline between the faust agent and the backends.

Per input message: decode and validate at the edge, find the template, add the set to the
topology batcher. Per closed batch: take an in-flight slot for its backend (when none is free
the agent stops taking input: backpressure shows as consumer lag), execute it in a worker
thread, publish the job, results, compile records and dead letters, wait for the broker's
acks, and only then ack the input messages so their offsets can be committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from processors.batcher import Batch, TopologyBatcher
from processors.executor import BatchExecutor, ExecutionOutcome
from processors.idempotency import payload_digest
from processors.pending import PendingSet, SourceRef
from processors.validation import Rejection, validate_against_template
from schemas import DeadLetter, ErrorCode, ParameterUpdate
from streams.kafka.clients import Publisher, PublishError
from streams.kafka.topics import TopicNames
from streams.ledger.dead_letter_index import source_key
from streams.worker.edge import Edge
from streams.worker.template_registry import TemplateRegistry

log = logging.getLogger(__name__)

Ack = Callable[[], object]
_FLUSH_S = 330.0


@dataclass(slots=True)
class PipelineStats:
    """Counters for progress reporting and tests."""

    received: int = 0
    dead_letters: int = 0
    results: int = 0
    duplicates: int = 0
    submissions: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)  # size -> batches (bounded)


@dataclass(slots=True)
class _Live:
    """An event id accepted by this worker whose result is not yet published."""

    digest: str
    waiting: list[Ack] = field(default_factory=list)


class ProcessingPipeline:
    """Owns the batcher, the in-flight slots and the ack bookkeeping of one worker."""

    def __init__(
        self,
        *,
        edge: Edge,
        registry: TemplateRegistry,
        batcher: TopologyBatcher,
        executor: BatchExecutor,
        publisher: Publisher,
        topics: TopicNames,
        max_in_flight: int,
        template_wait_s: float,
        on_results_published: Callable[[list[str]], None] = lambda ids: None,
        done_elsewhere: Callable[[list[str]], set[str]] = lambda ids: set(),
        dead_letter_ledger: MutableMapping[str, str] | None = None,
        flush_ledger: Callable[[], None] = lambda: None,
        before_publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.edge = edge
        self.registry = registry
        self.batcher = batcher
        self.executor = executor
        self.publisher = publisher
        self.topics = topics
        self.template_wait_s = template_wait_s
        self.max_in_flight = max_in_flight
        self._on_results_published = on_results_published
        self._done_elsewhere = done_elsewhere
        #: Bumped on every partition revocation; a batch that straddles one, or that ran
        #: longer than ``stale_after_s`` (this worker may have been paused past its session
        #: and replaced), re-reads the ledger before publishing (see :meth:`_fence`).
        self.rebalance_epoch = 0
        self.stale_after_s = 30.0
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._acks: dict[SourceRef, Ack] = {}
        # Event ids batched or executing here. The ledger only knows an id once its batch is
        # paid for, and batches run concurrently, so a redelivered copy arriving meanwhile
        # would otherwise be executed a second time; it waits for the first copy instead.
        self._live: dict[str, _Live] = {}
        self._ack_after_flush: list[Ack] = []
        # Source coordinates of dead letters already published (a redelivered bad input must
        # not be dead-lettered twice), and those published since the last tick.
        self._dead_ledger = dead_letter_ledger
        self._flush_ledger = flush_ledger
        #: Called before any output is produced; the worker passes its stall fence, which
        #: ends a process that was frozen past its group session (see streams.ledger.stall_fence).
        self._before_publish = before_publish
        self._dead_pending: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight * 4, thread_name_prefix="exec")
        self.stats = PipelineStats()

    async def on_message(
        self, value: bytes | None, topic: str, partition: int, offset: int, ack: Ack
    ) -> None:
        """Handle one input message; ``ack`` is called once its effects are durable."""
        self.stats.received += 1
        decoded = self.edge.decode_update(value, topic, partition, offset)
        if isinstance(decoded, DeadLetter):
            self._dead_letter(decoded, ack)
            return
        template = self.registry.get(decoded.template_id)
        if template is None and self.template_wait_s > 0:
            template = await asyncio.get_running_loop().run_in_executor(
                self._pool, self.registry.wait_for, decoded.template_id, self.template_wait_s
            )
        source = SourceRef(topic, partition, offset)
        rejection = validate_against_template(decoded, template, limits=self.edge.limits)
        if rejection is not None:
            self._reject(rejection, "validate", source, value, decoded, ack)
            return
        assert template is not None  # noqa: S101 - validate_against_template rejects None
        digest = payload_digest(decoded)
        live = self._live.get(decoded.event_id)
        if live is not None:
            if live.digest == digest:  # same payload: done when the first copy is done
                live.waiting.append(ack)
                self.stats.duplicates += 1
                return
            conflict = Rejection(
                ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
                "event id already accepted with a different payload",
            )
            self._reject(conflict, "executor", source, value, decoded, ack)
            return
        self._live[decoded.event_id] = _Live(digest)
        self._acks[source] = ack
        pending = PendingSet(
            update=decoded,
            template=template,
            source=source,
            received_monotonic=time.monotonic(),
            received_at=datetime.now(UTC),
            raw=value or b"",
            digest=digest,
        )
        for batch in self.batcher.add(pending):
            await self.dispatch(batch)

    def _reject(
        self,
        rejection: Rejection,
        stage: str,
        source: SourceRef,
        value: bytes | None,
        update: ParameterUpdate,
        ack: Ack,
    ) -> None:
        letter = self.edge.dead_letter(
            rejection,
            stage=stage,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            raw=value or b"",
            update=update,
        )
        self._dead_letter(letter, ack)

    def _dead_letter(self, letter: DeadLetter, ack: Ack) -> None:
        key = source_key(letter)
        if self._dead_ledger is not None:
            if key in self._dead_ledger:  # redelivered after a crash: already dead-lettered
                self._ack_after_flush.append(ack)
                return
            self._dead_pending.append(key)
        self._before_publish()
        self.publisher.publish(self.topics.dead_letters, letter.event_id, letter)
        self.stats.dead_letters += 1
        self._ack_after_flush.append(ack)

    def _record_dead_letters(self, keys: list[str]) -> None:
        if self._dead_ledger is not None and keys:
            for key in keys:
                self._dead_ledger[key] = "done"
            self._flush_ledger()

    async def tick(self) -> None:
        """Close batches whose ``max_wait`` elapsed; make edge dead letters durable."""
        for batch in self.batcher.due(ready=self._has_free_slot):
            await self.dispatch(batch)
        if self._ack_after_flush:
            acks, self._ack_after_flush = self._ack_after_flush, []
            keys, self._dead_pending = self._dead_pending, []
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._pool, self.publisher.flush)
                await loop.run_in_executor(self._pool, self._record_dead_letters, keys)
            except PublishError as exc:
                # Broker unreachable: keep the acks and try again on the next tick (the records
                # stay queued in the producer), instead of dropping them and stalling commits.
                self._ack_after_flush = acks + self._ack_after_flush
                self._dead_pending = keys + self._dead_pending
                log.warning("dead letters not yet acknowledged, retrying: %s", exc)
                return
            for ack in acks:
                ack()

    def _has_free_slot(self, backend: str) -> bool:
        slot = self._slots.get(backend)
        return slot is None or not slot.locked()

    def _slot(self, backend: str) -> asyncio.Semaphore:
        slot = self._slots.get(backend)
        if slot is None:
            slot = self._slots[backend] = asyncio.Semaphore(self.max_in_flight)
        return slot

    async def dispatch(self, batch: Batch) -> None:
        """Start executing ``batch`` once its backend has a free slot (waits: backpressure)."""
        slot = self._slot(batch.backend)
        await slot.acquire()
        task = asyncio.create_task(self._run(batch, slot))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: _run has logged it, the inputs stay unacked

    async def _run(self, batch: Batch, slot: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        epoch, started = self.rebalance_epoch, time.monotonic()
        try:
            outcome = await loop.run_in_executor(self._pool, self.executor.execute, batch)
            if epoch != self.rebalance_epoch or time.monotonic() - started > self.stale_after_s:
                outcome = await loop.run_in_executor(self._pool, self._fence, outcome)
            # Encoding and producing a batch's records is the worker's biggest Python cost after
            # decoding: off the event loop, intake keeps filling the next batch meanwhile.
            await loop.run_in_executor(self._pool, self._publish, outcome)
            self._count(outcome)
            try:
                # Longer than librdkafka's message timeout (300 s): a broker outage stalls the
                # batch until the broker is back instead of failing it, which would leave its
                # inputs unacked until the next restart and stall the partition's commits.
                await loop.run_in_executor(self._pool, self.publisher.flush, _FLUSH_S)
            except PublishError:
                # Some records timed out for good: publish the outcome again (downstream
                # deduplicates by event id) rather than lose a result.
                log.warning("republishing a batch of %d sets after a delivery error", batch.size)
                await loop.run_in_executor(self._pool, self._publish, outcome)
                await loop.run_in_executor(self._pool, self.publisher.flush, _FLUSH_S)
            # Off the event loop: it may flush the ledger, which waits for the broker.
            ids = [r.event_id for r in outcome.results]
            await loop.run_in_executor(self._pool, self._on_results_published, ids)
            self.stats.batch_sizes[batch.size] += 1
            for pending in batch.sets:
                ack = self._acks.pop(pending.source, None)
                if ack is not None:
                    ack()
                live = self._live.pop(pending.update.event_id, None)
                for waiting in live.waiting if live is not None else ():
                    waiting()
        except Exception:
            # Leave the inputs (and copies waiting on them) unacked: they are redelivered
            # after a restart, and the ledger makes the retry free of double charges.
            log.exception(
                "batch of %d sets on %s failed; inputs stay unacked", batch.size, batch.backend
            )
            for pending in batch.sets:
                self._acks.pop(pending.source, None)
                self._live.pop(pending.update.event_id, None)
            raise
        finally:
            slot.release()

    def _fence(self, outcome: ExecutionOutcome) -> ExecutionOutcome:
        """Drop results another worker already published while this batch was running.

        Narrows, but does not close, the zombie-worker window: closing it needs
        transactional producers fenced per partition.
        """
        done = self._done_elsewhere([r.event_id for r in outcome.results])
        if not done:
            return outcome
        log.warning("dropping %d result(s) already published by another worker", len(done))
        kept = [r for r in outcome.results if r.event_id not in done]
        return replace(outcome, results=kept, duplicates=[*outcome.duplicates, *sorted(done)])

    def _publish(self, outcome: ExecutionOutcome) -> None:
        """Encode and hand a batch's records to the producer (thread-safe; runs in the pool)."""
        self._before_publish()
        topics = self.topics
        if outcome.job is not None:
            self.publisher.publish(topics.jobs, outcome.job.job_id, outcome.job)
        for record in outcome.compiles:
            self.publisher.publish(topics.compilations, record.compile_key, record)
        for result in outcome.results:
            self.publisher.publish(topics.results, result.event_id, result)
        for letter in outcome.dead_letters:
            self.publisher.publish(topics.dead_letters, letter.event_id, letter)

    def _count(self, outcome: ExecutionOutcome) -> None:
        self.stats.submissions += outcome.job is not None
        self.stats.results += len(outcome.results)
        self.stats.dead_letters += len(outcome.dead_letters)
        self.stats.duplicates += len(outcome.duplicates)

    async def drain(self) -> None:
        """Close every open batch, wait for all in-flight work, flush and ack (shutdown)."""
        for batch in self.batcher.drain():
            await self.dispatch(batch)
        await self.tick()
        if self._tasks:
            # asyncio.wait, not gather: cancelling a drain must not cancel running batches.
            await asyncio.wait(list(self._tasks))

    def close(self) -> None:
        """Release the thread pool."""
        self._pool.shutdown(wait=True, cancel_futures=False)


__all__ = ["PipelineStats", "ProcessingPipeline"]
