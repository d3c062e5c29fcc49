"""The null backend: instant fixed outcomes, and only where a deployment allows it."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.backends.base import EstimatorTask, SamplerTask, derive_seed
from processors.backends.null import NullAdapter
from processors.backends.registry import BackendRegistry
from processors.errors import BackendNotAllowedError


def _circuit() -> QuantumCircuit:
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.measure_all()
    return qc


def test_every_shot_lands_on_zeros_and_every_value_is_zero() -> None:
    null = NullAdapter()
    sampler = null.run_sampler(
        [SamplerTask(_circuit(), np.zeros((2, 0)), shots=100, seeds=(None, 11))], seed=5
    )
    assert sampler.counts == (({"000": 100}, {"000": 100}),)
    assert sampler.seeds == ((derive_seed(5, 0), 11),)
    task = EstimatorTask(
        QuantumCircuit(2), SparsePauliOp("ZZ"), np.zeros((3, 0)), None, (None,) * 3
    )
    estimator = null.run_estimator([task], seed=5)
    assert estimator.evs == ((0.0, 0.0, 0.0),) and estimator.stds == estimator.evs
    assert null.submissions == 2


def test_it_is_built_only_when_allowed() -> None:
    assert isinstance(BackendRegistry(["null"]).get("null"), NullAdapter)
    with pytest.raises(BackendNotAllowedError):
        BackendRegistry(["aer_simulator"]).get("null")
