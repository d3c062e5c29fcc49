"""What the interactive consumer commits, and what a publisher's flush waits for."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from streams.kafka.clients import Publisher, PublishError
from streams.worker.lane_consumer import AckedOffsets


def test_a_position_moves_only_past_a_contiguous_run_of_acks() -> None:
    offsets = AckedOffsets()
    acks = [offsets.add(("t", 0), n) for n in (5, 6, 7)]
    other = offsets.add(("t", 1), 0)
    acks[1]()  # 6 is done, 5 is not: nothing may be committed on partition 0
    assert offsets.committable() == []
    acks[0]()
    (tp,) = offsets.committable()
    assert (tp.topic, tp.partition, tp.offset) == ("t", 0, 7)  # 5 and 6: read from 7 on
    assert offsets.committable() == []  # unchanged since the last call
    acks[2]()
    other()
    moved = {(tp.topic, tp.partition): tp.offset for tp in offsets.committable()}
    assert moved == {("t", 0): 8, ("t", 1): 1}


def test_a_failed_commit_is_offered_again_and_revoked_partitions_are_forgotten() -> None:
    offsets = AckedOffsets()
    offsets.add(("t", 0), 0)()
    sent = offsets.committable()
    assert offsets.committable() == []
    offsets.failed(sent)
    assert [tp.offset for tp in offsets.committable()] == [1]
    assert [tp.offset for tp in offsets.committable(everything=True)] == [1]
    offsets.forget([("t", 0)])
    assert offsets.committable(everything=True) == []


class HeldProducer:
    """Delivers only what the test releases, as the broker acks it."""

    def __init__(self) -> None:
        self.waiting: list[tuple[bytes, Any]] = []
        self.released: set[bytes] = set()
        self.failing: set[bytes] = set()
        self.lock = threading.Lock()

    def produce(self, _topic: str, *, value: bytes, on_delivery: Any, **_kw: Any) -> None:
        with self.lock:
            self.waiting.append((value, on_delivery))

    def poll(self, timeout: float) -> int:
        with self.lock:
            ready = [(v, cb) for v, cb in self.waiting if v in self.released]
            self.waiting = [(v, cb) for v, cb in self.waiting if v not in self.released]
        for value, callback in ready:
            callback("broker said no" if value in self.failing else None, None)
        time.sleep(min(timeout, 0.001))
        return len(ready)


def test_a_flush_waits_for_what_came_before_it_not_for_what_came_after() -> None:
    producer = HeldProducer()
    publisher = Publisher(producer)  # type: ignore[arg-type]
    publisher.publish_raw("t", "k", b"a")
    publisher.publish_raw("t", "k", b"b")
    done = threading.Event()
    flusher = threading.Thread(target=lambda: (publisher.flush(10), done.set()))
    flusher.start()
    publisher.publish_raw("t", "k", b"c")  # another thread's record, after the flush began
    producer.released |= {b"b"}
    assert not done.wait(0.2), "returned before the first record was acked"
    producer.released |= {b"a"}
    assert done.wait(5), "waited for the record produced after it"
    flusher.join()


def test_a_flush_reports_failures_and_what_is_still_unacknowledged() -> None:
    producer = HeldProducer()
    publisher = Publisher(producer)  # type: ignore[arg-type]
    publisher.publish_raw("t", "k", b"x")
    producer.released |= {b"x"}
    producer.failing |= {b"x"}
    with pytest.raises(PublishError, match="broker said no"):
        publisher.flush(5)
    publisher.publish_raw("t", "k", b"y")
    with pytest.raises(PublishError, match="1 message\\(s\\) still unacknowledged after 0.05s"):
        publisher.flush(0.05)
