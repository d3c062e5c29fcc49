"""The client's side of the result topic: a thread that completes one future per event id.

It reads from the partitions' ends as they were when it started (start it before submitting);
results that arrive before anyone asked for them are kept, so a future asked for late still
completes. :meth:`ResultListener.rewind` also delivers results produced since a point in time:
what a resumed loop needs for the sets its dead predecessor had sent.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from schemas import AvroCodec, ContractError, JobResult


class ResultListener:
    """Tails the result topic and completes the future registered for each event id."""

    def __init__(self, conf: dict[str, Any], topic: str, codec: AvroCodec) -> None:
        self._consumer = Consumer(
            {**conf, "group.id": f"qloop-client-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        meta = self._consumer.list_topics(topic, timeout=30).topics[topic]
        self._assignment = [TopicPartition(topic, p, OFFSET_END) for p in meta.partitions]
        self._consumer.assign(self._assignment)
        self._codec = codec
        self._futures: dict[str, Future[JobResult]] = {}
        self._early: dict[str, JobResult] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rewind: tuple[datetime, threading.Event] | None = None
        self._thread = threading.Thread(target=self._run, name="qloop-results", daemon=True)
        self._thread.start()

    def expect(self, event_id: str) -> Future[JobResult]:
        """The future of ``event_id``'s result (already done if it arrived first)."""
        with self._lock:
            future = self._futures.get(event_id)
            if future is None:
                future = self._futures[event_id] = Future()
                early = self._early.pop(event_id, None)
                if early is not None:
                    future.set_result(early)
            return future

    def rewind(self, since: datetime, timeout_s: float = 30.0) -> None:
        """Also deliver results produced since ``since`` (a resumed loop's in-flight sets)."""
        done = threading.Event()
        self._rewind = (since, done)
        if not done.wait(timeout_s):
            raise TimeoutError(f"the result listener did not rewind within {timeout_s:.0f}s")

    def _seek(self, since: datetime, done: threading.Event) -> None:
        millis = int(since.timestamp() * 1000)
        wanted = [TopicPartition(tp.topic, tp.partition, millis) for tp in self._assignment]
        found = self._consumer.offsets_for_times(wanted, timeout=30)
        # A partition with nothing at or after ``since`` answers -1: stay at its end.
        self._consumer.assign(
            [tp if tp.offset >= 0 else TopicPartition(tp.topic, tp.partition, OFFSET_END)
             for tp in found]
        )  # fmt: skip
        done.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._rewind is not None:
                request, self._rewind = self._rewind, None
                self._seek(*request)
            # Wait for one message, then drain what is already fetched without waiting:
            # consume(n, timeout) alone would hold the first result until n arrive or the
            # timeout passes, adding up to that timeout to every interactive round trip.
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            for msg in [first, *self._consumer.consume(999, 0)]:
                if msg.error() is not None:
                    continue
                try:
                    result = self._codec.decode(JobResult, msg.value() or b"")
                except ContractError:
                    continue
                with self._lock:
                    future = self._futures.pop(result.event_id, None)
                    if future is None:
                        if len(self._early) < 100_000:
                            self._early[result.event_id] = result
                    elif not future.done():
                        future.set_result(result)
        self._consumer.close()

    def close(self) -> None:
        """Stop the thread and close the consumer."""
        self._stop.set()
        self._thread.join(5)


__all__ = ["ResultListener"]
