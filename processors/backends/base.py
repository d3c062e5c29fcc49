"""The backend-adapter interface: one small protocol every execution target implements.

An adapter runs one *submission*: a list of tasks (PUBs), each a compiled circuit with an
``N x P`` array of parameter sets. It returns one outcome per set, in order, together with the
simulator seed that replays that set bit for bit (None where the backend has no seeds).
Adapters are synchronous and CPU- or IO-bound; callers run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Price:
    """What one submission costs on a backend, in the budget's cost unit."""

    per_shot: float = 0.0
    per_job: float = 0.0


@dataclass(frozen=True, slots=True)
class SamplerTask:
    """One sampler PUB: ``values[i]`` binds ``circuit.parameters`` (in that order) for set i.

    ``seeds[i]`` is an explicit simulator seed requested by set i, or None to derive one.
    """

    circuit: QuantumCircuit
    values: FloatArray
    shots: int
    seeds: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class EstimatorTask:
    """One estimator PUB: the laid-out observable evaluated at every row of ``values``.

    ``precision`` None or 0 asks a simulator for exact expectation values.
    """

    circuit: QuantumCircuit
    observable: SparsePauliOp
    values: FloatArray
    precision: float | None
    seeds: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class ProviderRun:
    """What a cloud provider says about the job that ran one set (its id, queue and run time).

    ``calibration_id`` is the device calibration at execution time, which can differ from the
    one the circuit was compiled against.
    """

    job_id: str
    queue_ms: float | None
    execute_ms: float | None
    calibration_id: str | None


#: Per task, per set: the provider's account of the set's job (None: a local run).
ProviderRuns = tuple[tuple[ProviderRun | None, ...], ...] | None


@dataclass(frozen=True, slots=True)
class SamplerOutput:
    """Per task, per set: counts (clbit 0 rightmost) and the seed that replays the set."""

    counts: tuple[tuple[dict[str, int], ...], ...]
    seeds: tuple[tuple[int | None, ...], ...]
    provider: ProviderRuns = None


@dataclass(frozen=True, slots=True)
class EstimatorOutput:
    """Per task, per set: expectation value, standard error and replay seed."""

    evs: tuple[tuple[float, ...], ...]
    stds: tuple[tuple[float, ...], ...]
    seeds: tuple[tuple[int | None, ...], ...]
    provider: ProviderRuns = None


@runtime_checkable
class BackendAdapter(Protocol):
    """An execution target.

    ``run_sampler``/``run_estimator`` either return one outcome per set of every task or raise
    :class:`processors.errors.BackendError`; they never return partial results.
    """

    @property
    def name(self) -> str:
        """Registry name of the backend (what updates ask for)."""
        ...

    @property
    def num_qubits(self) -> int:
        """Widest circuit the backend accepts."""
        ...

    @property
    def max_shots(self) -> int:
        """Most shots per set the backend accepts."""
        ...

    @property
    def is_simulator(self) -> bool:
        """Whether the statevector memory cap applies."""
        ...

    @property
    def price(self) -> Price:
        """Cost model used by the budget ledger."""
        ...

    @property
    def transpile_target(self) -> object:
        """The backend object handed to ``generate_preset_pass_manager(backend=...)``."""
        ...

    def target_id(self) -> str:
        """Stable identity of the transpilation target (part of the compile-cache key)."""
        ...

    def calibration_id(self) -> str | None:
        """Identity of the current calibration (part of the compile-cache key)."""
        ...

    def noise_model_id(self) -> str | None:
        """Fingerprint of the noise this backend applies (None: ideal); goes in the bundle."""
        ...

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """Sample every set of every task in one submission, seeded from ``seed``."""
        ...

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """Estimate every set of every task in one submission, seeded from ``seed``."""
        ...


#: Set while an interactive batch runs: a local simulator then uses its express instance, so a
#: person's small job never queues behind a bulk job on the same simulator.
EXPRESS: ContextVar[bool] = ContextVar("qloop_express", default=False)


@contextmanager
def express_lane(on: bool) -> Iterator[None]:
    """Run the enclosed submission in the express lane when ``on`` (this thread only)."""
    token = EXPRESS.set(on)
    try:
        yield
    finally:
        EXPRESS.reset(token)


def derive_seed(base: int, index: int) -> int:
    """Return a seed for sub-run ``index`` of a submission seeded with ``base``.

    Kept below 2**31 so it fits every simulator's seed type and an Avro long.
    """
    return (base * 1_000_003 + index * 7919) % (2**31 - 1)


def bitstring_counts(counts: dict[str, int]) -> dict[str, int]:
    """Join multi-register keys ("c1 c0") into one bitstring, clbit 0 rightmost."""
    return {key.replace(" ", ""): int(value) for key, value in counts.items()}


__all__ = [
    "EXPRESS",
    "BackendAdapter",
    "EstimatorOutput",
    "EstimatorTask",
    "FloatArray",
    "Price",
    "ProviderRun",
    "ProviderRuns",
    "SamplerOutput",
    "SamplerTask",
    "bitstring_counts",
    "derive_seed",
    "express_lane",
]
