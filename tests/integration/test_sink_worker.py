"""The sink worker against the real broker and engine: one row per event, through SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from sink_factories import chdb_dsn, make_result  # noqa: F401

from schemas import AvroCodec
from sinks import EngineLockedError, SinkError, connect, query
from streams.kafka.topics import TopicNames
from streams.sink.worker import run_sink

REPO = Path(__file__).resolve().parents[2]


def _produce(
    bootstrap: str, topic: str, n: int, *, poison_at: int | None = None, dup: bool = False
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    codec = AvroCodec()
    for i in range(n):
        value = codec.encode(make_result(i))
        producer.produce(topic, key=f"ev-{i}".encode(), value=value)
        if dup:
            producer.produce(topic, key=f"ev-{i}".encode(), value=value)  # a redelivered event
        if i == poison_at:
            producer.produce(topic, key=b"poison", value=b"\x00\x01 definitely not avro")
        producer.poll(0)
    assert producer.flush(30) == 0


def _wait(predicate: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _counts(dsn: str) -> tuple[int, int, int]:
    """(rows, distinct event ids, dead letters), through the owner's endpoint if need be."""
    try:
        _, rows = query(
            dsn,
            "SELECT (SELECT count() FROM qloop.results),"
            " (SELECT uniqExact(event_id) FROM qloop.results),"
            " (SELECT count() FROM qloop.dead_letters)",
        )
    except (SinkError, EngineLockedError):  # not migrated yet, or owner not serving yet
        return (0, 0, 0)
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


@contextmanager
def _sink_thread(bootstrap: str, names: TopicNames, dsn: str, **tuning: Any) -> Iterator[None]:
    """``run_sink`` in a thread of a fresh group; stopped (flush, commit) and joined on exit."""
    stop = threading.Event()
    args = ({"bootstrap.servers": bootstrap}, names.record_types(), dsn, f"g-{uuid.uuid4().hex}")
    worker = threading.Thread(target=run_sink, args=(*args, stop), kwargs=tuning)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()


def test_worker_stores_each_event_once_and_dead_letters_poison(
    kafka_bootstrap: str,
    topic_factory: Callable[..., TopicNames],
    chdb_dsn: str,  # noqa: F811
) -> None:
    names = topic_factory()
    _produce(kafka_bootstrap, names.results, 300, poison_at=150, dup=True)
    with _sink_thread(kafka_bootstrap, names, chdb_dsn, batch_size=64, batch_ms=100):
        _wait(lambda: _counts(chdb_dsn)[1] == 300 and _counts(chdb_dsn)[2] == 1)
    client = connect(chdb_dsn)
    try:
        # Duplicated events are distinct Kafka messages: token dedup keeps both copies, and the
        # ReplacingMergeTree key collapses them; FINAL gives the exact answer meanwhile.
        assert client.query("SELECT count() FROM qloop.results FINAL").result_rows[0][0] == 300
        dl = client.query(
            "SELECT stage, error_code, source_topic FROM qloop.dead_letters"
        ).result_rows
        assert dl == [("sink", "deserialization_error", names.results)]
    finally:
        client.close()


_CHILD = textwrap.dedent(
    """
    import signal, sys, threading
    from streams.kafka.topics import TopicNames
    from streams.sink.worker import run_sink
    bootstrap, prefix, dsn, group = sys.argv[1:5]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A short session timeout: the SIGKILLed member's partitions move to the restart quickly.
    conf = {"bootstrap.servers": bootstrap, "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000}
    run_sink(conf, TopicNames(prefix).record_types(), dsn, group, stop,
             batch_size=40, batch_ms=50)
    """
)


def test_sigkill_mid_stream_then_restart_leaves_one_row_per_event(
    kafka_bootstrap: str,
    topic_factory: Callable[..., TopicNames],
    chdb_dsn: str,  # noqa: F811
) -> None:
    names = topic_factory()
    n = 3000
    _produce(kafka_bootstrap, names.results, n)
    args = [
        sys.executable,
        "-c",
        _CHILD,
        kafka_bootstrap,
        names.prefix,
        chdb_dsn,
        f"g-{uuid.uuid4().hex}",
    ]
    first = subprocess.Popen(args, cwd=REPO)
    try:
        _wait(lambda: _counts(chdb_dsn)[0] >= n // 3)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    second = subprocess.Popen(args, cwd=REPO)
    try:
        _wait(lambda: _counts(chdb_dsn)[1] == n)
        time.sleep(1)  # let any straggling duplicate insert land before counting
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    client = connect(chdb_dsn)
    try:
        total, distinct = client.query(
            "SELECT count(), uniqExact(event_id) FROM qloop.results"
        ).result_rows[0]
        assert (total, distinct) == (n, n)  # plain count(): no FINAL needed
        assert (
            client.query("SELECT sum(results) FROM qloop.sli_results_minute").result_rows[0][0] == n
        )
    finally:
        client.close()


@pytest.mark.parametrize("when_idle", [True, False])
def test_end_of_a_burst_is_stored_when_the_consumer_is_idle(
    when_idle: bool,
    kafka_bootstrap: str,
    topic_factory: Callable[..., TopicNames],
    chdb_dsn: str,  # noqa: F811
) -> None:
    """With a 10-minute age bound, only the idle flush can store a short burst early."""
    names = topic_factory()
    _produce(kafka_bootstrap, names.results, 25)
    tuning = {"batch_size": 5000, "batch_ms": 600_000, "flush_when_idle": when_idle}
    with _sink_thread(kafka_bootstrap, names, chdb_dsn, **tuning):
        if when_idle:
            _wait(lambda: _counts(chdb_dsn)[0] == 25, timeout_s=60)
        else:
            # Negative control: consumed (the owner serves queries once it is running) but held.
            _wait(lambda: _owner_serving(chdb_dsn), timeout_s=60)
            time.sleep(3)
            assert _counts(chdb_dsn)[0] == 0
    assert _counts(chdb_dsn)[0] == 25  # the stop flush stores whatever was held


def _owner_serving(dsn: str) -> bool:
    try:
        query(dsn, "SELECT count() FROM qloop.results")
    except (SinkError, EngineLockedError):
        return False
    return True
