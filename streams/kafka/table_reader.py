"""Read a compacted topic into local state, from the beginning, and keep tailing it.

This is the GlobalKTable pattern: every worker holds the whole table (circuit templates, the
submission ledger), the topic itself is the changelog, and no consumer group is involved, so
a rebalance never hides a key. :meth:`CompactedTopicReader.wait_caught_up` blocks until every
record that existed when it was called has been applied, which is what makes "check the
ledger before submitting" safe after a restart or a rebalance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from streams.kafka.probe import with_client_logger

#: Errors of a topic whose partitions have no leader yet (just created, or failing over), and
#: of a client whose connection to a broker just died (a node of a cluster killed or restarted):
#: the next call goes to the new leader.
_SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._DESTROY_BROKER,  # librdkafka's local error codes start with "_"
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
}


def watermarks(probe: Consumer, topic: str, partition: int, deadline: float) -> tuple[int, int]:
    """The partition's (log start, end) offsets, retrying while leadership settles."""
    while True:
        try:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            err = exc.args[0]
            settling = err.retriable() or err.code() in _SETTLING
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def high_watermark(probe: Consumer, topic: str, partition: int, deadline: float) -> int:
    """The partition's end offset, retrying while a new topic's leadership settles."""
    return watermarks(probe, topic, partition, deadline)[1]


class CompactedTopicReader:
    """A daemon thread applying ``apply(key, value)`` for every record of ``topic``.

    ``with_meta``: call ``apply(key, value, timestamp_s, offset)`` instead, for a table whose
    entries age (the ledger's window) or that refers to log positions (its budget totals).
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topic: str,
        apply: Callable[..., None],
        name: str = "table-reader",
        *,
        with_meta: bool = False,
    ) -> None:
        self._conf = {
            # librdkafka's own lines go through qloop's logging (repeats suppressed), not raw
            # to stderr: a command's output stays one line per outcome.
            **with_client_logger(conf),
            "group.id": f"qloop-reader-{topic}",  # required by librdkafka; never committed
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            # Records deleted by retention under a lagging reader: go on from the log start.
            "auto.offset.reset": "earliest",
        }
        self.topic = topic
        self._apply = apply
        self._with_meta = with_meta
        #: Records applied since start (a replay's size).
        self.applied = 0
        self._positions: dict[int, int] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._consumer: Consumer | None = None

    def start(self) -> CompactedTopicReader:
        """Assign every partition from the beginning and start tailing."""
        consumer = Consumer(self._conf)
        meta = consumer.list_topics(self.topic, timeout=30)
        partitions = sorted(meta.topics[self.topic].partitions)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions (does it exist?)")
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        self._positions = dict.fromkeys(partitions, 0)
        self._consumer = consumer
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._consumer is None:
            raise RuntimeError("start() was not called")
        try:
            while not self._stop.is_set():
                msgs = self._consumer.consume(500, 0.2)
                if not msgs:
                    continue
                with self._cond:
                    for msg in msgs:
                        if msg.error() is not None:
                            continue
                        if self._with_meta:
                            kind, ms = msg.timestamp()
                            at = ms / 1000 if kind != TIMESTAMP_NOT_AVAILABLE else time.time()
                            self._apply(msg.key(), msg.value(), at, msg.offset())
                        else:
                            self._apply(msg.key(), msg.value())
                        self.applied += 1
                        self._positions[msg.partition() or 0] = (msg.offset() or 0) + 1
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - surfaced to waiters
            self._error = exc
            with self._cond:
                self._cond.notify_all()
        finally:
            self._consumer.close()

    def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        """Block until every record written before this call has been applied."""
        if self._consumer is None:
            raise RuntimeError("start() was not called")
        deadline = time.monotonic() + timeout_s
        targets = {}
        probe = Consumer({**self._conf, "group.id": f"{self._conf['group.id']}-probe"})
        try:
            for partition in self._positions:
                low, high = watermarks(probe, self.topic, partition, deadline)
                # Retention may have deleted every record (a ledger idle past its window):
                # then there is nothing to read, whatever this reader's position.
                targets[partition] = high if high > low else 0
        finally:
            probe.close()
        with self._cond:
            while any(self._positions[p] < h for p, h in targets.items()):
                if self._error is not None:
                    raise RuntimeError(f"reader of {self.topic} failed") from self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"reader of {self.topic} did not catch up in {timeout_s}s")
                self._cond.wait(remaining)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Block until ``predicate()`` (evaluated under the lock) holds or time runs out."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)

    def stop(self) -> None:
        """Stop tailing and close the consumer."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


__all__ = ["CompactedTopicReader", "high_watermark", "watermarks"]
