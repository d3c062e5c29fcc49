"""An instant backend that runs nothing, for measuring qloop's plumbing alone.

``qloop bench --backend null`` sends its sets here: every set still goes through intake, the
topology batcher, the ledger, compilation (against the Aer simulator's target, so the compile
path is the real one), publication and the sink, but its "execution" costs next to nothing.
What the run then costs is what qloop itself costs per set.

Its outcomes are fixed and say so: every shot lands on the all-zeros bitstring, and every
expectation value is 0.0 with a standard error of 0.0. It is not allowed unless a deployment
names it in ``QLOOP_ALLOWED_BACKENDS``, so no user's set is answered with them by mistake.
"""

from __future__ import annotations

from functools import cached_property

from processors.backends.base import (
    EstimatorOutput,
    EstimatorTask,
    Price,
    SamplerOutput,
    SamplerTask,
    derive_seed,
)

NAME = "null"


class NullAdapter:
    """Answers every set at once with the fixed outcomes of the module docstring."""

    name = NAME
    num_qubits = 64
    max_shots = 1_000_000
    is_simulator = False  # no statevector is ever built, so no memory cap applies

    def __init__(self, price: Price | None = None) -> None:
        self.price = price or Price()
        self.submissions = 0

    @cached_property
    def transpile_target(self) -> object:
        """Aer's target: circuits compile as they would for a simulator."""
        from qiskit_aer import AerSimulator

        return AerSimulator()

    def target_id(self) -> str:
        """Its own name: compilations are not shared with a real simulator's."""
        return NAME

    def calibration_id(self) -> str | None:
        """None: there is no device."""
        return None

    def noise_model_id(self) -> str | None:
        """None: there is no noise."""
        return None

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """All shots on the all-zeros outcome, for every set."""
        self.submissions += 1
        counts = tuple(tuple({"0" * t.circuit.num_clbits: t.shots} for _ in t.seeds) for t in tasks)
        return SamplerOutput(counts=counts, seeds=_seeds(seed, [t.seeds for t in tasks]))

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """Expectation value 0.0, standard error 0.0, for every set."""
        self.submissions += 1
        zeros = tuple(tuple(0.0 for _ in t.seeds) for t in tasks)
        return EstimatorOutput(evs=zeros, stds=zeros, seeds=_seeds(seed, [t.seeds for t in tasks]))


def _seeds(seed: int, explicit: list[tuple[int | None, ...]]) -> tuple[tuple[int | None, ...], ...]:
    # The seed a set reports is the one a real simulator would have been given for it.
    return tuple(
        tuple(s if s is not None else derive_seed(seed, i) for s in row)
        for i, row in enumerate(explicit)
    )


__all__ = ["NAME", "NullAdapter"]
