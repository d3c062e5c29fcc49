"""Batch by topology across workers: two templates of one topology, produced under different keys
to partitions that two different workers own, are executed in the same submissions.

Hop 1 (any worker) checks each update and re-keys it by the topology key qloop computed; hop 2
(the worker that owns that key's partition of ``updates-by-topology``) batches them together.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest
from confluent_kafka import Producer
from pipeline_support import (
    read_records,
    sampler_circuit,
    spawn_worker,
    stack_settings,
    wait_for_sink,
    wait_idle,
)

from processors import make_template
from schemas import AvroCodec, JobResult, JobSubmitted, ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration
PER_TEMPLATE = 40


@pytest.fixture
def two_workers(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path_factory.mktemp("routing"),
        max_batch=1000,
        max_wait_ms=1500,
        topic_partitions=4,
    )
    with LocalStack(settings) as stack:
        second = spawn_worker(settings, "second-worker")
        try:
            time.sleep(5)  # let the group settle with both members
            yield stack
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(60)
        stack.check()


def test_two_templates_of_one_topology_share_submissions(two_workers: LocalStack) -> None:
    stack, settings = two_workers, two_workers.settings
    first = make_template(sampler_circuit(3, prefix="a"), "route-a")
    second = make_template(sampler_circuit(3, prefix="b"), "route-b")
    assert first.template_id != second.template_id
    assert first.topology_key == second.topology_key
    with QloopClient(settings) as client:
        client.register_template(first)
        client.register_template(second)
    rng = np.random.default_rng(9)
    updates = {
        t.template_id: [
            new_update(
                t,
                rng.uniform(0, np.pi, len(t.parameter_names)),
                experiment_id="routing",
                iteration=i,
                shots=64,
            )
            for i in range(PER_TEMPLATE)
        ]
        for t in (first, second)
    }
    # Different keys and different input partitions, as two unrelated producers would send.
    codec = AvroCodec()
    producer = Producer({"bootstrap.servers": settings.bootstrap, "enable.idempotence": True})
    for partition, (tid, batch) in enumerate(updates.items()):
        for u in batch:
            producer.produce(
                stack.topics.updates,
                codec.encode(u),
                key=f"{tid}-{partition}",
                partition=partition * 2,
            )
    assert producer.flush(30) == 0
    ids = [u.event_id for batch in updates.values() for u in batch]
    wait_for_sink(stack, ids, timeout_s=180)
    wait_idle(stack, timeout_s=120)

    results = [
        r
        for r in read_records(settings.bootstrap, stack.topics.results, JobResult)
        if r.event_id in set(ids)
    ]
    assert sorted(r.event_id for r in results) == sorted(ids)
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    jobs = [
        j
        for j in read_records(settings.bootstrap, stack.topics.jobs, JobSubmitted)
        if set(j.event_ids) & set(ids)
    ]
    # Every submission that ran these sets held both templates: one worker, shared batches.
    assert jobs and all(
        set(j.template_ids) == {first.template_id, second.template_id} for j in jobs
    )
    assert all(j.topology_keys == (first.topology_key,) for j in jobs)
