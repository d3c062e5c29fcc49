import math
from collections.abc import Sequence

import numpy as np
import pytest

from processors.workloads import (
    WORKLOADS,
    DescentSettings,
    EvaluationError,
    EvaluationResult,
    ParameterSet,
    QaoaMaxCut,
    UnknownWorkloadError,
    VqeH2,
    Workload,
    get_workload,
    minimize_batched,
)


def test_registry_names_and_lookup() -> None:
    assert set(WORKLOADS) == {"vqe-h2", "qaoa-maxcut"}
    assert isinstance(get_workload("vqe-h2"), VqeH2)
    assert isinstance(get_workload("qaoa-maxcut", seed=3), QaoaMaxCut)
    for name in WORKLOADS:
        workload = get_workload(name)
        assert isinstance(workload, Workload)
        assert workload.name == name


def test_unknown_workload_lists_known_names() -> None:
    with pytest.raises(UnknownWorkloadError, match="known: qaoa-maxcut, vqe-h2"):
        get_workload("vqe-lih")
    with pytest.raises(LookupError):
        get_workload("")


def test_evaluator_returning_wrong_count_is_an_error() -> None:
    def short(param_sets: list[ParameterSet]) -> Sequence[EvaluationResult]:
        return [EvaluationResult(expectation_values=(0.0,))]

    with pytest.raises(EvaluationError, match="1 results for 13"):
        VqeH2().run(short)


def test_result_without_values_is_an_error() -> None:
    def failed(param_sets: list[ParameterSet]) -> Sequence[EvaluationResult]:
        return [EvaluationResult() for _ in param_sets]

    with pytest.raises(EvaluationError, match="no expectation value"):
        VqeH2().run(failed)
    with pytest.raises(EvaluationError, match="not finite"):
        EvaluationResult(expectation_values=(math.nan,)).expectation()
    with pytest.raises(EvaluationError, match="no counts"):
        EvaluationResult(expectation_values=(1.0,)).require_counts()


def test_shift_rule_gradient_is_exact_for_a_rotation() -> None:
    # f(x) = cos(x0) + 2 sin(x1): one batch per iteration, and the minimum (-3) is found.
    batches: list[int] = []

    def objective(batch: list[ParameterSet]) -> list[float]:
        batches.append(len(batch))
        return [float(np.cos(x[0]) + 2 * np.sin(x[1])) for x in batch]

    result = minimize_batched(
        objective,
        np.array([2.0, -1.0]),
        DescentSettings(max_iterations=200, gradient_tolerance=1e-8, learning_rate=0.5),
    )
    assert result.value == pytest.approx(-3.0, abs=1e-9)
    assert batches == [5] * result.iterations
    assert result.evaluations == 5 * result.iterations


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="max_iterations"):
        DescentSettings(max_iterations=0)
    with pytest.raises(ValueError, match="shift"):
        DescentSettings(shift=2.0)
    with pytest.raises(ValueError, match="momentum"):
        DescentSettings(momentum=1.0)


def test_result_from_pipeline_record() -> None:
    from datetime import UTC, datetime

    from schemas.enums import Primitive, ResultStatus
    from schemas.records import JobResult, Reproducibility, Timings

    now = datetime.now(UTC)
    record = JobResult(
        event_id="e",
        experiment_id="x",
        iteration=1,
        tenant="t",
        template_id="tpl",
        topology_key="k",
        backend="aer_simulator",
        primitive=Primitive.ESTIMATOR,
        status=ResultStatus.SUCCEEDED,
        parameters=(0.1,),
        shots=0,
        timings=Timings(),
        produced_at=now,
        completed_at=now,
        reproducibility=Reproducibility({}, "dev", {}, "aer_simulator"),
        expectation_values=(-1.1,),
    )
    result = EvaluationResult.from_job_result(record)
    assert result.expectation() == -1.1
    assert result.counts is None
