"""confluent-kafka clients configured the qloop way, and a typed publisher over them.

Everything qloop produces goes through an idempotent producer (``enable.idempotence``,
``acks=all``): a retried send never duplicates, and the sink's dedup handles redelivery.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

from schemas import AvroCodec
from streams.config import Settings
from streams.kafka.codec import make_codec
from streams.kafka.probe import with_client_logger

#: Records produced between two polls for delivery reports (flush() serves the rest).
_POLL_EVERY = 256


class PublishError(Exception):
    """A produce was not acknowledged by the broker: pause and retry, do not commit input."""


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, durable producer settings (acks=all) with small lingering for batching."""
    conf = with_client_logger(settings.librdkafka_config())
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": 1_000_000,
        }
    )
    conf.update(overrides)
    return conf


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Manual-commit consumer settings: offsets are committed only after effects are durable."""
    conf = with_client_logger(settings.librdkafka_config())
    conf.update(
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    conf.update(overrides)
    return conf


class Publisher:
    """Encodes records with the codec and produces them; :meth:`flush` surfaces failures.

    Thread-safe for concurrent :meth:`publish` calls (librdkafka's producer is).
    """

    def __init__(self, producer: Producer, codec: AvroCodec | None = None) -> None:
        self._producer = producer
        self.codec = codec or AvroCodec()
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._produced = 0
        # Delivery watermark: messages are numbered as produced; ``_unacked`` holds the numbers
        # not yet acknowledged in order, so "everything produced before now is acked" is one
        # comparison, and a flush need not wait for what other threads produce after it.
        self._unacked: deque[int] = deque()
        self._acked_early: set[int] = set()

    @classmethod
    def from_settings(cls, settings: Settings, codec: AvroCodec | None = None) -> Publisher:
        """An idempotent producer for ``settings``, encoding with the configured framing."""
        return cls(Producer(producer_config(settings)), codec or make_codec(settings))

    def _delivered(self, seq: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            with self._lock:
                if err is not None:
                    self._errors.append(str(err))
                self._acked_early.add(seq)
                unacked, early = self._unacked, self._acked_early
                while unacked and unacked[0] in early:
                    early.discard(unacked.popleft())

        return on_delivery

    def publish(
        self, topic: str, key: str | None, record: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Encode ``record`` and enqueue it; blocks briefly when the local queue is full."""
        self.publish_raw(topic, key, self.codec.encode(record), headers)

    def publish_raw(
        self, topic: str, key: str | None, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Enqueue already-encoded bytes (used for poison-message tests and replays)."""
        with self._lock:
            self._produced += 1
            seq = self._produced
            self._unacked.append(seq)
        on_delivery = self._delivered(seq)
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key.encode() if key is not None else None,
                    headers=list(headers.items()) if headers else None,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        if seq % _POLL_EVERY == 0:  # serve delivery reports now and then, not per record
            self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every message enqueued before this call; raise :class:`PublishError` on failure.

        Unlike the producer's own flush, this does not wait for messages other threads enqueue
        meanwhile: under load the queue is never empty, and an interactive batch's results
        would wait for every bulk result produced after them.
        """
        with self._lock:
            target = self._produced
        deadline = time.monotonic() + timeout_s
        while not (done := self._acked_through(target)) and time.monotonic() < deadline:
            self._producer.poll(0.002)
        with self._lock:
            remaining = 0 if done else sum(1 for seq in self._unacked if seq <= target)
            errors, self._errors = self._errors, []
        if remaining:
            errors.append(f"{remaining} message(s) still unacknowledged after {timeout_s}s")
        if errors:
            raise PublishError("; ".join(errors[:5]))

    def _acked_through(self, seq: int) -> bool:
        with self._lock:
            return not self._unacked or self._unacked[0] > seq

    def close(self) -> None:
        """Drop the producer so librdkafka stops its threads now, not at garbage collection."""
        self._producer = None  # type: ignore[assignment]


def publish_once(settings: Settings, topic: str, key: str, record: Any) -> None:
    """Produce one record and wait for the broker's ack (a command's single write)."""
    publisher = Publisher.from_settings(settings)
    try:
        publisher.publish(topic, key, record)
        publisher.flush()
    finally:
        publisher.close()


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    """A manual-commit consumer in ``group_id``."""
    return Consumer(consumer_config(settings, group_id, **overrides))


__all__ = [
    "PublishError",
    "Publisher",
    "consumer_config",
    "make_consumer",
    "producer_config",
    "publish_once",
]
