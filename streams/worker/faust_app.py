"""The worker's faust app: the bulk lane's agents, the batch timer and the rebalance hooks.

Hop 1 (checks, re-keying by topology) and hop 2 (batching) of the bulk lane run as faust agents
over the raw bytes; the interactive lane has a consumer of its own (:mod:`streams.worker.lanes`).
On a revocation the pipeline drains, so the revoked partitions' offsets commit before another
worker takes them; on an assignment the ledger catches up with what the previous owner wrote.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import faust

from processors.pending import SourceRef
from streams.config import Settings
from streams.kafka.topics import TopicNames, partition_count
from streams.ledger.kafka_store import KafkaLedgerStore
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.routing import origin_of


def faust_app(
    settings: Settings, topics: TopicNames, pipeline: ProcessingPipeline, store: KafkaLedgerStore
) -> faust.App:
    """The app for ``pipeline`` (not started), with its agents, timer and hooks."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{topics.prefix}processor",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        broker_credentials=faust_credentials(settings),
        producer_acks=-1,
        stream_buffer_maxsize=max(64, settings.max_batch * 2),
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )

    # Multi-tenant mode: only the tenants' own input topics, whose ACLs say who wrote them.
    # Otherwise the shared input. The interactive lane (processors.batcher's Lane) is not read
    # here but by a consumer of its own (streams.worker.lanes), never behind a bulk backlog.
    def raw(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw")

    names = [topics.tenant_updates(t) for t in settings.topic_tenants] or [topics.updates]
    lanes = {"updates": raw(*names)}
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

        lanes = {"updates": raw(topics.by_topology)}

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
        pipeline.shortcut.clear()
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
        if settings.route_by_topology and settings.route_shortcut:
            hop_two, conf = topics.by_topology, settings.librdkafka_config()
            count = await loop.run_in_executor(None, partition_count, conf, hop_two)
            owned = [tp.partition for tp in assigned if tp.topic == hop_two]
            pipeline.shortcut.assign(owned, count)

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    return app


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
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


__all__ = ["faust_app", "faust_credentials"]
