"""IBM jobs outlive their worker: re-attach after kill -9, and no session left open.

Against the fake runtime service (jobs on disk, a scripted queue): a worker in session mode
submits a job and is SIGKILLed while the job is queued; the job finishes while no worker runs.
The restarted worker publishes that job's results without submitting again, each set charged
once, and closes the session the dead worker left open. Then new work opens a new session,
which SIGTERM closes. The device calibration the job ran on is stored next to the results.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from pipeline_support import (
    claimed_shots,
    read_records,
    sampler_circuit,
    stack_settings,
    wait_for_sink,
    wait_until,
)

from processors import make_template
from processors.backends.fake_service import FakeRuntimeService
from schemas import JobSubmitted, ResultStatus
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

QUEUE_S = 12.0
SETS = 5


def _announced(stack: LocalStack) -> list[JobSubmitted]:
    return read_records(stack.settings.bootstrap, stack.topics.jobs, JobSubmitted)


def test_a_worker_killed_mid_job_re_attaches_and_leaves_no_session_open(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    service_dir = tmp_path / "ibm"
    FakeRuntimeService.configure(service_dir, queue_s=QUEUE_S, run_s=0.5)
    service = FakeRuntimeService(service_dir, object())
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path / "stack",
        max_wait_ms=300,
        ibm_fake_service=service_dir,
        ibm_modes={"fake_manila": "session"},
        ibm_session_idle_s=600.0,  # only a stop (or a take-over) closes a session here
        prices={"fake_manila": {"per_shot": 0.001}},
    )
    template = make_template(sampler_circuit(2, prefix="ibm"), "reattach")
    first = [
        new_update(template, [0.2 * i, 0.3, 0.1, 0.4], experiment_id="reattach",
                   tenant="ibm-team", backend="fake_manila", shots=300)
        for i in range(SETS)
    ]  # fmt: skip
    with LocalStack(settings) as stack, QloopClient(settings) as client:
        client.register_template(template)
        futures = client.submit(first)
        wait_until(
            lambda: any(j.provider_job_ids for j in _announced(stack)), 60, "the provider job id"
        )
        (job,) = service.jobs()
        assert job["tags"][0] == "qloop" and "qloop-experiment:reattach" in job["tags"]
        pid = stack.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        stack.stop_worker()
        killed_at = time.time()
        assert service.status(job["job_id"]) == "QUEUED", "the job must still be queued"
        (orphan,) = service.sessions()
        assert service.sessions()[orphan]["closed_at"] is None
        # The job finishes while no worker runs.
        time.sleep(max(0.0, job["created"] + QUEUE_S + 0.6 - time.time()))
        assert service.status(job["job_id"]) == "DONE" and time.time() > killed_at

        stack.start_worker()
        results = [f.result(timeout=120) for f in futures.values()]
        assert {r.status for r in results} == {ResultStatus.SUCCEEDED}
        assert {r.reproducibility.provider_job_id for r in results} == {job["job_id"]}
        assert all(
            r.timings.provider_queue_ms == pytest.approx(QUEUE_S * 1000, abs=5) for r in results
        )
        assert len(service.jobs()) == 1, "the restarted worker submitted the job again"
        assert claimed_shots(kafka_bootstrap, stack.topics.ledger, "ibm-team") == SETS * 300
        wait_until(lambda: service.sessions()[orphan]["closed_at"] is not None, 30, "orphan closed")

        # New work: a new session, closed by SIGTERM once the batches drained.
        second = [
            new_update(template, [0.5, 0.1 * i, 0.3, 0.2], experiment_id="reattach",
                       tenant="ibm-team", backend="fake_manila", shots=300)
            for i in range(SETS)
        ]  # fmt: skip
        assert {r.status for r in client.evaluate(second, 120)} == {ResultStatus.SUCCEEDED}
        assert len(service.jobs()) == 2 and len(service.sessions()) == 2
        assert stack.stop_worker() == 0
        assert all(s["closed_at"] is not None for s in service.sessions().values())

        ids = [u.event_id for u in first]
        wait_for_sink(stack, ids)
        _cols, rows = query(
            settings.dsn,
            "SELECT uniqExact(event_id), any(provider_job_id) FROM qloop.results FINAL "
            "WHERE event_id IN {ids:Array(String)}",
            {"ids": ids},
        )
        assert rows[0][0] == SETS and rows[0][1] == job["job_id"]
        announced = [j for j in _announced(stack) if ids[0] in j.event_ids]
        assert announced[-1].provider_job_ids == (job["job_id"],)

        # The calibration the job ran on is stored, joinable on the results' calibration_id.
        calibration = results[0].reproducibility.calibration_id

        def qubits() -> int:
            sql = (
                "SELECT count() FROM qloop.calibrations FINAL "
                "WHERE backend = 'fake_manila' AND calibration_id = {c:String}"
            )
            return int(query(settings.dsn, sql, {"c": calibration})[1][0][0])

        wait_until(lambda: qubits() == 5, 60, "the calibration snapshot in ClickHouse")
