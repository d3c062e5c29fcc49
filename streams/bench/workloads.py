"""The benchmark's cases: a circuit, its primitive and its registered template.

Called cases, not workloads: :class:`processors.workloads.Workload` is the hybrid loop that
``qloop run`` drives, a different thing; the bench only times parameter sets of a fixed circuit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp

from processors.template_builder import make_template
from schemas import CircuitTemplate, Primitive

Values = npt.NDArray[np.float64]
SHOTS = 1024


@dataclass(frozen=True)
class BenchCase:
    """One benchmark case: a circuit, how it is evaluated, and its registered template."""

    name: str
    circuit: QuantumCircuit
    primitive: Primitive
    observable: SparsePauliOp | None = None
    template: CircuitTemplate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "template", make_template(self.circuit, f"bench-{self.name}", self.observable)
        )

    @property
    def shots(self) -> int | None:
        """Shots per set (None: exact estimator)."""
        return SHOTS if self.primitive is Primitive.SAMPLER else None

    def values(self, n: int, seed: int) -> Values:
        """``n`` random parameter sets in [0, 2 pi)."""
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 2 * np.pi, (n, self.circuit.num_parameters))


def sampler_case(num_qubits: int, reps: int = 3) -> BenchCase:
    """Hardware-efficient ansatz (``efficient_su2``) plus ``measure_all``."""
    circuit = efficient_su2(num_qubits, reps=reps)
    circuit.measure_all()
    return BenchCase(f"sampler_{num_qubits}q", circuit, Primitive.SAMPLER)


def estimator_case(num_qubits: int = 8) -> BenchCase:
    """``efficient_su2`` with a (num_qubits - 1)-term nearest-neighbour ZZ observable."""
    circuit = efficient_su2(num_qubits)
    terms = [
        ("I" * (num_qubits - i - 2) + "ZZ" + "I" * i, 1.0 / (i + 1)) for i in range(num_qubits - 1)
    ]
    return BenchCase(
        f"estimator_{num_qubits}q", circuit, Primitive.ESTIMATOR, SparsePauliOp.from_list(terms)
    )


__all__ = ["SHOTS", "BenchCase", "Values", "estimator_case", "sampler_case"]
