"""A backend marked down: a stand-in simulator with its noise where allowed, never silently."""

from __future__ import annotations

from proc_factories import make_pending

from processors import BackendRegistry, BatchExecutor, CompileCache, TopologyBatcher
from processors.backends.base import Price
from processors.budget import Budget, BudgetLedger
from processors.degradation import DegradationPolicy
from schemas import ErrorCode, ResultStatus


def _batch(pendings):
    batcher = TopologyBatcher(max_batch=10_000, max_wait_s=60.0)
    for pending in pendings:
        batcher.add(pending)
    (batch,) = batcher.drain()
    return batch


def _executor(down: dict[str, str], tenants: set[str], **kwargs):
    registry = BackendRegistry(prices={"fake_manila": Price(per_shot=0.001)})
    return BatchExecutor(
        registry.get,
        CompileCache(),
        marked_down=down.get,
        degradation=DegradationPolicy.of(tenants),
        **kwargs,
    )


def test_an_allowed_tenant_gets_degraded_results_from_the_stand_in(sampler_template) -> None:
    pendings = [
        make_pending(sampler_template, backend="fake_manila", tenant=t, shots=200)
        for t in ("acme", "acme", "strict")
    ]
    budget = BudgetLedger({"acme": Budget(shots=10_000, cost=10.0)})
    executor = _executor({"fake_manila": "maintenance"}, {"acme"}, budget=budget)
    outcome = executor.execute(_batch(pendings))
    by_tenant = {r.tenant: r for r in outcome.results}
    degraded = [r for r in outcome.results if r.tenant == "acme"]
    assert len(degraded) == 2 and outcome.job is not None
    for r in degraded:
        assert r.status is ResultStatus.DEGRADED and r.backend == "fake_manila"
        assert r.reproducibility.backend_name == "aer_simulator@fake_manila"
        assert r.error_code == ErrorCode.BACKEND_UNAVAILABLE
        assert "fake_manila is marked down: maintenance" in (r.error_message or "")
        assert "ran on aer_simulator@fake_manila" in (r.error_message or "")
        assert r.reproducibility.noise_model_id.startswith("device:fake_manila@")  # type: ignore[union-attr]
        assert sum((r.counts or {}).values()) == 200
        assert r.cost == 0.0  # the stand-in is free: the device was not used
        assert r.job_id == outcome.job.job_id
    strict = by_tenant["strict"]
    assert strict.status is ResultStatus.FAILED and strict.job_id is None
    assert strict.error_code == ErrorCode.BACKEND_UNAVAILABLE and strict.cost == 0.0
    assert "does not allow a simulator fallback" in (strict.error_message or "")


def test_back_up_means_succeeded_on_the_device_again(sampler_template) -> None:
    down = {"fake_manila": "maintenance"}
    executor = _executor(down, {"*"})
    first = executor.execute(_batch([make_pending(sampler_template, backend="fake_manila")]))
    assert first.results[0].status is ResultStatus.DEGRADED
    down.clear()
    again = executor.execute(_batch([make_pending(sampler_template, backend="fake_manila")]))
    (result,) = again.results
    assert result.status is ResultStatus.SUCCEEDED and result.error_code is None
    assert result.reproducibility.backend_name == "fake_manila"


def test_a_simulator_marked_down_has_no_stand_in(sampler_template) -> None:
    executor = _executor({"aer_simulator": "host drained"}, {"*"})
    outcome = executor.execute(_batch([make_pending(sampler_template) for _ in range(2)]))
    assert outcome.job is None
    for r in outcome.results:
        assert r.status is ResultStatus.FAILED and r.job_id is None
        assert "no simulator stands in for it" in (r.error_message or "")


def test_a_batch_sent_to_the_stand_in_for_lateness_is_degraded_and_names_the_device(
    sampler_template,
) -> None:
    """Placement gave these sets ``stand-in:fake_manila``: the device is up but too slow."""
    executor = _executor({}, {"acme"})
    pendings = [
        make_pending(sampler_template, backend="stand-in:fake_manila", tenant="acme", shots=100)
        for _ in range(2)
    ]
    outcome = executor.execute(_batch(pendings))
    assert outcome.job is not None and outcome.job.backend == "fake_manila"
    for r in outcome.results:
        assert r.status is ResultStatus.DEGRADED and r.backend == "fake_manila"
        assert r.reproducibility.backend_name == "aer_simulator@fake_manila"
        assert (r.error_message or "").startswith("fake_manila would miss the deadline: ")
        assert sum((r.counts or {}).values()) == 100 and r.cost == 0.0
    # The same device, asked for without a deadline, is not degraded.
    plain = executor.execute(_batch([make_pending(sampler_template, backend="fake_manila")]))
    assert plain.results[0].status is ResultStatus.SUCCEEDED
