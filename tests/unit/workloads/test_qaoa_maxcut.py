import pytest

from processors.workloads import DEFAULT_GRAPH, IterationReport, QaoaMaxCut, WeightedGraph
from processors.workloads.local import local_evaluators
from processors.workloads.qaoa_maxcut import TARGET_RATIO


def test_brute_force_and_observable_agree() -> None:
    value, bits = DEFAULT_GRAPH.max_cut()
    assert value == pytest.approx(7.4)
    assert DEFAULT_GRAPH.cut_value(bits) == value
    # The cut operator is diagonal: its largest diagonal entry is the optimum.
    diagonal = DEFAULT_GRAPH.cut_observable().to_matrix().diagonal().real
    assert diagonal.max() == pytest.approx(value)
    assert diagonal[int(bits, 2)] == pytest.approx(value)


def test_cut_value_uses_qiskit_bit_order() -> None:
    graph = WeightedGraph(num_nodes=3, edges=((0, 1, 2.0), (1, 2, 5.0)))
    assert graph.cut_value("001") == 2.0  # qubit 0 (rightmost) alone
    assert graph.cut_value("100") == 5.0  # qubit 2 (leftmost) alone


@pytest.mark.parametrize("seed", [0, 7])
def test_reaches_target_ratio(seed: int) -> None:
    workload = QaoaMaxCut(seed=seed)
    evaluate, sample = local_evaluators(workload, seed=seed)
    assert sample is not None
    reports: list[IterationReport] = []
    summary = workload.run(evaluate, sample=sample, on_iteration=reports.append)
    assert summary.approximation_ratio is not None
    assert summary.approximation_ratio >= TARGET_RATIO
    assert summary.converged
    assert summary.value == pytest.approx(summary.approximation_ratio * summary.reference)
    assert summary.best_sampled_value == pytest.approx(summary.reference)
    assert summary.best_bitstring is not None
    assert DEFAULT_GRAPH.cut_value(summary.best_bitstring) == summary.best_sampled_value
    batch = 2 * workload.circuit().num_parameters + 1
    assert evaluate.batch_sizes == [batch] * summary.iterations
    assert sample.batch_sizes == [1]
    assert summary.parameter_sets == batch * summary.iterations + 1
    # Reports are in cut units: higher is better, and best is the running maximum.
    assert reports[-1].best == max(r.value for r in reports)


def test_without_sampler_still_reports_ratio() -> None:
    workload = QaoaMaxCut()
    evaluate, _ = local_evaluators(workload)
    summary = workload.run(evaluate)
    assert summary.approximation_ratio is not None and summary.approximation_ratio >= 0.85
    assert summary.best_bitstring is None and summary.best_sampled_value is None


def test_deterministic_for_a_seed() -> None:
    def run() -> object:
        workload = QaoaMaxCut(seed=5)
        evaluate, sample = local_evaluators(workload, seed=5)
        return workload.run(evaluate, sample=sample)

    assert run() == run()


def test_rejects_single_layer_and_bad_edges() -> None:
    with pytest.raises(ValueError, match="2 layers"):
        QaoaMaxCut(layers=1)
    with pytest.raises(ValueError, match="bad edge"):
        WeightedGraph(num_nodes=2, edges=((0, 2, 1.0),))


def test_parameter_order_is_betas_then_gammas() -> None:
    names = [p.name for p in QaoaMaxCut(layers=3).circuit().parameters]
    assert names == ["beta[0]", "beta[1]", "beta[2]", "gamma[0]", "gamma[1]", "gamma[2]"]


def test_tolerates_estimator_noise() -> None:
    # precision 0.02 on <C> (C_max = 7.4) is roughly what a few thousand shots give.
    workload = QaoaMaxCut(seed=1)
    evaluate, sample = local_evaluators(workload, precision=0.02, seed=1)
    summary = workload.run(evaluate, sample=sample)
    assert summary.approximation_ratio is not None and summary.approximation_ratio >= 0.85
