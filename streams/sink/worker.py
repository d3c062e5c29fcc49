"""The ClickHouse sink worker: Kafka in, ``sinks.ClickHouseSink`` out, offsets committed after.

Checkpoint order, always: insert (idempotent, token per partition offset range) -> commit the
offsets of what was inserted, synchronously. A crash anywhere redelivers at most the uncommitted
blocks, which the sink re-forms with the same tokens, so the engine drops what it already has.

* Undecodable bytes become a ``dead_letters`` row (stage ``sink``) written in the same block as
  their neighbours, so poison never stops a partition.
* Partition revocation flushes and commits the revoked partitions first; what cannot be flushed
  is discarded and re-read by the next owner.
* A retryable engine failure pauses every assigned partition (still polling, so the group
  membership stays alive and no rebalance loop starts) and retries with backoff until it works.
* For a ``chdb://`` DSN the worker owns the engine for its lifetime and serves read-only queries
  to other processes through :func:`sinks.serve_owner_queries`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.dead_letters import make_dead_letter
from processors.pending import SourceRef
from schemas import AvroCodec, ContractError, DeadLetter
from sinks import (
    ClickHouseSink,
    QueryServer,
    SinkRetryableError,
    apply_migrations,
    chdb_path,
    connect,
    serve_owner_queries,
)
from streams.metrics import SinkCollector, SinkStats, group_lag, serve
from streams.tracing import headers_of, trace_id_of

log = logging.getLogger(__name__)

SINK_STAGE = "sink"


def _coordinates(msg: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed (non-error) message, which always has them."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaException(f"consumed message without coordinates: {msg!r}")
    return topic, partition, offset


def _dead_letter(msg: Message, exc: ContractError) -> DeadLetter:
    # The one redacting builder every stage uses: poison bytes may carry a secret too.
    return make_dead_letter(
        exc.code,
        str(exc)[:2000],
        stage=SINK_STAGE,
        source=SourceRef(*_coordinates(msg)),
        raw=bytes(msg.value() or b""),
        occurred_at=datetime.now(UTC),
        fingerprint=exc.fingerprint,
    )


class _SinkLoop:
    """State of one :func:`run_sink` call; split out so the rebalance callbacks can reach it."""

    def __init__(
        self,
        consumer: Consumer,
        sink: ClickHouseSink,
        topics: dict[str, type],
        stop: threading.Event,
        codec: AvroCodec,
    ) -> None:
        self.consumer = consumer
        self.sink = sink
        self.topics = topics
        self.stop = stop
        self.codec = codec
        self.stats = SinkStats()

    def handle(self, msg: Message) -> None:
        topic, partition, offset = _coordinates(msg)
        value = msg.value()
        if value is None:
            self.sink.skip(topic, partition, offset)
            return
        record: Any
        try:
            record = self.codec.decode(self.topics[topic], value)
        except ContractError as exc:
            log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, exc.code)
            record = _dead_letter(msg, exc)
            self.stats.dead_letters += 1
        headers = msg.headers()
        trace_id = trace_id_of(headers_of(headers)) if headers else ""
        self.sink.add(topic, partition, offset, record, trace_id)

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
        try:
            self.consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            # The rows are stored; a failed commit only means redelivery, which dedup absorbs.
            log.warning("offset commit failed (will be redelivered and deduplicated): %s", exc)

    def flush_and_commit(self, *, until_stopped: bool = True) -> None:
        """Flush and commit; on a retryable failure pause, keep polling, and retry."""
        paused: list[TopicPartition] = []
        delay = 0.2
        while True:
            try:
                started = time.monotonic()
                offsets = self.sink.flush()
                if offsets:
                    self.stats.flushed(time.monotonic() - started)
                self.commit(offsets)
                break
            except SinkRetryableError as exc:
                if not until_stopped or self.stop.is_set():
                    log.error(
                        "giving up on flush at shutdown, uncommitted input is replayed: %s", exc
                    )
                    return
                if not paused:
                    paused = list(self.consumer.assignment())
                    self.consumer.pause(paused)
                log.warning("sink flush failed, retrying in %.1fs: %s", delay, exc)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and not self.stop.is_set():
                    self.consumer.poll(0.1)  # paused: serves heartbeats and rebalances only
                delay = min(delay * 2, 10.0)
        if paused:
            self.consumer.resume(paused)

    def on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        try:
            self.commit(self.sink.flush(only=revoked))
        except SinkRetryableError as exc:
            log.warning("could not flush revoked partitions, the next owner replays them: %s", exc)
        self.sink.discard(revoked)

    def on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: another member may already own them, so commit nothing.
        self.sink.discard([(tp.topic, tp.partition) for tp in partitions])


def run_sink(
    bootstrap_conf: dict[str, Any],
    topics: dict[str, type],
    dsn: str,
    group_id: str,
    stop: threading.Event,
    batch_size: int = 5000,
    batch_ms: int = 500,
    *,
    flush_when_idle: bool = True,
    codec: AvroCodec | None = None,
    on_ready: Callable[[], None] | None = None,
    metrics: tuple[str, int] | None = None,
    cluster: str | None = None,
) -> None:
    """Consume ``topics`` into ClickHouse at ``dsn`` until ``stop`` is set.

    Args:
        bootstrap_conf: librdkafka settings (``bootstrap.servers``, security); the consumer
            settings that make the guarantee (manual commits, no offset store) are forced.
        topics: Topic name -> record class to decode it as.
        dsn: ``chdb:///abs/path`` (owned by this process while it runs) or ``http(s)://...``.
        group_id: Consumer group.
        stop: Set it to flush, commit and return.
        batch_size: Flush at this many buffered rows.
        batch_ms: Flush when the oldest buffered row is this old.
        flush_when_idle: Also flush when a whole poll brings nothing new: the end of a burst
            is stored at once instead of waiting out ``batch_ms``, while a busy stream still
            forms blocks of up to ``batch_size`` rows.
        codec: How values are framed (default: single-object encoding); the configured sink
            passes the registry codec when a schema registry is set.
        on_ready: Called once the engine is migrated and the consumer subscribed.
        metrics: ``(host, port)`` to serve Prometheus ``/metrics`` on (None: off).
        cluster: A ClickHouse cluster to migrate ``ON CLUSTER`` with Replicated tables.

    Raises:
        EngineLockedError: another process still owns the chDB directory after 30 s.
        SinkFatalError: a non-retryable engine error; nothing past the last insert is committed.

    """
    client = connect(dsn, wait_s=30.0)  # a reader may hold the free engine for a moment
    server: QueryServer | None = None
    query_client = None
    consumer: Consumer | None = None
    metrics_server: Any = None
    try:
        apply_migrations(client, cluster)
        if chdb_path(dsn) is not None:
            query_client = connect(dsn)  # own handle: a slow query never blocks inserts
            server = serve_owner_queries(query_client, dsn)
            log.info("serving read-only queries at http://%s", server.address)
        sink = ClickHouseSink(client, max_rows=batch_size, max_age_s=batch_ms / 1000)
        conf = {
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            **bootstrap_conf,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
        consumer = Consumer(conf)
        loop = _SinkLoop(consumer, sink, topics, stop, codec or AvroCodec())
        consumer.subscribe(list(topics), on_revoke=loop.on_revoke, on_lost=loop.on_lost)
        if metrics is not None:
            lag = group_lag(bootstrap_conf, group_id, list(topics))
            metrics_server = serve(metrics[1], metrics[0], SinkCollector(sink, loop.stats, lag))
        if on_ready is not None:
            on_ready()
        poll_s = min(0.1, batch_ms / 1000)
        while not stop.is_set():
            msgs = consumer.consume(num_messages=min(batch_size, 1000), timeout=poll_s)
            for msg in msgs:
                err = msg.error()
                if err is None:
                    loop.handle(msg)
                elif err.code() != KafkaError._PARTITION_EOF:
                    if err.fatal():
                        raise KafkaException(err)
                    log.warning("consumer error: %s", err)
            idle = flush_when_idle and not msgs and sink.buffered_rows > 0
            if idle or sink.should_flush():
                loop.flush_and_commit()
        loop.flush_and_commit(until_stopped=False)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        if consumer is not None:
            consumer.close()
        if server is not None:
            server.stop()
        if query_client is not None:
            query_client.close()
        client.close()


__all__ = ["SINK_STAGE", "run_sink"]
