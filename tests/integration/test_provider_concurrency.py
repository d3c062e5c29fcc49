"""The provider's concurrency limit holds for the whole group: two workers, one slot.

Two workers in one group, 2 submissions in flight each, against a backend that takes 1.2 s per
submission, longer than the lease's 0.9 s TTL, so that only renewals keep a running job's slot.
With ``QLOOP_PROVIDER_CONCURRENCY`` at 1 no two jobs ever run at once (each job's run is
``[completed_at - execute_ms, completed_at]``); without it (the negative control) they do, which
shows the oracle can fail.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import sampler_circuit, stack_settings

from processors import make_template
from schemas import JobResult, ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack, spawn_worker

pytestmark = pytest.mark.integration


def _most_at_once(results: list[JobResult]) -> int:
    runs: dict[str, tuple[float, float]] = {}
    for r in results:
        end = r.completed_at.timestamp()
        runs[str(r.job_id)] = (end - r.timings.execute_ms / 1000, end)
    edges = sorted([(s, 1) for s, _ in runs.values()] + [(e, -1) for _, e in runs.values()])
    most = current = 0
    for _t, step in edges:  # an end sorts before a start at the same instant
        current += step
        most = max(most, current)
    return most


def _run_two_workers(bootstrap: str, data_dir: Path, **overrides: Any) -> list[JobResult]:
    settings = stack_settings(bootstrap, data_dir, max_batch=4, max_wait_ms=50, max_in_flight=2,
                              backend_overhead_ms=1200, route_by_topology=False,
                              **overrides)  # fmt: skip
    templates = [
        make_template(sampler_circuit(2, prefix=f"pc{k}_"), f"provider-{k}") for k in range(8)
    ]
    with LocalStack(settings, sink=False):
        second = spawn_worker(settings, "worker-2")
        try:
            with QloopClient(settings) as client:
                for template in templates:
                    client.register_template(template)
                updates = [
                    new_update(templates[i % 8], [0.1 * i, 0.2, 0.3, 0.4],
                               experiment_id="provider", shots=32)
                    for i in range(32)
                ]  # fmt: skip
                return client.evaluate(updates, 180)
        finally:
            second.terminate()
            second.wait(60)


def test_two_workers_never_exceed_the_providers_limit(kafka_bootstrap: str, tmp_path: Path) -> None:
    results = _run_two_workers(
        kafka_bootstrap,
        tmp_path / "limited",
        provider_concurrency={"aer_simulator": 1},
        lease_ttl_s=0.9,
    )
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * len(results)
    assert len({r.job_id for r in results}) >= 8
    assert _most_at_once(results) == 1


def test_without_the_limit_the_oracle_sees_jobs_run_at_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    results = _run_two_workers(kafka_bootstrap, tmp_path / "free")
    assert _most_at_once(results) >= 2


@pytest.mark.parametrize("reserved", [1, 0], ids=["reserve-1", "no-reserve-control"])
def test_bulk_leaves_the_interactive_lanes_slot_free(
    kafka_bootstrap: str, tmp_path: Path, reserved: int
) -> None:
    """A limit of 2 with one slot kept for the interactive lane: bulk jobs never run two at
    once, and interactive sets run beside them. Without the reserve (the control) bulk takes
    both slots."""
    settings = stack_settings(
        kafka_bootstrap, tmp_path / f"reserve{reserved}", max_batch=4, max_wait_ms=50,
        max_in_flight=2, backend_overhead_ms=1200, route_by_topology=False,
        provider_concurrency={"aer_simulator": 2}, interactive_leases=reserved,
    )  # fmt: skip
    templates = [
        make_template(sampler_circuit(2, prefix=f"ir{k}_"), f"reserve-{k}") for k in range(8)
    ]
    with LocalStack(settings, sink=False), QloopClient(settings) as client:
        for template in templates:
            client.register_template(template)
        bulk = [
            new_update(templates[i % 8], [0.1 * i, 0.2, 0.3, 0.4], experiment_id="reserve",
                       shots=32)
            for i in range(32)
        ]  # fmt: skip
        pending = client.submit(bulk)
        urgent = [
            new_update(templates[0], [0.5, 0.1 * i, 0.3, 0.4], experiment_id="reserve-urgent",
                       shots=32, priority=5)
            for i in range(3)
        ]  # fmt: skip
        urgent_results = []
        for update in urgent:
            time.sleep(1.0)
            urgent_results += client.evaluate([update], 120)
        bulk_results = [f.result(180) for f in pending.values()]
    results = bulk_results + urgent_results
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * len(results)
    if reserved:
        assert _most_at_once(bulk_results) == 1  # bulk never took the interactive slot
        assert _most_at_once(results) == 2  # an interactive job ran beside a bulk one
    else:
        assert _most_at_once(bulk_results) == 2
