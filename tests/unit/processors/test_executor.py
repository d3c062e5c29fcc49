from dataclasses import replace

import numpy as np
import pytest
from proc_factories import NOW, ansatz, make_pending
from qiskit.primitives import StatevectorEstimator
from qiskit_aer import AerSimulator

from processors import (
    AerAdapter,
    BackendError,
    BackendRegistry,
    BatchExecutor,
    Budget,
    BudgetLedger,
    CompileCache,
    IdempotencyLedger,
    Limits,
    OverheadAdapter,
    PendingSet,
    SourceRef,
    TopologyBatcher,
    load_circuit,
    make_template,
    observable_of,
    payload_digest,
)
from schemas import ErrorCode, Primitive, ResultStatus


def _batch(pendings):
    batcher = TopologyBatcher(max_batch=10_000, max_wait_s=60.0)
    for pending in pendings:
        assert batcher.add(pending) == []
    (batch,) = batcher.drain()
    return batch


def _executor(adapter=None, **kwargs):
    adapter = adapter or AerAdapter()
    registry = BackendRegistry(adapters=[adapter])
    return BatchExecutor(registry.get, kwargs.pop("cache", CompileCache()), **kwargs)


def _direct_counts(cache, template, backend, params, shots, seed):
    compiled = cache.get(template, backend).circuit
    order = [template.parameter_names.index(p.name) for p in compiled.parameters]
    bound = compiled.assign_parameters([params[i] for i in order])
    return AerSimulator().run(bound, shots=shots, seed_simulator=seed).result().get_counts()


def test_sampler_counts_equal_direct_aer_with_recorded_seed(sampler_template) -> None:
    other = make_template(ansatz(3, reps=2), "ra3-r2")
    rng = np.random.default_rng(7)
    pendings = [
        make_pending(t, parameters=tuple(rng.uniform(0, 3, len(t.parameter_names))))
        for t in (sampler_template, other, sampler_template, other, sampler_template)
    ]
    pendings.append(make_pending(sampler_template, seed=12345, shots=300))
    backend, cache = AerAdapter(), CompileCache()
    outcome = _executor(backend, cache=cache).execute(_batch(pendings))
    assert len(outcome.results) == len(pendings) and outcome.job is not None
    assert outcome.job.num_parameter_sets == 6 and len(outcome.compiles) == 2
    templates = {t.template_id: t for t in (sampler_template, other)}
    for result in outcome.results:
        assert result.status is ResultStatus.SUCCEEDED and result.job_id == outcome.job.job_id
        seed = result.reproducibility.seed_simulator
        assert seed is not None and sum(result.counts.values()) == result.shots
        template = templates[result.template_id]
        direct = _direct_counts(cache, template, backend, result.parameters, result.shots, seed)
        assert result.counts == direct
    assert outcome.results[-1].reproducibility.seed_simulator == 12345
    # The same batch again (fresh ledgers) replays bit for bit and hits the compile cache.
    again = _executor(backend, cache=cache).execute(_batch(pendings))
    assert [r.counts for r in again.results] == [r.counts for r in outcome.results]
    assert again.compiles == [] and again.job.compile_cache_hit


def test_estimator_matches_statevector_reference(estimator_template) -> None:
    rng = np.random.default_rng(3)
    pendings = [
        make_pending(
            estimator_template,
            primitive=Primitive.ESTIMATOR,
            shots=None,
            parameters=tuple(rng.uniform(-2, 2, 6)),
        )
        for _ in range(5)
    ]
    outcome = _executor().execute(_batch(pendings))
    values = np.array([p.update.parameters for p in pendings])
    reference = (
        StatevectorEstimator()
        .run([(load_circuit(estimator_template), observable_of(estimator_template), values)])
        .result()[0]
        .data.evs
    )
    got = [r.expectation_values[0] for r in outcome.results]
    np.testing.assert_allclose(got, reference, atol=1e-9)
    assert all(r.standard_errors == (0.0,) and r.shots == 0 for r in outcome.results)


class RaisingAdapter(AerAdapter):
    def run_sampler(self, tasks, seed):
        raise BackendError("injected outage")


def test_backend_failure_gives_one_failed_result_per_set(sampler_template) -> None:
    pendings = [make_pending(sampler_template) for _ in range(4)]
    outcome = _executor(RaisingAdapter()).execute(_batch(pendings))
    assert len(outcome.results) == 4 and outcome.job is not None
    assert {r.status for r in outcome.results} == {ResultStatus.FAILED}
    assert {r.error_code for r in outcome.results} == {str(ErrorCode.BACKEND_ERROR)}
    assert "injected outage" in outcome.results[0].error_message


def test_budget_lets_exactly_the_affordable_sets_through(sampler_template) -> None:
    budget = BudgetLedger({"acme": Budget(shots=1000)})
    pendings = [make_pending(sampler_template, shots=256) for _ in range(10)]
    outcome = _executor(budget=budget).execute(_batch(pendings))
    statuses = [r.status for r in outcome.results]
    assert statuses.count(ResultStatus.SUCCEEDED) == 3
    assert statuses.count(ResultStatus.BUDGET_EXCEEDED) == 7
    assert budget.spent("acme")[0] == 768 and outcome.job.total_shots == 768


def test_redelivery_is_executed_and_charged_once(sampler_template) -> None:
    budget = BudgetLedger({"acme": Budget(shots=10_000)})
    executor = _executor(budget=budget, idempotency=IdempotencyLedger({}))
    pendings = [make_pending(sampler_template) for _ in range(3)]
    first = executor.execute(_batch(pendings + [pendings[0]]))  # duplicate inside the batch too
    assert len(first.results) == 3 and first.duplicates == [pendings[0].update.event_id]
    again = executor.execute(_batch(pendings))
    assert again.results == [] and again.job is None and len(again.duplicates) == 3
    assert budget.spent("acme")[0] == 3 * 256
    token = "f00d" * 32
    changed = replace(pendings[1].update, shots=512)
    conflict = replace(
        pendings[1],
        update=changed,
        digest=payload_digest(changed),
        raw=b"payload apikey=" + token.encode(),
    )
    outcome = executor.execute(_batch([conflict]))
    (dead,) = outcome.dead_letters
    assert dead.error_code == "idempotency_key_conflict" and outcome.results == []
    assert token.encode() not in dead.raw_bytes and dead.source_offset == 7


@pytest.mark.parametrize(
    ("limits", "adapter", "code"),
    [
        (Limits(memory_cap_bytes=16 * 4), AerAdapter(), ErrorCode.QUBITS_OVER_CAPACITY),
        (Limits(max_depth=1), AerAdapter(), ErrorCode.CIRCUIT_OVER_LIMITS),
        (Limits(max_two_qubit_gates=0), AerAdapter(), ErrorCode.CIRCUIT_OVER_LIMITS),
        (Limits(), AerAdapter(max_shots=100), ErrorCode.SHOTS_OUT_OF_RANGE),
    ],
)
def test_capacity_checks_reject_without_running(sampler_template, limits, adapter, code) -> None:
    outcome = _executor(adapter, limits=limits).execute(_batch([make_pending(sampler_template)]))
    (result,) = outcome.results
    assert result.status is ResultStatus.REJECTED and result.error_code == str(code)
    assert outcome.job is None and result.job_id is None


def test_backend_not_on_allow_list_is_rejected(sampler_template) -> None:
    registry = BackendRegistry(allowed=["aer_simulator"])
    executor = BatchExecutor(registry.get, CompileCache())
    outcome = executor.execute(_batch([make_pending(sampler_template, backend="fake_manila")]))
    assert outcome.results[0].error_code == str(ErrorCode.BACKEND_NOT_ALLOWED)


def test_overhead_adapter_pays_once_per_submission(sampler_template) -> None:
    slept: list[float] = []
    slow = OverheadAdapter(AerAdapter(), 2.5, sleep=slept.append)
    outcome = _executor(slow).execute(_batch([make_pending(sampler_template) for _ in range(20)]))
    assert len(outcome.results) == 20 and slow.submissions == 1 and slept == [2.5]


def test_fake_manila_local_mode_is_seeded(sampler_template) -> None:
    registry = BackendRegistry(allowed=["fake_manila"])
    cache = CompileCache()
    pendings = [make_pending(sampler_template, backend="fake_manila", shots=200) for _ in range(3)]
    first = BatchExecutor(registry.get, cache).execute(_batch(pendings))
    second = BatchExecutor(registry.get, cache).execute(_batch(pendings))
    assert {r.status for r in first.results} == {ResultStatus.SUCCEEDED}
    assert all(sum(r.counts.values()) == 200 for r in first.results)
    assert [r.counts for r in first.results] == [r.counts for r in second.results]
    assert first.results[0].reproducibility.calibration_id


def test_ibm_token_never_leaks(monkeypatch) -> None:
    import qiskit_ibm_runtime

    from processors.backends.ibm import runtime_backend
    from processors.errors import ConfigurationError

    canary = "canary" + "9" * 60
    monkeypatch.setenv("QLOOP_IBM_TOKEN", canary)
    monkeypatch.setenv("QLOOP_IBM_INSTANCE", "crn:test")

    def refuse(**kwargs):
        raise RuntimeError(f"bad token {kwargs['token']}")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", refuse)
    with pytest.raises(ConfigurationError) as info:
        runtime_backend("ibm_torino")
    assert canary not in str(info.value) and info.value.__cause__ is None
    assert info.value.__suppress_context__  # tracebacks will not print the original error
    import traceback

    assert canary not in "".join(traceback.format_exception(info.value))


def test_each_set_is_hashed_once_at_intake(sampler_template, monkeypatch) -> None:
    """The payload digest is computed by intake, once per set; admission never hashes."""
    from processors import intake as intake_module
    from processors import payload_digest
    from processors.intake import Intake
    from schemas import AvroCodec

    calls = []

    def counting(update):
        calls.append(update.event_id)
        return payload_digest(update)

    monkeypatch.setattr(intake_module, "payload_digest", counting)
    codec = AvroCodec()
    intake = Intake(codec, Limits(), clock=lambda: NOW)
    updates = [make_pending(sampler_template).update for _ in range(4)]
    pendings = [
        intake.admit(codec.encode(u), SourceRef("t", 0, i), {u.template_id: sampler_template}.get)
        for i, u in enumerate(updates)
    ]
    assert all(isinstance(p, PendingSet) for p in pendings)
    assert calls == [u.event_id for u in updates]
    budget = BudgetLedger({"acme": Budget(shots=3 * 256)})  # the 4th set is refused
    executor = _executor(budget=budget, idempotency=IdempotencyLedger({}))
    outcome = executor.execute(_batch(pendings))
    assert len(outcome.results) == 4
    again = executor.execute(_batch(pendings[:3]))  # redelivered: digest travels with the set
    assert len(again.duplicates) == 3 and len(calls) == 4


def test_provider_jobs_are_announced_remembered_and_never_submitted_twice(
    sampler_template, tmp_path
) -> None:
    from processors.backends.fake_service import FakeRuntimeService
    from processors.backends.registry import build_registry
    from processors.job_book import MappingJobBook

    FakeRuntimeService.configure(tmp_path, queue_s=0.25, run_s=0.05)
    entries: dict[str, str] = {}
    flushes: list[int] = []
    book = MappingJobBook(entries, lambda: flushes.append(len(entries)))
    pendings = [make_pending(sampler_template, backend="fake_manila", shots=100) for _ in range(4)]

    def run_once() -> tuple[list, list]:
        registry = build_registry(["fake_manila"], ibm_fake_service=tmp_path)  # a fresh worker
        executor = BatchExecutor(registry.get, CompileCache(), provider_jobs=book)
        announced: list = []
        outcome = executor.run(executor.admit(_batch(pendings)), announced.append)
        snapshots.append(outcome.calibrations)
        return outcome.results, announced

    snapshots: list = []
    results, announced = run_once()
    # The calibration the job ran on, as a record the result's calibration_id joins.
    (snapshot,) = snapshots[0]
    assert snapshot.backend == "fake_manila" and len(snapshot.qubits) == 5
    assert {r.reproducibility.calibration_id for r in results} == {snapshot.calibration_id}
    (job,) = FakeRuntimeService(tmp_path, object()).jobs()
    # Announced as handed over, then again with the provider's id once it was accepted; the
    # ids were durable (flushed) before the worker waited for the result.
    assert [a.provider_job_ids for a in announced] == [(), (job["job_id"],)]
    assert flushes == [4] and set(entries) == {p.update.event_id for p in pendings}
    assert f"qloop-job:{announced[0].job_id}" in job["tags"]
    for r in results:
        assert r.status is ResultStatus.SUCCEEDED
        assert r.reproducibility.provider_job_id == job["job_id"]
        assert r.timings.provider_queue_ms == pytest.approx(250, abs=1)
        assert r.timings.execute_ms == pytest.approx(50, abs=1)
    again, announced_again = run_once()
    assert len(FakeRuntimeService(tmp_path, object()).jobs()) == 1  # re-attached, not re-run
    assert [r.counts for r in again] == [r.counts for r in results]
    # The re-attached job is announced too: the jobs table keeps its provider id.
    assert [a.provider_job_ids for a in announced_again] == [(), (job["job_id"],)]
