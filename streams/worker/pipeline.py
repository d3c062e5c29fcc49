"""The processing pipeline between the faust agent and the backends.

Per input message: intake (decode, validate, find the template, digest), then the topology
batcher; an update whose template is not known yet is parked (:mod:`~streams.worker.parking`)
so the rest of its partition flows. Per closed batch: take an in-flight slot for its backend
(when none is free the agent stops taking input: backpressure shows as consumer lag) and hand
the batch to the
:class:`~streams.ledger.checkpoint.SubmissionLedger`, which owns the order in which its effects
become durable and acks its inputs last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from processors.batcher import Batch, Lane, TopologyBatcher
from processors.executor import BatchExecutor
from processors.intake import Intake
from processors.pending import SourceRef
from processors.placement import Placement
from processors.validation import Rejection
from schemas import CircuitTemplate, DeadLetter, ErrorCode
from streams.kafka.topics import TopicNames
from streams.ledger.checkpoint import SubmissionLedger
from streams.ledger.store import LedgerStore, Outbox
from streams.tracing import traced_batch
from streams.worker.approval_gate import ApprovalGate, intercept
from streams.worker.parking import Ack, Parked, TemplateParking
from streams.worker.rate_limits import TenantRateLimits
from streams.worker.routing import TopologyShortcut, origin_headers
from streams.worker.stats import PipelineStats

log = logging.getLogger(__name__)

TemplateLookup = Callable[[str], CircuitTemplate | None]


@dataclass(slots=True)
class _Live:
    """An event id accepted by this worker whose result is not yet published."""

    digest: str
    waiting: list[Ack] = field(default_factory=list)


class ProcessingPipeline:
    """Owns the batcher, the in-flight slots and the duplicate-in-flight bookkeeping.

    Args:
        intake: Decides what enters (decode, validation, digest).
        templates: Looks a template up (updates for an unknown one are parked for
            ``template_wait_s``, per template, while the partition flows on).
        batcher: Groups sets by topology.
        executor: Admits and runs batches.
        store: The durable ledger; ``outbox`` the producer.
        topics: The output topics.
        max_in_flight: Concurrent submissions per backend (bulk lane).
        interactive_in_flight: Submissions per backend that only the interactive lane uses,
            on top: an interactive set never waits behind a bulk backlog's batches.
        template_wait_s: How long an update waits for an unknown template.
        tenant_topics: Multi-tenant mode (the tenant is the input topic's).
        gate: The approval gate, which may hold a set where it enters.
        rate_limits: Per-tenant token buckets a set waits for before it is batched.
        placement: Resolves a backend class (``hardware:ibm``) to one backend before batching.

    """

    def __init__(
        self,
        *,
        intake: Intake,
        templates: TemplateLookup,
        batcher: TopologyBatcher,
        executor: BatchExecutor,
        store: LedgerStore,
        outbox: Outbox,
        topics: TopicNames,
        max_in_flight: int,
        template_wait_s: float,
        interactive_in_flight: int = 1,
        tenant_topics: bool = False,
        gate: ApprovalGate | None = None,
        rate_limits: TenantRateLimits | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.placement = placement
        self.intake = intake
        self._templates = templates
        self.batcher = batcher
        self.executor = executor
        self.max_in_flight = max_in_flight
        self._lane_slots = {Lane.BULK: max_in_flight, Lane.INTERACTIVE: interactive_in_flight}
        #: Bumped on every partition revocation; a batch that straddles one, or that ran
        #: longer than ``stale_after_s`` (this worker may have been paused past its session
        #: and replaced), drops results another worker already published (checkpoint step 4).
        self.rebalance_epoch = 0
        self.stale_after_s = 30.0
        self._slots: dict[tuple[str, Lane], asyncio.Semaphore] = {}
        self._running: Counter[str] = Counter()  # backend -> submissions in flight
        self._acks: dict[SourceRef, Ack] = {}
        # Event ids batched or executing here. The ledger only knows an id once its batch is
        # paid for, and batches run concurrently, so a redelivered copy arriving meanwhile
        # would otherwise be executed a second time; it waits for the first copy instead.
        self._live: dict[str, _Live] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight * 4, thread_name_prefix="exec")
        self.tenant_topics = tenant_topics
        self.gate = gate
        self.rate_limits = rate_limits
        self.ledger = SubmissionLedger(
            store,
            outbox,
            topics,
            self._pool,
            results_topic=topics.tenant_results if tenant_topics else None,
        )
        self.parking = TemplateParking(templates, self._accept, wait_s=template_wait_s)
        self.shortcut = TopologyShortcut()
        self.stats = PipelineStats()

    async def on_input(
        self, value: bytes | None, topic: str, partition: int, offset: int, ack: Ack
    ) -> None:
        """Hop 1 of topology routing: intake, then forward the update keyed by its topology.

        Every check happens here, once per input (dead letters name the input's own offset);
        the accepted bytes go unchanged to ``updates-by-topology``, where :meth:`on_message`
        of the worker that owns the topology's partition batches them. When that worker is
        this one, a bulk set is batched here instead (:class:`TopologyShortcut`).
        """
        await self._take(value, SourceRef(topic, partition, offset), ack, route=True, gate=True)

    async def on_message(
        self,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        ack: Ack,
        origin: SourceRef | None = None,
    ) -> None:
        """Handle one input message; ``ack`` is called once its effects are durable.

        ``origin`` is the input a routed copy stands for (hop 2): dead letters name it, and
        copies of one input count as one.
        """
        source = origin or SourceRef(topic, partition, offset)
        await self._take(value, source, ack, route=False, gate=origin is None)

    async def _take(
        self, value: bytes | None, source: SourceRef, ack: Ack, *, route: bool, gate: bool
    ) -> None:
        self.stats.received += 1
        decoded = self.intake.decode(value, source)
        if isinstance(decoded, DeadLetter):
            self._dead_letter(decoded, ack)
            return
        if self.tenant_topics:
            owner = self.ledger.topics.tenant_of(source.topic)
            refused = self.intake.check_tenant(decoded, owner, source, value)
            if refused is not None:
                self._dead_letter(refused, ack)
                return
        item = Parked(decoded, source, value, ack, route, gate)
        template = self._templates(decoded.template_id)
        if template is None and self.parking.wait_s > 0:
            await self.parking.park(item)
            return
        await self._accept(item, template)

    async def _accept(self, item: Parked, template: CircuitTemplate | None) -> None:
        decoded, source, value, ack = item.update, item.source, item.raw, item.ack
        pending = self.intake.accept(decoded, template, source, value)
        if isinstance(pending, DeadLetter):
            self._dead_letter(pending, ack)
            return
        gate = self.gate if item.gate else None
        if gate and await intercept(gate, pending, ack, self.ledger, self._pool):
            return
        if item.route:
            urgent, topology = Lane.of(decoded) is Lane.INTERACTIVE, pending.template.topology_key
            if urgent or not self.shortcut.owns(topology):
                topics = self.ledger.topics
                hop = topics.by_topology_interactive if urgent else topics.by_topology
                self.ledger.forward(hop, topology, pending.raw, ack, origin_headers(source))
                self.stats.routed += 1
                return
            self.stats.shortcuts += 1  # its hop-2 partition is this worker's: batch it here
        placement = self.placement
        if placement is not None and placement.applies(pending):
            running = dict(self._running)
            placed = await asyncio.get_running_loop().run_in_executor(
                self._pool, placement.place, pending, running
            )
            if isinstance(placed, str):
                refusal = Rejection(ErrorCode.BACKEND_NOT_ALLOWED, placed)
                letter = self.intake.reject(refusal, "placement", source, value, update=decoded)
                self._dead_letter(letter, ack)
                return
            pending = placed
        if self.rate_limits is not None:  # over its rate, the tenant's input waits in Kafka
            late = await self.rate_limits.admit(pending, self.intake)
            if late is not None:
                self._dead_letter(late, ack)
                return
        live = self._live.get(decoded.event_id)
        if live is not None:
            if live.digest == pending.digest:  # same payload: done when the first copy is
                live.waiting.append(ack)
                self.stats.duplicates += 1
                return
            conflict = Rejection(
                ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
                "event id already accepted with a different payload",
            )
            letter = self.intake.reject(conflict, "executor", source, value, update=decoded)
            self._dead_letter(letter, ack)
            return
        self._live[decoded.event_id] = _Live(pending.digest)
        self._acks[source] = ack
        for batch in self.batcher.add(pending):
            await self.dispatch(batch)

    async def on_template(
        self, key: bytes | None, value: bytes | None, source: SourceRef, ack: Ack
    ) -> None:
        """Dead-letter a refused template registration once; a good one needs nothing here.

        The template registry of every worker reads the topic whole and skips refused ones;
        this path, driven by the one worker that owns the templates partition in the group,
        is what makes the refusal visible, keyed by the template id.
        """
        if value is None:  # a tombstone
            ack()
            return
        checked = await asyncio.get_running_loop().run_in_executor(
            self._pool, self.intake.register, value, source
        )
        if isinstance(checked, DeadLetter):
            self._dead_letter(checked, ack, key.decode(errors="replace") if key else None)
        else:
            ack()

    def _dead_letter(self, letter: DeadLetter, ack: Ack, key: str | None = None) -> None:
        if self.ledger.dead_letter(letter, ack, key):
            self.stats.dead_letters += 1

    async def tick(self) -> None:
        """Close batches whose ``max_wait`` elapsed; make dead letters durable."""
        for batch in self.batcher.due(ready=self._has_free_slot):
            await self.dispatch(batch)
        await self.ledger.settle_acks()

    def _has_free_slot(self, backend: str, lane: Lane) -> bool:
        slot = self._slots.get((backend, lane))
        return slot is None or not slot.locked()

    def _slot(self, backend: str, lane: Lane) -> asyncio.Semaphore:
        slot = self._slots.get((backend, lane))
        if slot is None:
            slot = self._slots[(backend, lane)] = asyncio.Semaphore(self._lane_slots[lane])
        return slot

    async def dispatch(self, batch: Batch) -> None:
        """Start executing ``batch`` once its backend has a free slot (waits: backpressure)."""
        slot = self._slot(batch.backend, batch.lane)
        await slot.acquire()
        self._running[batch.backend] += 1
        task = asyncio.create_task(self._run(batch, slot))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: _run has logged it, the inputs stay unacked

    async def _run(self, batch: Batch, slot: asyncio.Semaphore) -> None:
        epoch, started = self.rebalance_epoch, time.monotonic()

        def stale() -> bool:
            return epoch != self.rebalance_epoch or time.monotonic() - started > self.stale_after_s

        def ack_inputs() -> None:
            for pending in batch.sets:
                ack = self._acks.pop(pending.source, None)
                if ack is not None:
                    ack()
                live = self._live.pop(pending.update.event_id, None)
                for waiting in live.waiting if live is not None else ():
                    waiting()

        try:
            with traced_batch([p.update for p in batch.sets]) as carriers:
                outcome = await self.ledger.settle(
                    batch, self.executor, stale=stale, ack=ack_inputs, headers=carriers
                )
            self.stats.settled(batch, outcome, time.monotonic() - started)
            if self.placement is not None:
                self.placement.model.observe(batch.backend, time.monotonic() - started)
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
            self._running[batch.backend] -= 1
            slot.release()

    async def drain(self) -> None:
        """Resolve parked updates, close every open batch, wait for all in-flight work, ack."""
        await self.parking.drain()
        for batch in self.batcher.drain():
            await self.dispatch(batch)
        await self.tick()
        if self._tasks:
            # asyncio.wait, not gather: cancelling a drain must not cancel running batches.
            await asyncio.wait(list(self._tasks))

    def in_flight(self) -> dict[str, int]:
        """Submissions running now, per backend (a metric)."""
        return dict(self._running)

    def close(self) -> None:
        """Release the thread pool."""
        self._pool.shutdown(wait=True, cancel_futures=False)


__all__ = ["ProcessingPipeline"]
