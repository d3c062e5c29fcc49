"""``qloop worker``: the faust app that runs the processing pipeline.

The agent is thin: it hands each raw message and a manual ack to
:class:`~streams.worker.pipeline.ProcessingPipeline`. Acks are manual (``noack``) because a set is
only done when its result is durable, which happens after the batch executes; faust commits
the contiguous acked prefix of each partition.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from processors.batcher import TopologyBatcher
from processors.budget import Budget, BudgetLedger
from processors.compile_cache import CompileCache
from processors.executor import BatchExecutor
from processors.idempotency import IdempotencyLedger
from streams.config import Settings
from streams.kafka.clients import Publisher, consumer_config, producer_config
from streams.kafka.topics import TopicNames, create_topics
from streams.ledger.dead_letter_index import DeadLetterIndex
from streams.ledger.journal import JournalClaimLog, KafkaJournal
from streams.ledger.reconcile import reconcile_published
from streams.ledger.stall_fence import StallFence
from streams.worker.edge import Edge
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.template_registry import TemplateRegistry
from streams.worker.wiring import make_backends, make_codec, make_limits

log = logging.getLogger(__name__)

#: Test-only switch (fault-test negative control): ``1`` runs the worker WITHOUT its idempotency
#: ledger, so redeliveries re-execute and re-charge. Never set it in production.
UNSAFE_DISABLE_LEDGER = "QLOOP_UNSAFE_DISABLE_LEDGER"
_LEDGER_FLUSH_S = 330.0


@dataclass
class Worker:
    """Everything one processing worker owns, built from settings."""

    settings: Settings
    topics: TopicNames
    app: faust.App
    pipeline: ProcessingPipeline
    journal: KafkaJournal
    registry: TemplateRegistry
    fence: StallFence
    dead_letters: DeadLetterIndex | None
    reconcile: Callable[[], object]

    @classmethod
    def build(cls, settings: Settings, topics: TopicNames | None = None) -> Worker:
        """Wire the pipeline from ``settings`` (topics must exist)."""
        topics = topics or TopicNames(settings.topic_prefix)
        codec = make_codec(settings)
        limits = make_limits(settings)
        edge = Edge(codec, limits)
        reader_conf = consumer_config(settings, "unused")
        registry = TemplateRegistry(reader_conf, topics.templates, edge)
        journal = KafkaJournal(producer_config(settings), reader_conf, topics.ledger)
        budgets = {t: Budget(**b) for t, b in settings.budgets.items()}
        default = None
        if settings.default_budget_shots is not None or settings.default_budget_cost is not None:
            default = Budget(settings.default_budget_shots, settings.default_budget_cost)
        idempotency: IdempotencyLedger | None = IdempotencyLedger(journal.view("event/"))
        if os.environ.get(UNSAFE_DISABLE_LEDGER) == "1":
            log.warning(
                "%s=1: idempotency ledger DISABLED (fault-test control)", UNSAFE_DISABLE_LEDGER
            )
            idempotency = None

        # Its limit is set from the group session timeout once the faust app exists.
        fence = StallFence(limit_s=30.0)

        def flush_ledger() -> None:
            fence.check()  # a frozen zombie exits here: its debits and marks never leave
            # Past librdkafka's message timeout (300 s), so a broker outage shorter than that
            # stalls the batch instead of failing it; a failure here is a real delivery error.
            journal.flush(_LEDGER_FLUSH_S)

        def results_published(event_ids: list[str]) -> None:
            # Make "done" durable now, not with the next batch's debit: a crash in between
            # would otherwise re-execute the batch after a restart and publish its results twice.
            if idempotency is not None:
                idempotency.complete(event_ids)
                flush_ledger()

        dead_letters = None
        if idempotency is not None:
            dead_letters = DeadLetterIndex(
                journal.view("dead/"), reader_conf, topics.dead_letters, codec
            )
        executor = BatchExecutor(
            make_backends(settings).get,
            CompileCache(settings.compile_cache_size),
            limits=limits,
            budget=BudgetLedger(budgets, default=default, log=JournalClaimLog(journal)),
            idempotency=idempotency,
            complete_on_return=False,
            before_submit=flush_ledger,
        )
        pipeline = ProcessingPipeline(
            edge=edge,
            registry=registry,
            batcher=TopologyBatcher(settings.max_batch, settings.max_wait_ms / 1000),
            executor=executor,
            publisher=Publisher.from_settings(settings, codec),
            topics=topics,
            max_in_flight=settings.max_in_flight,
            template_wait_s=settings.template_wait_ms / 1000,
            on_results_published=results_published,
            done_elsewhere=_done_elsewhere(journal),
            dead_letter_ledger=dead_letters,
            flush_ledger=flush_ledger,
            before_publish=fence.check,
        )

        def reconcile() -> int:
            if idempotency is None:
                return 0
            return reconcile_published(journal, reader_conf, topics.results, results_published)

        app = _faust_app(settings, topics, pipeline, flush_ledger, journal, dead_letters, reconcile)
        fence.limit_s = float(app.conf.broker_session_timeout) / 2
        return cls(
            settings, topics, app, pipeline, journal, registry, fence, dead_letters, reconcile
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop`` is set, then drain and stop cleanly."""
        loop = asyncio.get_running_loop()
        self.fence.start()  # first: start-up ledger flushes are checked against it too
        await loop.run_in_executor(None, self.registry.start)
        await loop.run_in_executor(None, self.journal.start)
        if self.dead_letters is not None:
            await loop.run_in_executor(None, self.dead_letters.start)
        await loop.run_in_executor(None, self.reconcile)
        self.app.finalize()
        await self.app.start()
        ready = os.environ.get("QLOOP_READY_FILE")
        if ready:  # LocalStack waits for this before it reports the stack as up
            Path(ready).write_text(str(os.getpid()))
        try:
            await stop.wait()
        finally:
            # faust stops its timers as soon as stop() begins, then waits for every consumed
            # message to be acked before it fires on_before_shutdown: a batch still waiting
            # for max_wait would never close and the worker would hang until SIGKILL. So keep
            # closing and finishing batches while faust drains its streams and commits.
            closer = asyncio.create_task(self._drain_while_stopping())
            try:
                await self.app.stop()
            finally:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
                self.fence.stop()
                self.pipeline.close()
                self.journal.close()
                self.registry.stop()
                if self.dead_letters is not None:
                    self.dead_letters.stop()

    async def _drain_while_stopping(self, interval_s: float = 0.05) -> None:
        while True:
            await self.pipeline.drain()
            await asyncio.sleep(interval_s)


def _faust_app(
    settings: Settings,
    topics: TopicNames,
    pipeline: ProcessingPipeline,
    flush_ledger: Callable[[], None],
    journal: KafkaJournal,
    dead_letters: DeadLetterIndex | None,
    reconcile: Callable[[], object],
) -> faust.App:
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{topics.prefix}processor",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        stream_buffer_maxsize=max(64, settings.max_batch * 2),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    source = app.topic(topics.updates, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="process-updates")
    async def process_updates(stream: Any) -> None:
        async for event in stream.noack().events():
            msg = event.message
            await pipeline.on_message(event.value, msg.topic, msg.partition, msg.offset, event.ack)

    async def close_due_batches() -> None:
        await pipeline.tick()

    app.timer(interval=max(settings.max_wait_ms / 2000, 0.005))(close_due_batches)

    async def drain(_app: Any, **_kw: Any) -> None:
        await pipeline.drain()

    app.on_before_shutdown.connect(drain)  # type: ignore[arg-type]

    pipeline.stale_after_s = float(app.conf.broker_session_timeout) / 2

    async def on_revoked(_app: Any, revoked: Any, **_kw: Any) -> None:
        pipeline.rebalance_epoch += 1
        # Finish what was taken from the revoked partitions so their offsets commit before
        # another worker takes over; then make sure the ledger has everything it wrote.
        await pipeline.drain()
        await asyncio.get_running_loop().run_in_executor(None, flush_ledger)

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    async def on_assigned(_app: Any, assigned: Any, **_kw: Any) -> None:
        # A partition taken over from another worker must be checked against everything that
        # worker wrote to the ledger (its paid marks) and published as dead letters, not
        # against a tail that lags behind.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, journal.wait_caught_up)
        if dead_letters is not None:
            await loop.run_in_executor(None, dead_letters.wait_caught_up)
        # Sets paid by a worker that died after publishing their results: mark them done.
        await loop.run_in_executor(None, reconcile)

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    return app


def _done_elsewhere(journal: KafkaJournal) -> Callable[[list[str]], set[str]]:
    def check(event_ids: list[str]) -> set[str]:
        journal.wait_caught_up(30)
        return {e for e in event_ids if str(journal.get(f"event/{e}", "")).startswith("done:")}

    return check


def run_worker(settings: Settings, *, create: bool = True) -> None:
    """Blocking entry point of ``qloop worker``: SIGTERM/SIGINT stop it cleanly."""
    # Build first: it connects to nothing, so a bad configuration (an unresolvable writer
    # schema) is refused before any Kafka call.
    worker = Worker.build(settings)
    if create:
        create_topics(
            settings.librdkafka_config(), settings.topic_prefix, settings.topic_partitions
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(main())


__all__ = ["Worker", "run_worker"]
