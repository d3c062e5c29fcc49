"""Job-level retries on the real pipeline, driven by the backend-failure drill.

Three transient failures, then success: one result per set, each charged once, and the job row
says 4 attempts. Six 429s against a policy of 5 attempts: waited out, nothing fails. A permanent
failure: FAILED at once, one attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import sampler_circuit, stack_settings, wait_for_sink, wait_until

from processors import make_template
from schemas import ResultStatus
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def drilled(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path / "stack",
        max_wait_ms=300,
        retry_initial_ms=50,
        drill_backend_failures={"aer_simulator": request.param},
        prices={"aer_simulator": {"per_shot": 0.001}},
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def _submit(stack: LocalStack, n: int = 3) -> tuple[list[str], list[object]]:
    template = make_template(sampler_circuit(2, prefix="rt"), "retried")
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        updates = [
            new_update(template, [0.3 * i, 0.1, 0.2, 0.4], experiment_id="retries",
                       tenant="acme", shots=500)
            for i in range(n)
        ]  # fmt: skip
        results = client.evaluate(updates, 120)
    ids = [u.event_id for u in updates]
    wait_for_sink(stack, ids)
    return ids, results


def _job_rows(stack: LocalStack, ids: list[str]) -> list[tuple[object, ...]]:
    sql = (
        "SELECT job_id, attempts, num_parameter_sets FROM qloop.jobs FINAL "
        "WHERE hasAny(event_ids, {ids:Array(String)}) ORDER BY job_id"
    )
    return query(stack.settings.dsn, sql, {"ids": ids})[1]


@pytest.mark.parametrize("drilled", ["transient:3"], indirect=True)
def test_three_transient_failures_then_success_is_one_result_one_charge(
    drilled: LocalStack,
) -> None:
    ids, results = _submit(drilled)
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * 3  # type: ignore[attr-defined]
    assert [r.cost for r in results] == pytest.approx([0.5] * 3)  # type: ignore[attr-defined]
    wait_until(lambda: sum(r[1] for r in _job_rows(drilled, ids)) >= 4, 30, "the 4th attempt")
    jobs = _job_rows(drilled, ids)
    # Every job row is one job; retries announced it again with the next attempt number.
    assert sum(int(r[2]) for r in jobs) == 3  # type: ignore[call-overload]
    assert sum(int(r[1]) - 1 for r in jobs) == 3  # type: ignore[call-overload]
    _c, rows = query(
        drilled.settings.dsn,
        "SELECT count(), uniqExact(event_id), sum(cost) FROM qloop.results FINAL "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": ids},
    )
    assert rows[0][0] == rows[0][1] == 3 and rows[0][2] == pytest.approx(1.5)


@pytest.mark.parametrize("drilled", ["throttled:6"], indirect=True)
def test_throttling_beyond_the_attempts_is_waited_out_and_nothing_fails(
    drilled: LocalStack,
) -> None:
    ids, results = _submit(drilled)
    assert [r.status for r in results] == [ResultStatus.SUCCEEDED] * 3  # type: ignore[attr-defined]
    wait_until(lambda: sum(r[1] for r in _job_rows(drilled, ids)) >= 7, 30, "the 7th attempt")
    jobs = _job_rows(drilled, ids)
    assert sum(int(r[1]) - 1 for r in jobs) == 6  # type: ignore[call-overload]
    assert drilled.settings.retry_attempts == 5  # more throttles than attempts, no failure


@pytest.mark.parametrize("drilled", ["permanent:1"], indirect=True)
def test_a_permanent_failure_is_not_retried(drilled: LocalStack) -> None:
    ids, results = _submit(drilled)
    failed = [r for r in results if r.status is ResultStatus.FAILED]  # type: ignore[attr-defined]
    assert failed, "the drill failed nothing"
    for r in failed:
        assert r.error_code == "backend_error"  # type: ignore[attr-defined]
        assert "permanent failure" in r.error_message  # type: ignore[attr-defined]
    assert all(int(r[1]) == 1 for r in _job_rows(drilled, ids))  # type: ignore[call-overload]
