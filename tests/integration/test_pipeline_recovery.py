"""Redelivery, restart and SIGTERM on the real broker: one execution and one result per event."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer
from pipeline_support import (
    batched_topic,
    claimed_shots,
    committed_offsets,
    processor_group,
    read_records,
    sampler_circuit,
    sink_counts,
    stack_settings,
    wait_for_sink,
    wait_idle,
    wait_until,
)

from processors import make_template
from schemas import AvroCodec, JobResult, JobSubmitted, ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def _spent_shots(stack: LocalStack, tenant: str) -> float:
    return claimed_shots(stack.settings.bootstrap, stack.topics.ledger, tenant)


def test_redelivered_update_executes_and_charges_once_across_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path,
        max_wait_ms=50,
        backend_overhead_ms=300,  # batches overlap: the copies race a running execution
        budgets={"dup": {"shots": 100_000}},
    )
    template = make_template(sampler_circuit(3, prefix="r"), "ra3-redelivery")
    update = new_update(
        template, [0.3] * 6, experiment_id="redelivery", tenant="dup", shots=200, seed=7
    )
    codec = AvroCodec()
    raw = codec.encode(update)
    with LocalStack(settings, sink=False) as stack, QloopClient(settings) as client:
        client.register_template(template)
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        for _ in range(3):  # the same event three times, each while the previous one runs
            producer.produce(stack.topics.updates, key=template.template_id, value=raw)
            producer.flush(10)
            time.sleep(0.15)
        sentinel = new_update(template, [0.1] * 6, experiment_id="redelivery", shots=10)
        client.evaluate([sentinel], 60)
        wait_idle(stack)

        results = [
            r
            for r in read_records(kafka_bootstrap, stack.topics.results, JobResult)
            if r.event_id == update.event_id
        ]
        assert len(results) == 1 and results[0].status is ResultStatus.SUCCEEDED
        jobs = [
            j
            for j in read_records(kafka_bootstrap, stack.topics.jobs, JobSubmitted)
            if update.event_id in j.event_ids
        ]
        assert len(jobs) == 1
        assert _spent_shots(stack, "dup") == 200

        # A fresh worker process on the same topics, then the same event again.
        assert stack.stop_worker() == 0
        stack.start_worker()
        producer.produce(stack.topics.updates, key=template.template_id, value=raw)
        producer.flush(10)
        sentinel = new_update(template, [0.2] * 6, experiment_id="redelivery", shots=10)
        client.evaluate([sentinel], 60)
        wait_idle(stack)
        results_after = [
            r
            for r in read_records(kafka_bootstrap, stack.topics.results, JobResult)
            if r.event_id == update.event_id
        ]
        assert len(results_after) == 1
        jobs_after = [
            j
            for j in read_records(kafka_bootstrap, stack.topics.jobs, JobSubmitted)
            if update.event_id in j.event_ids
        ]
        assert len(jobs_after) == 1
        assert _spent_shots(stack, "dup") == 200


def test_sigterm_drains_and_restart_leaves_one_result_per_event(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = stack_settings(
        kafka_bootstrap, tmp_path, max_batch=50, max_wait_ms=100, backend_overhead_ms=100
    )
    template = make_template(sampler_circuit(3, prefix="g"), "ra3-sigterm")
    rng = np.random.default_rng(11)
    updates = [
        new_update(template, rng.uniform(0, 3, 6), experiment_id="sigterm", shots=16)
        for _ in range(2000)
    ]
    ids = [u.event_id for u in updates]
    with LocalStack(settings) as stack, QloopClient(settings) as client:
        client.register_template(template)
        futures = client.submit(updates)
        wait_until(lambda: sum(f.done() for f in futures.values()) >= 300, 60, "300 results")
        started = time.monotonic()
        code = stack.stop_worker(timeout_s=60)
        drain_s = time.monotonic() - started
        assert code == 0, f"worker exit code {code}"
        # A clean drain: every input consumed before the stop has its result, and the committed
        # offsets cover exactly those inputs (nothing half-done, nothing to redeliver).
        group = processor_group(stack.topics)
        committed = committed_offsets(kafka_bootstrap, group, batched_topic(settings))
        before = Counter(
            r.event_id for r in read_records(kafka_bootstrap, stack.topics.results, JobResult)
        )
        assert set(before.values()) == {1}
        consumed = sum(max(o, 0) for o in committed.values())
        print(f"\nSIGTERM: drained in {drain_s:.2f}s, {len(before)} results, committed {consumed}")
        assert consumed == len(before)

        stack.start_worker()
        results = [futures[i].result(120) for i in ids]
        assert all(r.status is ResultStatus.SUCCEEDED for r in results)
        wait_idle(stack)
        on_topic = Counter(
            r.event_id for r in read_records(kafka_bootstrap, stack.topics.results, JobResult)
        )
        assert len(on_topic) == 2000 and set(on_topic.values()) == {1}
        wait_for_sink(stack, ids)
        final, distinct, plain = sink_counts(stack, ids)
        assert final == distinct == plain == 2000


def test_sigterm_flushes_a_partial_batch_before_exit(kafka_bootstrap: str, tmp_path: Path) -> None:
    # max_wait far beyond the test: only the shutdown drain can close this batch.
    settings = stack_settings(kafka_bootstrap, tmp_path, max_batch=500, max_wait_ms=600_000)
    template = make_template(sampler_circuit(2, prefix="p"), "ra2-partial")
    updates = [
        new_update(template, [0.1 * k] * 4, experiment_id="partial", shots=8) for k in range(30)
    ]
    with LocalStack(settings, sink=False) as stack, QloopClient(settings) as client:
        client.register_template(template)
        futures = client.submit(updates)
        time.sleep(3)  # consumed and batched, not executed
        assert not any(f.done() for f in futures.values())
        started = time.monotonic()
        assert stack.stop_worker(timeout_s=30) == 0
        assert time.monotonic() - started < 20
        results = [futures[u.event_id].result(10) for u in updates]
        assert all(r.status is ResultStatus.SUCCEEDED for r in results)
        committed = committed_offsets(
            kafka_bootstrap, processor_group(stack.topics), batched_topic(settings)
        )
        assert sum(max(o, 0) for o in committed.values()) == len(updates)
