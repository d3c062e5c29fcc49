"""Helpers for the processing-pipeline integration tests (real broker, worker, chDB sink)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import efficient_su2, real_amplitudes

from schemas import AvroCodec
from sinks import query
from streams.config import Settings
from streams.kafka.topics import TopicNames
from streams.local.stack import LocalStack
from streams.local.stack import spawn_worker as stack_spawn_worker

T = TypeVar("T")


def stack_settings(bootstrap: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings on the session broker with a fresh uuid topic prefix and ``data_dir``."""
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "data_dir": data_dir,
        "topic_prefix": f"p{uuid.uuid4().hex[:12]}.",
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_stack(settings: Settings, **kwargs: Any) -> Iterator[LocalStack]:
    """A LocalStack (worker subprocess + in-process sink) that re-raises its failures."""
    with LocalStack(settings, **kwargs) as stack:
        yield stack


def sampler_circuit(num_qubits: int, reps: int = 1, prefix: str = "θ") -> QuantumCircuit:
    """RealAmplitudes with measurements; ``prefix`` renames parameters, same topology."""
    circuit = real_amplitudes(num_qubits, reps=reps, parameter_prefix=prefix)
    circuit.measure_all()
    return circuit


def su2_circuit(num_qubits: int, reps: int = 1) -> QuantumCircuit:
    """EfficientSU2 with measurements (a second topology)."""
    circuit = efficient_su2(num_qubits, reps=reps)
    circuit.measure_all()
    return circuit


def read_topic(
    bootstrap: str, topic: str, decode: Callable[[bytes], T] | None = None
) -> list[tuple[int, int, Any]]:
    """Every record of ``topic`` from the beginning to the current end: (partition, offset, value).

    ``decode`` turns the raw value into a record; without it the raw bytes are returned.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        ends: dict[int, int] = {}
        assignment = []
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        out: list[tuple[int, int, Any]] = []
        if not assignment:
            return out
        consumer.assign(assignment)
        positions = dict.fromkeys(ends, -1)
        deadline = time.monotonic() + 60
        while any(positions[p] + 1 < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is not None:
                    continue
                partition, offset = msg.partition() or 0, msg.offset() or 0
                positions[partition] = offset
                value = msg.value() or b""
                out.append((partition, offset, decode(value) if decode else value))
        return out
    finally:
        consumer.close()


def claimed_shots(bootstrap: str, ledger_topic: str, tenant: str) -> float:
    """Shots granted to ``tenant`` by the budget claims on the ledger topic.

    The oracle's own reading of the rule (not the worker's code): claims in log order, each
    set granted when the tenant's granted shots and cost plus its own stay within the limit
    the claim carries.
    """
    shots = cost = 0.0
    for _partition, _offset, raw in sorted(read_topic(bootstrap, ledger_topic)):
        body = json.loads(raw) if raw else None
        claim = body.get("v") if isinstance(body, dict) else None
        if not isinstance(claim, dict) or claim.get("t") != tenant:
            continue
        limit_shots, limit_cost = claim["b"]
        for _event_id, _digest, item_shots, item_cost in claim["i"]:
            if (limit_shots is None or shots + item_shots <= limit_shots) and (
                limit_cost is None or cost + item_cost <= limit_cost + 1e-12
            ):
                shots += item_shots
                cost += item_cost
    return shots


def read_records(bootstrap: str, topic: str, cls: type[T]) -> list[T]:
    """Decode every record of ``topic`` as ``cls``."""
    codec = AvroCodec()
    return [v for _p, _o, v in read_topic(bootstrap, topic, lambda b: codec.decode(cls, b))]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 0.1 s; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sink_counts(stack: LocalStack, event_ids: list[str]) -> tuple[int, int, int]:
    """(count() FINAL, uniqExact(event_id), plain count()) of ``results`` rows for the ids."""
    _cols, rows = query(
        stack.settings.dsn,
        "SELECT (SELECT count() FROM qloop.results FINAL WHERE event_id IN {ids:Array(String)}),"
        " (SELECT uniqExact(event_id) FROM qloop.results WHERE event_id IN {ids:Array(String)}),"
        " (SELECT count() FROM qloop.results WHERE event_id IN {ids:Array(String)})",
        {"ids": event_ids},
    )
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


def wait_for_sink(stack: LocalStack, event_ids: list[str], timeout_s: float = 60) -> None:
    """Wait until every id has a row in ``results`` (the sink commits asynchronously)."""
    wait_until(
        lambda: (stack.check(), sink_counts(stack, event_ids))[1][1] >= len(event_ids),
        timeout_s,
        f"{len(event_ids)} result rows in ClickHouse",
    )


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Committed offset per partition of ``topic`` for consumer group ``group``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in meta.partitions], timeout=30
        )
        return {tp.partition: tp.offset for tp in committed}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark per partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def spawn_worker(
    settings: Settings, name: str, extra_env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.Popen[bytes]:
    """One more worker on ``settings`` (``streams.local.stack.spawn_worker``), ready."""
    return stack_spawn_worker(settings, name, extra_env, timeout_s=timeout_s)


def processor_group(topics: TopicNames) -> str:
    """The faust worker's consumer group (its app id)."""
    return f"{topics.prefix}processor"


def batched_topic(settings: Settings) -> str:
    """The topic whose committed offsets mean "result durable" in a one-worker stack.

    Routing off, or on with the shortcut (the one worker owns every hop-2 partition, so it
    batches every bulk update where it enters): the input topic. Routing on without the
    shortcut: the routed topic (the input is committed once an update is forwarded).
    """
    topics = TopicNames(settings.topic_prefix)
    hops = settings.route_by_topology and not settings.route_shortcut
    return topics.by_topology if hops else topics.updates


__all__ = [
    "batched_topic",
    "committed_offsets",
    "end_offsets",
    "processor_group",
    "read_records",
    "read_topic",
    "running_stack",
    "sampler_circuit",
    "sink_counts",
    "spawn_worker",
    "stack_settings",
    "su2_circuit",
    "wait_for_sink",
    "wait_until",
]


def wait_idle(stack: LocalStack, timeout_s: float = 60) -> None:
    """Wait until the workers have committed every input offset (all inputs fully handled).

    With topology routing, inputs are committed once forwarded; the routed topic is checked
    after them, so its end offsets already include everything they forwarded.
    """
    bootstrap = stack.settings.bootstrap
    group = processor_group(stack.topics)
    topics = [stack.topics.updates]
    if stack.settings.route_by_topology:
        topics.append(stack.topics.by_topology)

    def committed_all(topic: str) -> bool:
        ends = end_offsets(bootstrap, topic)
        done = committed_offsets(bootstrap, group, topic)
        return all(done.get(p, -1) >= end for p, end in ends.items() if end > 0)

    def idle() -> bool:
        stack.check()
        return all(committed_all(topic) for topic in topics)  # in order: inputs first

    wait_until(idle, timeout_s, "the worker to commit every input")


def run_qloop(
    settings: Settings, *args: str, timeout_s: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real CLI against ``settings``' broker, topics and data dir (no other QLOOP_* set).

    With a stack running in this process, its sink answers the CLI's ClickHouse reads.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")}
    base |= {
        "QLOOP_DATA_DIR": str(settings.data_dir),
        "QLOOP_KAFKA_BOOTSTRAP": settings.bootstrap,
        "QLOOP_TOPIC_PREFIX": settings.topic_prefix,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streams", *args],
        env=base | env, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip
