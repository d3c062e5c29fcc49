"""The interactive lane on the real pipeline: its own topics, consumer, batches and slots."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from pipeline_support import (
    claimed_shots,
    committed_offsets,
    end_offsets,
    read_records,
    sampler_circuit,
    stack_settings,
    wait_until,
)

from processors import make_template
from schemas import JobResult, ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_interactive_and_bulk_sets_run_in_separate_jobs(stack: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="ln"), "lanes")
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        updates = [
            new_update(template, [0.1 * i, 0.2, 0.3, 0.4], experiment_id="lanes", shots=64,
                       priority=i % 2)
            for i in range(8)
        ]  # fmt: skip
        results = client.evaluate(updates, 120)
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * 8
    interactive = {r.job_id for r, u in zip(results, updates, strict=True) if u.priority}
    bulk = {r.job_id for r, u in zip(results, updates, strict=True) if not u.priority}
    assert interactive and bulk and not interactive & bulk  # never batched together


def test_the_interactive_consumer_loses_nothing_across_kill_9(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Its own consumer group commits only what is acked: a SIGKILL mid-stream re-reads the
    rest, and the ledger makes that exact (one result per set, each charged once)."""
    settings = stack_settings(
        kafka_bootstrap, tmp_path, max_wait_ms=50, backend_overhead_ms=400,
        budgets={"fast": {"shots": 1_000_000}},
    )  # fmt: skip
    template = make_template(sampler_circuit(2, prefix="lk"), "lanes-kill")
    updates = [
        new_update(template, [0.05 * i, 0.2, 0.3, 0.4], experiment_id="lanes-kill", shots=32,
                   tenant="fast", priority=1)
        for i in range(40)
    ]  # fmt: skip
    with LocalStack(settings, sink=False) as stack, QloopClient(settings) as client:
        client.register_template(template)
        futures = client.submit(updates)
        wait_until(lambda: sum(f.done() for f in futures.values()) >= 5, 60, "5 results")
        pid = stack.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        stack.stop_worker()
        stack.start_worker()
        results = [f.result(timeout=120) for f in futures.values()]
        assert {r.status for r in results} == {ResultStatus.SUCCEEDED}
        # The killed worker may have published every result and died before committing: the
        # restarted one re-reads those inputs and drops them as done. A sentinel shows it reads.
        sentinel = new_update(template, [1.0, 0.2, 0.3, 0.4], experiment_id="lanes-kill",
                              shots=32, tenant="fast", priority=1)  # fmt: skip
        client.evaluate([sentinel], 120)
        group = f"{stack.topics.prefix}processor-interactive"
        topics = (stack.topics.updates_interactive, stack.topics.by_topology_interactive)

        def committed_all() -> bool:
            for topic in topics:
                ends = {p: end for p, end in end_offsets(kafka_bootstrap, topic).items() if end}
                committed = committed_offsets(kafka_bootstrap, group, topic)
                if not ends or any(committed[p] != end for p, end in ends.items()):
                    return False
            return True

        wait_until(committed_all, 60, "the interactive group's offsets at the end of its topics")
        assert stack.stop_worker() == 0
        per_event = Counter(
            r.event_id for r in read_records(kafka_bootstrap, stack.topics.results, JobResult)
        )
        assert set(per_event) == {u.event_id for u in [*updates, sentinel]}
        assert set(per_event.values()) == {1}, "a set was published twice"
        assert claimed_shots(kafka_bootstrap, stack.topics.ledger, "fast") == 41 * 32
