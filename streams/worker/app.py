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
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from processors.backends.registry import BackendRegistry
from processors.batcher import TopologyBatcher
from processors.budget import Budget, BudgetLedger
from processors.compile_cache import CompileCache
from processors.degradation import DegradationPolicy
from processors.executor import BatchExecutor
from processors.intake import Intake
from processors.pending import SourceRef
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
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.rate_limits import TenantRateLimits
from streams.worker.routing import origin_of
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
        )
        app = _faust_app(settings, topics, pipeline, store)
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
        if self.settings.worker_metrics_port is not None:
            lag = group_lag(
                consumer_config(self.settings, "unused"),
                f"{self.topics.prefix}processor",
                [self.topics.updates, self.topics.by_topology]
                + [self.topics.tenant_updates(t) for t in self.settings.topic_tenants],
            )
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
            closer = asyncio.create_task(self._drain_while_stopping())
            try:
                await self.app.stop()
            finally:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
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


def _faust_app(
    settings: Settings, topics: TopicNames, pipeline: ProcessingPipeline, store: KafkaLedgerStore
) -> faust.App:
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{topics.prefix}processor",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        broker_credentials=_faust_credentials(settings),
        producer_acks=-1,
        stream_buffer_maxsize=max(64, settings.max_batch * 2),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )

    # Multi-tenant mode: only the tenants' own input topics, whose ACLs say who wrote them.
    # Otherwise the shared input, and the interactive lane's own input (see processors.batcher's
    # Lane): each lane has its own agents, so an interactive set is never read behind a backlog.
    def raw(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw")

    names = [topics.tenant_updates(t) for t in settings.topic_tenants] or [topics.updates]
    lanes = {"updates": raw(*names)}
    if not settings.topic_tenants:
        lanes["interactive"] = raw(topics.updates_interactive)
    if settings.route_by_topology:
        # Hop 1 checks and re-keys by topology; hop 2 batches what its partitions hold.
        for lane, topic in lanes.items():

            @app.agent(topic, name=f"route-{lane}")
            async def route_updates(stream: Any) -> None:
                async for event in stream.noack().events():
                    msg = event.message
                    await pipeline.on_input(
                        event.value, msg.topic, msg.partition, msg.offset, event.ack
                    )

        lanes = {
            "updates": raw(topics.by_topology),
            "interactive": raw(topics.by_topology_interactive),
        }

    for lane, topic in lanes.items():

        @app.agent(topic, name=f"process-{lane}")
        async def process_updates(stream: Any) -> None:
            async for event in stream.noack().events():
                m = event.message
                origin = origin_of(event.headers) if settings.route_by_topology else None
                await pipeline.on_message(
                    event.value, m.topic, m.partition, m.offset, event.ack, origin
                )

    registrations = raw(topics.templates)

    @app.agent(registrations, name="check-templates")
    async def check_templates(stream: Any) -> None:
        async for event in stream.noack().events():
            msg = event.message
            source = SourceRef(msg.topic, msg.partition, msg.offset)
            await pipeline.on_template(event.key, event.value, source, event.ack)

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
        await asyncio.get_running_loop().run_in_executor(None, store.flush)

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    async def on_assigned(_app: Any, assigned: Any, **_kw: Any) -> None:
        # A partition taken over from another worker must be checked against everything that
        # worker wrote to the ledger (its paid marks) and published as dead letters, not
        # against a tail that lags behind; then sets it paid and published are marked done.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, store.catch_up)
        await loop.run_in_executor(None, store.reconcile)

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    return app


def _faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The Kafka security settings in faust's terms (aiokafka underneath), None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_ca_location)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        ssl_context=context,
    )


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
