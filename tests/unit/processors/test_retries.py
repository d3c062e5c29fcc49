"""Job-level retries: transient failures retried with backoff, permanent ones failed at once."""

from __future__ import annotations

import pytest
from proc_factories import make_pending

from processors import AerAdapter, BackendRegistry, BatchExecutor, CompileCache, TopologyBatcher
from processors.backends.drill import FailingAdapter, parse_drill
from processors.budget import Budget, BudgetLedger
from processors.errors import BackendError, ConfigurationError
from processors.retries import RetryPolicy, call_with_retries, is_throttled, is_transient
from schemas import JobSubmitted, ResultStatus

FAST = RetryPolicy(attempts=5, max_total_s=30, initial_s=0.001, max_wait_s=0.01)


class HttpError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _wrapped(inner: BaseException) -> BackendError:
    try:
        raise inner
    except BaseException as exc:  # noqa: BLE001
        try:
            raise BackendError("ibm_x: job failed") from exc
        except BackendError as outer:
            return outer


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TimeoutError("read timed out"), True),
        (ConnectionResetError("reset by peer"), True),
        (HttpError(429), True),
        (HttpError(503), True),
        (Exception("Error code 3458: You have reached the limit of pending jobs"), True),
        (Exception("Too many pending jobs"), True),
        (HttpError(400), False),
        (Exception("Error code 1011: the instance is not entitled to this backend"), False),
        (ValueError("circuit has 7 qubits, the device 5"), False),
    ],
)
def test_failures_are_classified_through_the_cause_chain(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient
    assert is_transient(_wrapped(error)) is transient


def test_three_transient_failures_then_success_is_four_attempts() -> None:
    failures = [TimeoutError("t1"), HttpError(503), HttpError(429)]
    seen: list[int] = []

    def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    sleeps: list[float] = []
    result = call_with_retries(call, FAST, lambda n, _e: seen.append(n), sleeps.append)
    assert result == "ok" and seen == [2, 3, 4] and len(sleeps) == 3


def test_a_permanent_failure_is_not_retried_and_a_spent_policy_reraises() -> None:
    calls = [0]

    def permanent() -> None:
        calls[0] += 1
        raise ValueError("invalid circuit")

    with pytest.raises(ValueError, match="invalid circuit"):
        call_with_retries(permanent, FAST, sleep=lambda _s: None)
    assert calls == [1]

    def always_busy() -> None:
        calls[0] += 1
        raise HttpError(503)

    calls[0] = 0
    with pytest.raises(HttpError):
        call_with_retries(always_busy, FAST, sleep=lambda _s: None)
    assert calls == [FAST.attempts]


def _run(template, adapter, budget=None, n=3):
    registry = BackendRegistry(adapters=[adapter])
    executor = BatchExecutor(registry.get, CompileCache(), budget=budget, retries=FAST)
    batcher = TopologyBatcher(max_batch=10_000, max_wait_s=60.0)
    pendings = [make_pending(template, shots=100) for _ in range(n)]
    for pending in pendings:
        batcher.add(pending)
    (batch,) = batcher.drain()
    announced: list[JobSubmitted] = []
    admission = executor.admit(batch)
    return executor.run(admission, announced.append), announced


def test_a_job_retried_after_three_transient_failures_is_charged_once(sampler_template) -> None:
    budget = BudgetLedger({"acme": Budget(shots=1_000, cost=None)})
    outcome, announced = _run(
        sampler_template, FailingAdapter(AerAdapter(), "transient", 3), budget
    )
    assert [r.status for r in outcome.results] == [ResultStatus.SUCCEEDED] * 3
    assert [j.attempt for j in announced] == [1, 2, 3, 4]
    assert len({j.job_id for j in announced}) == 1
    assert budget.spent("acme")[0] == 300  # shots charged once, whatever the attempts


def test_a_permanent_failure_fails_on_the_first_attempt(sampler_template) -> None:
    outcome, announced = _run(sampler_template, FailingAdapter(AerAdapter(), "permanent", 1))
    assert [j.attempt for j in announced] == [1]
    for r in outcome.results:
        assert r.status is ResultStatus.FAILED and r.error_code == "backend_error"
        assert "permanent failure" in (r.error_message or "")


def test_drills_are_validated() -> None:
    assert parse_drill("transient:3") == ("transient", 3)
    for bad in ("sometimes:3", "transient", "permanent:0", "transient:x"):
        with pytest.raises(ConfigurationError, match="expected transient:N, throttled:N or perm"):
            parse_drill(bad)


@pytest.mark.parametrize(
    ("error", "throttled"),
    [
        (HttpError(429), True),
        (Exception("Error code 3458: You have reached the limit of pending jobs"), True),
        (Exception("429 Too Many Requests"), True),
        (Exception("rate limit exceeded, retry later"), True),
        (HttpError(503), False),
        (TimeoutError("read timed out"), False),
        (ValueError("invalid circuit"), False),
    ],
)
def test_throttling_is_told_apart_from_failures(error: BaseException, throttled: bool) -> None:
    assert is_throttled(error) is throttled
    assert is_throttled(_wrapped(error)) is throttled
    assert is_transient(error) or not throttled  # throttling is always worth waiting out


def test_throttling_is_waited_out_and_does_not_use_up_the_attempts() -> None:
    """Twelve 429s against a policy of 3 attempts: no failure, only a slower submission."""
    errors: list[BaseException] = [HttpError(429)] * 12
    sleeps: list[float] = []

    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    policy = RetryPolicy(attempts=3, max_total_s=30, initial_s=0.001, max_wait_s=0.01)
    assert call_with_retries(call, policy, sleep=sleeps.append) == "ok"
    assert len(sleeps) == 12

    # Failures after throttling still have their own budget: 3 attempts, then the error.
    errors[:] = [HttpError(429)] * 5 + [HttpError(503)] * 5
    with pytest.raises(HttpError, match="503"):
        call_with_retries(call, policy, sleep=lambda _s: None)
    assert len(errors) == 2  # 5 throttles and 3 failures were used


def test_throttling_past_its_own_bound_fails() -> None:
    import time

    policy = RetryPolicy(attempts=3, initial_s=0.005, max_wait_s=0.01, throttled_max_s=0.05)

    def always_throttled() -> None:
        raise HttpError(429)

    started = time.monotonic()
    with pytest.raises(HttpError):
        call_with_retries(always_throttled, policy)
    assert 0.05 <= time.monotonic() - started < 2


def test_a_throttled_job_succeeds_once_with_every_wait_announced(sampler_template) -> None:
    budget = BudgetLedger({"acme": Budget(shots=1_000, cost=None)})
    outcome, announced = _run(
        sampler_template, FailingAdapter(AerAdapter(), "throttled", 8), budget
    )
    assert [r.status for r in outcome.results] == [ResultStatus.SUCCEEDED] * 3
    assert [j.attempt for j in announced] == list(range(1, 10))  # FAST allows 5 failures
    assert budget.spent("acme")[0] == 300
