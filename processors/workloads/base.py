"""The contract between a built-in workload and whatever evaluates its parameter sets.

A workload owns the classical half of a hybrid loop: it proposes parameter sets, hands them to
an *evaluator* and turns the results into its next proposal. The evaluator is the pipeline (or a
local simulator in tests); the workload never knows which, so the same optimizer code runs
in-process and through Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.workloads.optimizer import CheckpointCallback, DescentState, ParameterSet
from schemas.enums import Primitive
from schemas.records import JobResult


class WorkloadError(Exception):
    """Base class of workload failures."""


class UnknownWorkloadError(WorkloadError, LookupError):
    """No workload has this name; the caller should fix the name (the message lists them)."""


class EvaluationError(WorkloadError):
    """The evaluator broke its contract (wrong count, missing data); the run cannot continue."""


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The outcome of one parameter set, as the workload needs it.

    Exactly what the primitive produced: an Estimator fills ``expectation_values`` (one per
    observable), a Sampler fills ``counts`` (bitstrings with qubit 0 rightmost, as Qiskit and
    :class:`schemas.records.JobResult` write them).
    """

    expectation_values: tuple[float, ...] | None = None
    counts: Mapping[str, int] | None = None

    @classmethod
    def from_job_result(cls, result: JobResult) -> EvaluationResult:
        """Adapt a pipeline result, so a stream consumer can feed a workload directly."""
        return cls(expectation_values=result.expectation_values, counts=result.counts)

    def expectation(self) -> float:
        """Return the first expectation value, or raise :class:`EvaluationError` if there is none.

        A failed, rejected or budget-exceeded set arrives without values, and an optimizer
        cannot guess them, so this is a hard stop rather than a silent NaN.
        """
        if not self.expectation_values:
            raise EvaluationError("result carries no expectation value")
        value = float(self.expectation_values[0])
        if not np.isfinite(value):
            raise EvaluationError(f"expectation value is not finite: {value!r}")
        return value

    def require_counts(self) -> Mapping[str, int]:
        """Return the counts, or raise :class:`EvaluationError` if the result has none."""
        if not self.counts:
            raise EvaluationError("result carries no counts")
        return self.counts


#: Evaluates a batch of parameter sets, one result per set and in the same order. A workload
#: calls it once per optimizer iteration with every set that iteration needs, so the pipeline
#: sees (and can batch into one backend submission) the whole iteration at once.
Evaluator = Callable[[list[ParameterSet]], Sequence[EvaluationResult]]


@dataclass(frozen=True, slots=True)
class IterationReport:
    """Progress after one optimizer iteration, in the workload's natural units.

    Attributes:
        iteration: 1-based iteration number.
        value: The objective at this iteration's parameters (energy in Ha, or expected cut).
        best: The best ``value`` so far (lowest energy, highest cut).
        evaluations: Parameter sets evaluated so far, all iterations together.
        elapsed: Seconds since the run started.

    """

    iteration: int
    value: float
    best: float
    evaluations: int
    elapsed: float


IterationCallback = Callable[[IterationReport], None]


@dataclass(frozen=True, slots=True)
class WorkloadSummary:
    """The outcome of one run, shaped for the CLI summary and its ``--json`` output.

    Attributes:
        workload: The workload's registry name.
        value: The answer: the energy (Ha), or the expected cut value ``<C>``, at the final
            parameters (the last batch centre).
        reference: The exact answer: the exact ground energy, or the brute-force max cut.
        error: ``|value - reference|`` for energies; ``None`` for QAOA.
        approximation_ratio: ``<C> / C_max`` for QAOA; ``None`` for energies.
        iterations: Optimizer iterations run (each one evaluate call).
        parameter_sets: Parameter sets evaluated, the final sampling included.
        parameters: The final parameters, in ``circuit().parameters`` order.
        converged: Whether the workload's own target was met (chemical accuracy, ratio >= 0.85).
        best_bitstring: QAOA only: the best cut among the final samples (qubit 0 rightmost).
        best_sampled_value: QAOA only: the cut value of ``best_bitstring``.

    """

    workload: str
    value: float
    reference: float
    error: float | None
    approximation_ratio: float | None
    iterations: int
    parameter_sets: int
    parameters: tuple[float, ...]
    converged: bool
    best_bitstring: str | None = None
    best_sampled_value: float | None = None


@runtime_checkable
class Workload(Protocol):
    """A built-in hybrid workload: an ansatz, what to measure, and the classical optimizer.

    The runner registers ``circuit()`` (with ``observable()`` for Estimator workloads) as a
    template, then calls :meth:`run` with an evaluator bound to it. Parameter arrays follow
    ``circuit().parameters`` order. A workload that also samples its final state (QAOA) exposes
    the measured circuit as ``sampled_circuit()`` and expects a second evaluator, ``sample``,
    bound to it with the Sampler primitive.
    """

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"vqe-h2"``."""
        ...

    @property
    def primitive(self) -> Primitive:
        """The primitive the optimization loop's evaluator must use."""
        ...

    def circuit(self) -> QuantumCircuit:
        """Return the parameterised ansatz (no measurements)."""
        ...

    def observable(self) -> SparsePauliOp | None:
        """Return what the Estimator measures; ``None`` for Sampler-only workloads."""
        ...

    def sampled_circuit(self) -> QuantumCircuit | None:
        """Return the measured circuit for ``sample``; ``None`` if the workload never samples."""
        ...

    @property
    def seed(self) -> int:
        """The seed of the starting point (recorded with every checkpoint)."""
        ...

    def initial_point(self) -> NDArray[np.float64]:
        """The optimizer's starting point (deterministic given the seed)."""
        ...

    def optimizer(self) -> tuple[str, dict[str, str]]:
        """The optimizer's name and its settings as strings (recorded with every checkpoint)."""
        ...

    def run(
        self,
        evaluate: Evaluator,
        *,
        sample: Evaluator | None = None,
        on_iteration: IterationCallback | None = None,
        resume_from: DescentState | None = None,
        on_checkpoint: CheckpointCallback | None = None,
    ) -> WorkloadSummary:
        """Run the classical loop to the end; deterministic given the workload's seed.

        ``resume_from`` continues a crashed loop from its last checkpoint; ``on_checkpoint``
        receives the optimizer's state after every iteration, before the next batch is sent.

        Raises:
            EvaluationError: The evaluator returned the wrong number of results or a result
                without the data the workload needs.

        """
        ...


def checked_evaluate(evaluate: Evaluator, param_sets: list[ParameterSet]) -> list[EvaluationResult]:
    """Call ``evaluate`` once and check it returned one result per parameter set."""
    results = list(evaluate(param_sets))
    if len(results) != len(param_sets):
        raise EvaluationError(
            f"evaluator returned {len(results)} results for {len(param_sets)} parameter sets"
        )
    return results


__all__ = [
    "EvaluationError",
    "EvaluationResult",
    "Evaluator",
    "IterationCallback",
    "IterationReport",
    "ParameterSet",
    "UnknownWorkloadError",
    "Workload",
    "WorkloadError",
    "WorkloadSummary",
    "checked_evaluate",
]
