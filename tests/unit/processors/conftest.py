"""Fixtures for the processors unit tests; factories live in ``proc_factories``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from proc_factories import NOW, ansatz, make_pending, make_update
from qiskit.quantum_info import SparsePauliOp

from processors import PendingSet, make_template
from schemas import CircuitTemplate, ParameterUpdate


@pytest.fixture
def sampler_template() -> CircuitTemplate:
    return make_template(ansatz(3), "ra3", created_at=NOW)


@pytest.fixture
def estimator_template() -> CircuitTemplate:
    observable = SparsePauliOp.from_list([("ZZI", 1.0), ("IXX", 0.5), ("ZII", -0.25)])
    return make_template(ansatz(3, measure=False), "ra3-est", observable, created_at=NOW)


@pytest.fixture
def pending_factory() -> Callable[..., PendingSet]:
    return make_pending


@pytest.fixture
def update_factory() -> Callable[..., ParameterUpdate]:
    return make_update
