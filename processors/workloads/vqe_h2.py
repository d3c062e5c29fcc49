"""VQE for the H2 ground state: the workload ``make run`` runs by default.

H2 in STO-3G at the equilibrium bond length 0.735 Å, parity-mapped with the two-qubit reduction
(the textbook two-qubit Hamiltonian). The nuclear repulsion is folded into the identity term so
every energy is a total energy in Hartree and comparable with the literature (≈ -1.1373 Ha).
"""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp

from processors.workloads.base import (
    Evaluator,
    IterationCallback,
    IterationReport,
    ParameterSet,
    WorkloadSummary,
    checked_evaluate,
)
from processors.workloads.optimizer import (
    OPTIMIZER_NAME,
    CheckpointCallback,
    DescentSettings,
    DescentState,
    minimize_batched,
)
from schemas.enums import Primitive

#: Electronic part of the reduced Hamiltonian (qubit 0 is the rightmost Pauli character).
ELECTRONIC_TERMS: tuple[tuple[str, float], ...] = (
    ("II", -1.052373245772859),
    ("IZ", 0.39793742484318045),
    ("ZI", -0.39793742484318045),
    ("ZZ", -0.01128010425623538),
    ("XX", 0.18093119978423156),
)
#: Nuclear repulsion energy at 0.735 Å, in Hartree.
NUCLEAR_REPULSION = 0.7199689944489797
#: |E - E_exact| below this (1 kcal/mol) counts as chemically accurate.
CHEMICAL_ACCURACY = 1.6e-3


def h2_hamiltonian() -> SparsePauliOp:
    """Build the total-energy Hamiltonian: electronic terms, nuclear repulsion on ``II``."""
    op = SparsePauliOp.from_list(list(ELECTRONIC_TERMS))
    return (op + SparsePauliOp("II", coeffs=[NUCLEAR_REPULSION])).simplify()


def exact_ground_energy(hamiltonian: SparsePauliOp) -> float:
    """Lowest eigenvalue by dense diagonalisation: the reference VQE must approach."""
    return float(np.linalg.eigvalsh(hamiltonian.to_matrix())[0])


class VqeH2:
    """VQE on H2: a hardware-efficient RY + CX ansatz and batched momentum descent.

    The ansatz is ``efficient_su2`` with RY rotations only (``real_amplitudes`` by another name):
    H2's ground state has real amplitudes, so RZ layers would double the parameters, and with
    them every batch, without adding anything it needs. With ``reps=2`` that is 6 parameters, so
    each iteration evaluates the current point and its 12 parameter shifts as one batch of 13
    Estimator parameter sets. With exact expectation values it reached chemical accuracy within
    19 iterations (7 on average) from 50 random starts.

    Args:
        seed: Seeds the starting point; the run is deterministic given the seed and results.
        max_iterations: Cap on iterations (evaluate calls).
        learning_rate: Step per unit gradient, in radians per Hartree.
        momentum: Heavy-ball coefficient.
        gradient_tolerance: Stop early once the energy gradient's norm is below this (Ha/rad).
            The default stops when further steps change the energy by far less than
            chemical accuracy; under shot noise the gradient never gets that small and the run
            uses all ``max_iterations``.
        reps: Entangling layers of the ansatz.

    """

    name = "vqe-h2"
    primitive = Primitive.ESTIMATOR

    def __init__(
        self,
        *,
        seed: int = 7,
        max_iterations: int = 60,
        learning_rate: float = 1.0,
        momentum: float = 0.3,
        gradient_tolerance: float = 1e-3,
        reps: int = 2,
    ) -> None:
        self._seed = seed
        self._settings = DescentSettings(
            learning_rate=learning_rate,
            momentum=momentum,
            max_iterations=max_iterations,
            gradient_tolerance=gradient_tolerance,
        )
        self._circuit = efficient_su2(2, su2_gates=["ry"], entanglement="linear", reps=reps)
        self._hamiltonian = h2_hamiltonian()
        self._reference = exact_ground_energy(self._hamiltonian)

    @property
    def reference_energy(self) -> float:
        """Exact ground energy of :func:`h2_hamiltonian`, in Hartree."""
        return self._reference

    @property
    def seed(self) -> int:
        """The seed of the starting point."""
        return self._seed

    def optimizer(self) -> tuple[str, dict[str, str]]:
        """The optimizer's name and settings, as experiment checkpoints record them."""
        return OPTIMIZER_NAME, self._settings.as_dict()

    def circuit(self) -> QuantumCircuit:
        """Return the ansatz; its ``parameters`` order is the order of every parameter set."""
        return self._circuit.copy()

    def observable(self) -> SparsePauliOp:
        """Return the total-energy Hamiltonian."""
        return self._hamiltonian

    def sampled_circuit(self) -> None:
        """VQE never samples: energies come from the Estimator."""
        return None

    def initial_point(self) -> NDArray[np.float64]:
        """Seeded uniform angles in [-π, π): a generic start, not a hand-picked one."""
        rng = np.random.default_rng(self._seed)
        return np.asarray(
            rng.uniform(-math.pi, math.pi, self._circuit.num_parameters), dtype=np.float64
        )

    def run(
        self,
        evaluate: Evaluator,
        *,
        sample: Evaluator | None = None,
        on_iteration: IterationCallback | None = None,
        resume_from: DescentState | None = None,
        on_checkpoint: CheckpointCallback | None = None,
    ) -> WorkloadSummary:
        """Minimise the energy (from ``resume_from`` if given); ``sample`` is ignored."""
        start = time.monotonic()

        def energies(batch: list[ParameterSet]) -> list[float]:
            return [r.expectation() for r in checked_evaluate(evaluate, batch)]

        def report(iteration: int, value: float, best: float, evaluations: int) -> None:
            if on_iteration is not None:
                elapsed = time.monotonic() - start
                on_iteration(IterationReport(iteration, value, best, evaluations, elapsed))

        result = minimize_batched(
            energies,
            self.initial_point(),
            self._settings,
            report,
            resume_from=resume_from,
            on_checkpoint=on_checkpoint,
        )
        error = abs(result.value - self._reference)
        return WorkloadSummary(
            workload=self.name,
            value=result.value,
            reference=self._reference,
            error=error,
            approximation_ratio=None,
            iterations=result.iterations,
            parameter_sets=result.evaluations,
            parameters=tuple(float(p) for p in result.x),
            converged=error <= CHEMICAL_ACCURACY,
        )


__all__ = [
    "CHEMICAL_ACCURACY",
    "NUCLEAR_REPULSION",
    "VqeH2",
    "exact_ground_energy",
    "h2_hamiltonian",
]
