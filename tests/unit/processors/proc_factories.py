"""Record factories shared by the processors unit tests (imported, not a conftest)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes

from processors import PendingSet, SourceRef, payload_digest
from schemas import CircuitTemplate, ParameterUpdate, Primitive

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def ansatz(num_qubits: int = 3, reps: int = 1, *, measure: bool = True) -> QuantumCircuit:
    circuit = real_amplitudes(num_qubits, reps=reps)
    if measure:
        circuit.measure_all()
    return circuit


_ids = itertools.count()


def make_update(template: CircuitTemplate, **overrides: Any) -> ParameterUpdate:
    fields: dict[str, Any] = {
        "event_id": f"ev-{next(_ids)}",
        "experiment_id": "exp-1",
        "iteration": 0,
        "tenant": "acme",
        "template_id": template.template_id,
        "parameters": tuple(0.1 * (i + 1) for i in range(len(template.parameter_names))),
        "primitive": Primitive.SAMPLER,
        "produced_at": NOW,
        "shots": 256,
    }
    fields.update(overrides)
    return ParameterUpdate(**fields)


def make_pending(
    template: CircuitTemplate, *, received: float = 0.0, **overrides: Any
) -> PendingSet:
    update = make_update(template, **overrides)
    return PendingSet(
        update=update,
        template=template,
        source=SourceRef("qloop.parameters", 0, 7),
        received_monotonic=received,
        received_at=NOW,
        digest=payload_digest(update),
        raw=b"raw:" + update.event_id.encode(),
    )
