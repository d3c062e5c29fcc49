"""In-process evaluators on Qiskit's reference primitives, for tests and offline runs.

They honour the same contract as the pipeline (one call per batch, one result per set, in
order) and are deterministic for a fixed seed, so a workload can be checked without Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.quantum_info import SparsePauliOp

from processors.workloads.base import EvaluationResult, ParameterSet, Workload


class StatevectorEstimatorEvaluator:
    """Evaluates parameter sets with :class:`StatevectorEstimator`.

    Args:
        circuit: The parameterised circuit.
        observable: What to measure.
        precision: Target standard error; ``0`` gives exact expectation values, a positive value
            adds seeded Gaussian noise as a stand-in for shot noise.
        seed: Seed for that noise.

    Attributes:
        batch_sizes: The size of every batch received, in order (lets tests check batching).

    """

    def __init__(
        self,
        circuit: QuantumCircuit,
        observable: SparsePauliOp,
        *,
        precision: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._circuit = circuit
        self._observable = observable
        self._estimator = StatevectorEstimator(default_precision=precision, seed=seed)
        self.batch_sizes: list[int] = []

    def __call__(self, param_sets: list[ParameterSet]) -> Sequence[EvaluationResult]:
        """Evaluate the whole batch in one primitive call."""
        self.batch_sizes.append(len(param_sets))
        values = np.asarray(param_sets, dtype=np.float64)
        result = self._estimator.run([(self._circuit, self._observable, values)]).result()[0]
        evs = np.atleast_1d(np.asarray(result.data.evs, dtype=np.float64))
        return [EvaluationResult(expectation_values=(float(ev),)) for ev in evs]


class StatevectorSamplerEvaluator:
    """Samples parameter sets with :class:`StatevectorSampler` (seeded, so repeatable).

    Args:
        circuit: The parameterised circuit, with measurements.
        shots: Shots per parameter set.
        seed: Sampling seed.

    Attributes:
        batch_sizes: The size of every batch received, in order.

    """

    def __init__(self, circuit: QuantumCircuit, *, shots: int = 1024, seed: int | None = None):
        self._circuit = circuit
        self._sampler = StatevectorSampler(default_shots=shots, seed=seed)
        self.batch_sizes: list[int] = []

    def __call__(self, param_sets: list[ParameterSet]) -> Sequence[EvaluationResult]:
        """Sample the whole batch in one primitive call; counts merge all registers."""
        self.batch_sizes.append(len(param_sets))
        values = np.asarray(param_sets, dtype=np.float64)
        data = self._sampler.run([(self._circuit, values)]).result()[0].join_data()
        return [
            EvaluationResult(counts=dict(data.get_counts(loc=i))) for i in range(len(param_sets))
        ]


def local_evaluators(
    workload: Workload, *, seed: int | None = None, precision: float = 0.0, shots: int = 1024
) -> tuple[StatevectorEstimatorEvaluator, StatevectorSamplerEvaluator | None]:
    """Build the ``evaluate`` and (when the workload samples) ``sample`` evaluators for it.

    Raises:
        ValueError: The workload has no observable; only Estimator workloads are built in.

    """
    observable = workload.observable()
    if observable is None:
        raise ValueError(f"workload {workload.name!r} has no observable to estimate")
    evaluate = StatevectorEstimatorEvaluator(
        workload.circuit(), observable, precision=precision, seed=seed
    )
    sampled = workload.sampled_circuit()
    sample = (
        None if sampled is None else StatevectorSamplerEvaluator(sampled, shots=shots, seed=seed)
    )
    return evaluate, sample


__all__ = ["StatevectorEstimatorEvaluator", "StatevectorSamplerEvaluator", "local_evaluators"]
