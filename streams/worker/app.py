"""``qloop worker``: the processing pipeline, fed by faust (bulk) and by its own lane consumer.

The readers are thin: faust's agents (:mod:`streams.worker.faust_app`) and the interactive
lane's consumer (:mod:`streams.worker.lanes`) hand each raw message and a manual ack to
:class:`~streams.worker.pipeline.ProcessingPipeline`. Acks are manual because a set is only done
when its result is durable, which happens after the batch executes; each reader commits the
contiguous acked prefix of each partition.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import faust

from processors.backends.registry import BackendRegistry
from processors.batcher import TopologyBatcher
from processors.budget import Budget, BudgetLedger
from processors.compile_cache import CompileCache
from processors.degradation import DegradationPolicy
from processors.executor import BatchExecutor
from processors.intake import Intake
from processors.placement import Placement, QueueModel
from streams.config import Settings
from streams.kafka.clients import Publisher, consumer_config, producer_config
from streams.kafka.codec import make_codec
from streams.kafka.probe import check_kafka
from streams.kafka.topics import TopicNames, create_topics
from streams.ledger.kafka_store import KafkaLedgerStore
from streams.metrics import WorkerCollector, group_lag, serve
from streams.tracing import configure_tracing
from streams.worker.approval_gate import install
from streams.worker.backend_status import BackendStatusBoard
from streams.worker.faust_app import faust_app
from streams.worker.lanes import interactive_lane, lane_topics
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.rate_limits import TenantRateLimits
from streams.worker.template_registry import TemplateRegistry
from streams.worker.wiring import approval_gate, make_backends, make_limits, make_retries

log = logging.getLogger(__name__)

#: Test-only switch (fault-test negative control): ``1`` runs the worker WITHOUT its idempotency
#: ledger, so redeliveries re-execute and re-charge. Never set it in production.
UNSAFE_DISABLE_LEDGER = "QLOOP_UNSAFE_DISABLE_LEDGER"
#: Written in the data dir once the worker consumes, removed when it stops (healthchecks).
READY_FILE = "worker.ready"


@dataclass
class Worker:
    """Everything one processing worker owns, built from settings."""

    settings: Settings
    topics: TopicNames
    app: faust.App
    pipeline: ProcessingPipeline
    store: KafkaLedgerStore
    registry: TemplateRegistry
    status: BackendStatusBoard
    backends: BackendRegistry

    @classmethod
    def build(cls, settings: Settings, topics: TopicNames | None = None) -> Worker:
        """Wire the pipeline from ``settings`` (topics must exist; nothing connects yet)."""
        topics = topics or TopicNames(settings.topic_prefix)
        codec = make_codec(settings)
        limits = make_limits(settings)
        intake = Intake(codec, limits)
        reader_conf = consumer_config(settings, "unused")
        registry = TemplateRegistry(reader_conf, topics.templates, intake)
        status = BackendStatusBoard(reader_conf, topics.backend_status, codec)
        gate = approval_gate(settings, topics, reader_conf, codec)
        deduplicate = os.environ.get(UNSAFE_DISABLE_LEDGER) != "1"
        if not deduplicate:
            log.warning("%s=1: idempotency DISABLED (fault-test control)", UNSAFE_DISABLE_LEDGER)
        store = KafkaLedgerStore(
            producer_config(settings),
            reader_conf,
            topics,
            codec,
            deduplicate=deduplicate,
            tenants=settings.topic_tenants,
            window_s=settings.ledger_window_s,
            provider_concurrency=settings.provider_concurrency,
            lease_ttl_s=settings.lease_ttl_s,
            interactive_leases=settings.interactive_leases,
        )
        budgets = {t: Budget(**b) for t, b in settings.budgets.items()}
        default = None
        if settings.default_budget_shots is not None or settings.default_budget_cost is not None:
            default = Budget(settings.default_budget_shots, settings.default_budget_cost)
        backends = make_backends(settings)
        executor = BatchExecutor(
            backends.get,
            CompileCache(settings.compile_cache_size),
            limits=limits,
            budget=BudgetLedger(budgets, default=default, log=store.claims),
            idempotency=store.idempotency,
            marked_down=status.marked_down,
            degradation=DegradationPolicy.of(settings.degrade_tenants),
            retries=make_retries(settings),
            approval=gate.refusal if gate is not None else None,
            provider_jobs=store.provider_jobs,
        )
        pipeline = ProcessingPipeline(
            intake=intake,
            templates=registry.get,
            batcher=TopologyBatcher(settings.max_batch, settings.max_wait_ms / 1000),
            executor=executor,
            store=store,
            outbox=Publisher.from_settings(settings, codec),
            topics=topics,
            max_in_flight=settings.max_in_flight,
            interactive_in_flight=settings.interactive_in_flight,
            template_wait_s=settings.template_wait_ms / 1000,
            tenant_topics=settings.tenant_topics,
            gate=gate,
            rate_limits=TenantRateLimits.of(settings.rate_limits),
            placement=Placement(
                settings.backend_classes,
                backends.get,
                status.marked_down,
                QueueModel(),
                lambda: datetime.now(UTC),
                settings.default_shots,
                DegradationPolicy.of(settings.degrade_tenants),
            ),
        )
        app = faust_app(settings, topics, pipeline, store)
        if gate is not None:
            install(app, gate, pipeline.ledger, settings.tenant_topics)
        store.fence.limit_s = float(app.conf.broker_session_timeout) / 2
        return cls(settings, topics, app, pipeline, store, registry, status, backends)

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop`` is set, then drain and stop cleanly."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.registry.start)
        await loop.run_in_executor(None, self.status.start)
        if self.pipeline.gate is not None:
            await loop.run_in_executor(None, self.pipeline.gate.board.start)
        await loop.run_in_executor(None, self.store.start)
        await loop.run_in_executor(None, self.store.reconcile)
        self.app.finalize()
        await self.app.start()
        session_s = float(self.app.conf.broker_session_timeout)
        lane = interactive_lane(
            self.settings, self.topics, self.pipeline, self.store, loop, session_s
        )
        if lane is not None:
            await loop.run_in_executor(None, lane.start)
        if self.settings.worker_metrics_port is not None:
            conf, prefix = consumer_config(self.settings, "unused"), self.topics.prefix
            bulk = group_lag(
                conf,
                f"{prefix}processor",
                [self.topics.updates, self.topics.by_topology]
                + [self.topics.tenant_updates(t) for t in self.settings.topic_tenants],
            )
            fast = group_lag(
                conf, f"{prefix}processor-interactive", lane_topics(self.settings, self.topics)
            )

            def lag() -> dict[tuple[str, int], int]:
                return {**bulk(), **fast()}

            serve(
                self.settings.worker_metrics_port,
                self.settings.metrics_host,
                WorkerCollector(self.pipeline, lag, self.store.journal),
            )
        # LocalStack and compose's healthcheck wait for this file; it goes when the worker stops.
        ready = Path(os.environ.get("QLOOP_READY_FILE") or self.settings.data_dir / READY_FILE)
        ready.write_text(str(os.getpid()))
        try:
            await stop.wait()
        finally:
            ready.unlink(missing_ok=True)
            # faust stops its timers as soon as stop() begins, then waits for every consumed
            # message to be acked before it fires on_before_shutdown: a batch still waiting
            # for max_wait would never close and the worker would hang until SIGKILL. So keep
            # closing and finishing batches while faust drains its streams and commits.
            if lane is not None:
                await loop.run_in_executor(None, lane.stop)
            closer = asyncio.create_task(self._drain_while_stopping())
            try:
                await self.app.stop()
            finally:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
                if lane is not None:  # the drain acked what it read: commit, leave its group
                    await loop.run_in_executor(None, lane.close)
                self.pipeline.close()
                self.backends.close()  # every batch has drained: close IBM batches, sessions
                self.store.close()
                self.registry.stop()
                self.status.stop()
                if self.pipeline.gate is not None:
                    self.pipeline.gate.board.stop()

    async def _drain_while_stopping(self, interval_s: float = 0.05) -> None:
        while True:
            await self.pipeline.drain()
            await asyncio.sleep(interval_s)


def run_worker(settings: Settings, *, create: bool = True) -> None:
    """Blocking entry point of ``qloop worker``: SIGTERM/SIGINT stop it cleanly."""
    # Build first: it connects to nothing, so a bad configuration (an unresolvable writer
    # schema) is refused before any Kafka call.
    worker = Worker.build(settings)
    configure_tracing()
    check_kafka(settings)
    if create:
        create_topics(
            settings.librdkafka_config(),
            settings.topic_prefix,
            settings.topic_partitions,
            tenants=settings.topic_tenants,
            ledger_window_s=settings.ledger_window_s,
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(main())


__all__ = ["Worker", "run_worker"]
