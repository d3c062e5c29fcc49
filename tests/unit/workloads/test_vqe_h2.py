import numpy as np
import pytest

from processors.workloads import IterationReport, VqeH2, exact_ground_energy, h2_hamiltonian
from processors.workloads.local import local_evaluators
from processors.workloads.vqe_h2 import CHEMICAL_ACCURACY, NUCLEAR_REPULSION
from schemas.enums import Primitive


def test_hamiltonian_includes_nuclear_repulsion() -> None:
    coeffs = dict(h2_hamiltonian().to_list())
    assert coeffs["II"].real == pytest.approx(-1.052373245772859 + NUCLEAR_REPULSION)
    assert coeffs["XX"].real == pytest.approx(0.18093119978423156)


def test_exact_reference_is_total_ground_energy() -> None:
    energy = exact_ground_energy(h2_hamiltonian())
    assert energy == pytest.approx(-1.13730604, abs=1e-6)
    assert VqeH2().reference_energy == energy


@pytest.mark.parametrize("seed", [0, 7, 42])
def test_reaches_chemical_accuracy_with_exact_estimator(seed: int) -> None:
    workload = VqeH2(seed=seed)
    evaluate, sample = local_evaluators(workload)
    assert sample is None
    reports: list[IterationReport] = []
    summary = workload.run(evaluate, on_iteration=reports.append)
    assert summary.converged
    assert summary.error is not None and summary.error <= CHEMICAL_ACCURACY
    assert summary.iterations <= 60
    assert summary.value == pytest.approx(summary.reference, abs=CHEMICAL_ACCURACY)
    assert [r.iteration for r in reports] == list(range(1, summary.iterations + 1))
    assert reports[-1].best <= min(r.value for r in reports) + 1e-12


def test_each_iteration_is_one_batch() -> None:
    workload = VqeH2(seed=3)
    evaluate, _ = local_evaluators(workload)
    reports: list[IterationReport] = []
    summary = workload.run(evaluate, on_iteration=reports.append)
    batch = 2 * workload.circuit().num_parameters + 1
    assert evaluate.batch_sizes == [batch] * summary.iterations
    assert summary.parameter_sets == batch * summary.iterations
    assert [r.evaluations for r in reports] == [batch * i for i in range(1, summary.iterations + 1)]


def test_deterministic_for_a_seed() -> None:
    first = VqeH2(seed=11).run(local_evaluators(VqeH2(seed=11))[0])
    second = VqeH2(seed=11).run(local_evaluators(VqeH2(seed=11))[0])
    assert first == second
    other = VqeH2(seed=12).run(local_evaluators(VqeH2(seed=12))[0])
    assert other.parameters != first.parameters


def test_protocol_surface() -> None:
    workload = VqeH2()
    assert workload.primitive is Primitive.ESTIMATOR
    assert workload.circuit().num_qubits == 2
    assert workload.observable().num_qubits == 2
    assert workload.sampled_circuit() is None
    assert np.all(np.abs(workload.initial_point()) <= np.pi)
