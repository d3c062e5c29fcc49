"""The interactive lane's topics, read by a consumer of their own (see ``lane_consumer``).

faust's agents read the bulk lane; these read the interactive one: hop 1 (checks, re-keying by
topology) from ``parameter-updates.interactive``, hop 2 (batching) from
``updates-by-topology.interactive``, into the same pipeline, with the same acks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from confluent_kafka import Message

from streams.config import Settings
from streams.kafka.clients import consumer_config
from streams.kafka.topics import TopicNames
from streams.ledger.kafka_store import KafkaLedgerStore
from streams.worker.lane_consumer import LaneConsumer
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.routing import origin_of


def lane_topics(settings: Settings, topics: TopicNames) -> list[str]:
    """The interactive lane's topics (multi-tenant mode has no interactive input topic)."""
    names = [] if settings.topic_tenants else [topics.updates_interactive]
    if settings.route_by_topology:
        names.append(topics.by_topology_interactive)
    return names


def interactive_lane(
    settings: Settings,
    topics: TopicNames,
    pipeline: ProcessingPipeline,
    store: KafkaLedgerStore,
    loop: asyncio.AbstractEventLoop,
    session_timeout_s: float,
) -> LaneConsumer | None:
    """The lane's consumer, not yet started; None when the lane has no topic.

    Its group session is faust's: the stall fence, which stops a frozen process from writing,
    is set from that session, and must hold for both groups.
    """
    names = lane_topics(settings, topics)
    if not names:
        return None
    routed = settings.route_by_topology

    async def handle(msg: Message, ack: Callable[[], None]) -> None:
        value, topic = msg.value(), str(msg.topic())
        partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
        if routed and topic == topics.updates_interactive:
            await pipeline.on_input(value, topic, partition, offset, ack)
        else:
            origin = origin_of(msg.headers()) if routed else None
            await pipeline.on_message(value, topic, partition, offset, ack, origin)

    async def on_revoke() -> None:
        pipeline.rebalance_epoch += 1
        await pipeline.drain()
        await asyncio.get_running_loop().run_in_executor(None, store.flush)

    def on_assign() -> None:
        store.catch_up()
        store.reconcile()

    conf = consumer_config(
        settings,
        f"{topics.prefix}processor-interactive",
        **{"session.timeout.ms": int(session_timeout_s * 1000)},
    )
    return LaneConsumer(conf, names, loop, handle, on_revoke, on_assign)


__all__ = ["interactive_lane", "lane_topics"]
