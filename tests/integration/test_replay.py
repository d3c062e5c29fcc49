"""``qloop replay``: a job stored by a real pipeline run re-executes from ClickHouse alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipeline_support import run_qloop, sampler_circuit, wait_for_sink, wait_until
from qiskit.quantum_info import SparsePauliOp

from processors import make_template
from schemas import CircuitTemplate, JobResult, Primitive
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def _run(stack: LocalStack, template: CircuitTemplate, n: int, **kw: Any) -> list[JobResult]:
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        updates = [
            new_update(template, [0.1 + 0.37 * i + 0.05 * j for j in range(len(
                template.parameter_names))], experiment_id="replay", **kw)
            for i in range(n)
        ]  # fmt: skip
        results = client.evaluate(updates, 180)
    wait_for_sink(stack, [u.event_id for u in updates])

    def templates_stored() -> bool:
        sql = "SELECT count() FROM qloop.templates WHERE template_id = {t:String}"
        return query(stack.settings.dsn, sql, {"t": template.template_id})[1][0][0] > 0

    wait_until(templates_stored, 60, "the template row")
    assert {r.job_id for r in results} != {None}
    return results


def _replay(stack: LocalStack, job_id: str, *flags: str) -> dict[str, Any]:
    proc = run_qloop(stack.settings, "replay", job_id, "--json", *flags)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_seeded_aer_sampler_and_estimator_jobs_replay_bit_identical(stack: LocalStack) -> None:
    sampler = make_template(sampler_circuit(3, prefix="rs"), "replay-sampler")
    results = _run(stack, sampler, 8, shots=512)
    (job_id,) = {r.job_id for r in results}
    out = _replay(stack, str(job_id))
    assert out["sets"] == out["identical"] == 8
    assert out["max_tvd"] == 0.0 and out["versions_match"] and out["compile_keys_match"]
    assert set(out) >= {"job_id", "sets", "identical", "max_tvd", "max_abs_ev_diff",
                        "versions_match"}  # fmt: skip
    elsewhere = run_qloop(
        stack.settings, "replay", str(job_id), QLOOP_ALLOWED_BACKENDS='["fake_manila"]'
    )
    assert elsewhere.returncode == 1
    lines = elsewhere.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot replay on 'aer_simulator' here" in lines[0], lines

    observable = SparsePauliOp.from_list([("ZZI", 1.0), ("IXX", -0.5)])
    estimator = make_template(
        sampler_circuit(3, prefix="re").remove_final_measurements(inplace=False),
        "replay-estimator",
        observable,
    )
    results = _run(stack, estimator, 6, primitive=Primitive.ESTIMATOR, precision=0.0)
    assert all(r.reproducibility.precision == 0.0 for r in results)
    (job_id,) = {r.job_id for r in results}
    out = _replay(stack, str(job_id))
    assert out["sets"] == out["identical"] == 6
    assert out["max_abs_ev_diff"] == 0.0 and out["max_tvd"] is None


def test_a_noisy_fake_ibm_job_replays_within_shot_noise(stack: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="rn"), "replay-noisy")
    results = _run(stack, template, 4, shots=2000, backend="fake_manila")
    assert all(r.reproducibility.noise_model_id.startswith("device:") for r in results)  # type: ignore[union-attr]
    (job_id,) = {r.job_id for r in results}
    seeded = _replay(stack, str(job_id))
    assert seeded["identical"] == seeded["sets"] == 4, seeded  # the fake honours seeds
    fresh = _replay(stack, str(job_id), "--fresh-seeds")
    assert fresh["identical"] == 0 and fresh["fresh_seeds"]
    assert fresh["within_shot_noise"] == 4
    assert 0.0 < fresh["max_tvd"] < 0.08


def test_an_unknown_job_is_one_clear_error(stack: LocalStack) -> None:
    proc = run_qloop(stack.settings, "replay", "job-does-not-exist")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no executed set of job 'job-does-not-exist'" in lines[0]
