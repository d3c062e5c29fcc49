"""The interactive lane's own Kafka consumer, so that its records are never fetched behind bulk.

faust reads every topic of its app through one consumer, and under a bulk backlog its fetches
are full of bulk records: an interactive record waited 1.3-3 s per hop to be *read*, although
its batch, slot and submission were already its own. This consumer (confluent-kafka, in a
thread of its own, in a consumer group of its own) reads only the interactive topics, with a
short fetch wait, and hands each record to the pipeline on the event loop, one at a time and in
order, as a faust agent does; a handler that waits (no free slot) stops the reading
(backpressure).

Offsets follow the pipeline's acks, as faust's do: a record's offset is committed once it and
every record before it on its partition are acked (their effects durable), so a kill -9 loses
nothing and the ledger makes the redelivery exact.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

log = logging.getLogger(__name__)

TP = tuple[str, int]
Handler = Callable[[Message, Callable[[], None]], Coroutine[Any, Any, None]]


class AckedOffsets:
    """Per partition: the offsets handed out, which are acked, and where a commit may point."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[TP, deque[list[int]]] = {}
        self._next: dict[TP, int] = {}
        self._committed: dict[TP, int] = {}

    def add(self, tp: TP, offset: int) -> Callable[[], None]:
        """Track ``offset``; return the ack that releases it."""
        entry = [offset, 0]
        with self._lock:
            self._open.setdefault(tp, deque()).append(entry)

        def ack() -> None:
            with self._lock:
                entry[1] = 1
                pending = self._open.get(tp)
                while pending and pending[0][1]:
                    self._next[tp] = pending.popleft()[0] + 1

        return ack

    def committable(self, *, everything: bool = False) -> list[TopicPartition]:
        """Positions (the next offset to read) that moved since the last call, or all of them."""
        with self._lock:
            moved = {
                tp: at
                for tp, at in self._next.items()
                if everything or self._committed.get(tp) != at
            }
            self._committed.update(moved)
        return [TopicPartition(t, p, at) for (t, p), at in moved.items()]

    def failed(self, partitions: list[TopicPartition]) -> None:
        """A commit of these did not happen: offer their positions again next time."""
        with self._lock:
            for tp in partitions:
                self._committed.pop((tp.topic, tp.partition), None)

    def forget(self, tps: list[TP]) -> None:
        """Drop revoked partitions (what is unacked there is redelivered to the next owner)."""
        with self._lock:
            for tp in tps:
                self._open.pop(tp, None)
                self._next.pop(tp, None)
                self._committed.pop(tp, None)


class LaneConsumer:
    """Reads ``topics`` in group ``conf['group.id']`` and hands records to ``handle``.

    Args:
        conf: Consumer settings (manual commits; see ``consumer_config``).
        topics: The interactive lane's topics.
        loop: The worker's event loop, where ``handle`` runs.
        handle: Takes one record and its ack; returns once the record is taken in.
        on_revoke: Runs on the loop before partitions go (drains in-flight batches).
        on_assign: Runs in this thread when partitions arrive (ledger catch-up).

    """

    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        loop: asyncio.AbstractEventLoop,
        handle: Handler,
        on_revoke: Callable[[], Coroutine[Any, Any, None]],
        on_assign: Callable[[], None],
    ) -> None:
        self._conf = {
            **conf,
            "fetch.wait.max.ms": 10,
            "enable.partition.eof": False,
            "on_commit": self._on_commit,
        }
        self._topics = topics
        self._loop = loop
        self._handle = handle
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        self._offsets = AckedOffsets()
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Subscribe and start reading in a thread of its own."""
        self._consumer = Consumer(self._conf)
        self._consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked)
        self._thread = threading.Thread(
            target=self._run, args=(self._consumer,), name="interactive-lane", daemon=True
        )
        self._thread.start()

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = [tp for tp in partitions if err is not None or tp.error is not None]
        if failed:  # retried with the next commit; until then a restart only re-reads more
            log.info("interactive lane: commit of %d partition(s) failed: %s", len(failed), err)
            self._offsets.failed(failed)

    def _assigned(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        self._on_assign()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Finish what was read from these partitions, so their offsets commit before another
        # worker takes them over.
        asyncio.run_coroutine_threadsafe(self._on_revoke(), self._loop).result()
        self._commit(consumer, asynchronous=False, everything=True)
        self._offsets.forget([(p.topic, p.partition) for p in partitions])

    def _run(self, consumer: Consumer) -> None:
        while not self._stop.is_set():
            msg = consumer.poll(0.05)
            self._commit(consumer)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:  # noqa: SLF001
                    log.warning("interactive lane: %s", error)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:
                continue
            ack = self._offsets.add((topic, partition), offset)
            done = asyncio.run_coroutine_threadsafe(self._handle(msg, ack), self._loop)
            while not self._stop.is_set():
                try:
                    done.result(timeout=0.5)
                    break
                except TimeoutError:
                    continue
                except Exception:
                    log.exception("interactive lane: record %s:%s:%s failed", *msg_ref(msg))
                    break

    def _commit(
        self, consumer: Consumer, *, asynchronous: bool = True, everything: bool = False
    ) -> None:
        offsets = self._offsets.committable(everything=everything)
        if offsets:
            try:
                if asynchronous:
                    consumer.commit(offsets=offsets, asynchronous=True)
                else:
                    consumer.commit(offsets=offsets, asynchronous=False)
            except Exception as exc:  # a failed commit only means a redelivery, which is exact
                log.warning("interactive lane: commit failed: %s", exc)
                self._offsets.failed(offsets)

    def stop(self) -> None:
        """Stop reading (what was read goes on); returns once the reading thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def close(self) -> None:
        """Commit every acked offset and leave the group (after the pipeline drained)."""
        self.stop()
        if self._consumer is not None:
            self._commit(self._consumer, asynchronous=False, everything=True)
            self._consumer.close()
            self._consumer = None


def msg_ref(msg: Message) -> tuple[str | None, int | None, int | None]:
    """Where a record is, for messages."""
    return msg.topic(), msg.partition(), msg.offset()


__all__ = ["AckedOffsets", "LaneConsumer"]
