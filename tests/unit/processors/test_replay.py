"""Replay: a job executed by the worker's own path comes back bit-identical from its bundle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from proc_factories import make_pending

from processors import AerAdapter, BackendRegistry, BatchExecutor, CompileCache, TopologyBatcher
from processors.backends.aer import default_noise_model
from processors.replay import compare_counts, replay_job, tvd_bound
from schemas import CircuitTemplate, JobResult, Primitive
from sinks.replay_source import StoredJob, StoredSet


def _stored(results: list[JobResult], templates: list[CircuitTemplate]) -> StoredJob:
    """What sinks.replay_source reads back, built straight from the worker's results."""
    first = results[0]
    bundle = first.reproducibility
    return StoredJob(
        job_id=first.job_id or "",
        backend=first.backend,
        primitive=first.primitive,
        transpiler_settings=dict(bundle.transpiler_settings),
        package_versions=dict(bundle.package_versions),
        code_version=bundle.code_version,
        sets=tuple(
            StoredSet(
                r.event_id, r.template_id, r.parameters, r.shots,
                r.reproducibility.seed_simulator, r.reproducibility.precision, r.counts,
                r.expectation_values or (), r.standard_errors or (),
                r.reproducibility.compile_key, r.reproducibility.noise_model_id,
            )
            for r in results
        ),
        templates={t.template_id: t for t in templates},
    )  # fmt: skip


def _run(adapter: AerAdapter, pendings: list) -> list[JobResult]:
    batcher = TopologyBatcher(max_batch=10_000, max_wait_s=60.0)
    for pending in pendings:
        batcher.add(pending)
    (batch,) = batcher.drain()
    executor = BatchExecutor(BackendRegistry(adapters=[adapter]).get, CompileCache())
    return executor.execute(batch).results


def test_a_seeded_sampler_job_replays_bit_identical(sampler_template) -> None:
    rng = np.random.default_rng(5)
    pendings = [
        make_pending(sampler_template, parameters=tuple(rng.uniform(0, 3, 6)), shots=500)
        for _ in range(6)
    ]
    adapter = AerAdapter()
    results = _run(adapter, pendings)
    assert all(r.reproducibility.compile_key for r in results)
    report = replay_job(_stored(results, [sampler_template]), adapter)
    summary = report.summary()
    assert summary["sets"] == summary["identical"] == 6
    assert summary["max_tvd"] == 0.0 and summary["versions_match"]
    assert summary["compile_keys_match"]
    # A stored count that was tampered with is found, and named.
    bad = _stored(results, [sampler_template])
    first = bad.sets[0]
    counts = dict(first.counts or {})
    top = max(counts, key=counts.__getitem__)
    counts[top] -= 100
    counts["xx"] = 100
    tampered = replace(bad, sets=(replace(first, counts=counts), *bad.sets[1:]))
    again = replay_job(tampered, adapter).summary()
    assert again["identical"] == 5 and again["max_tvd"] == pytest.approx(0.2)


def test_a_seeded_estimator_job_replays_identical(estimator_template) -> None:
    rng = np.random.default_rng(9)
    pendings = [
        make_pending(
            estimator_template,
            primitive=Primitive.ESTIMATOR,
            shots=None,
            precision=0.0,
            parameters=tuple(rng.uniform(-2, 2, 6)),
        )
        for _ in range(4)
    ]
    adapter = AerAdapter()
    results = _run(adapter, pendings)
    assert all(r.reproducibility.precision == 0.0 for r in results)
    summary = replay_job(_stored(results, [estimator_template]), adapter).summary()
    assert summary["identical"] == summary["sets"] == 4
    assert summary["max_abs_ev_diff"] == 0.0


def test_fresh_seeds_on_a_noisy_backend_stay_within_shot_noise(sampler_template) -> None:
    adapter = AerAdapter("aer_simulator_noisy", noise_model=default_noise_model())
    rng = np.random.default_rng(2)
    pendings = [
        make_pending(
            sampler_template,
            parameters=tuple(rng.uniform(0, 3, 6)),
            shots=2000,
            backend="aer_simulator_noisy",
        )
        for _ in range(5)
    ]
    results = _run(adapter, pendings)
    assert all(r.reproducibility.noise_model_id for r in results)
    summary = replay_job(_stored(results, [sampler_template]), adapter, fresh_seeds=True).summary()
    assert summary["identical"] == 0  # new seeds: new samples
    assert 0.0 < summary["max_tvd"] < 0.1
    assert summary["within_shot_noise"] == 5


def test_the_tvd_bound_separates_noise_from_a_shifted_distribution() -> None:
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.2])

    def sample(probs: np.ndarray) -> dict[str, int]:
        return {str(i): int(c) for i, c in enumerate(rng.multinomial(4000, probs))}

    same = [sample(p) for _ in range(2)]
    shifted = sample(np.array([0.45, 0.35, 0.2]))
    stored = StoredSet("e", "t", (), 4000, None, None, same[0], (), (), None, None)
    assert compare_counts(stored, same[1]).within_shot_noise
    assert not compare_counts(stored, shifted).within_shot_noise
    assert tvd_bound(same[0], same[1]) < 0.05


def test_a_version_difference_is_reported(sampler_template) -> None:
    pendings = [make_pending(sampler_template, shots=100)]
    adapter = AerAdapter()
    job = _stored(_run(adapter, pendings), [sampler_template])
    old = replace(job, package_versions={**job.package_versions, "qiskit": "1.0.0"})
    summary = replay_job(old, adapter).summary()
    assert not summary["versions_match"]
    assert summary["version_differences"]["qiskit"]["stored"] == "1.0.0"
