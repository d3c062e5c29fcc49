"""Building a template from a Qiskit circuit: the Python producer's side of the contract.

Any language can register a template by following the rules in :mod:`processors.templates`;
this is how Python producers follow them: the text from Qiskit's OpenQASM 3 exporter, its
hash as the id, the declared inputs as parameter names, QPY alongside for exactness.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from qiskit import qasm3, qpy
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.errors import InvalidTemplateError
from processors.templates import cached_circuit, declared_inputs, template_id_of, topology_key_of
from schemas import CircuitTemplate, PauliTerm


def _terms_of(observables: SparsePauliOp) -> tuple[PauliTerm, ...]:
    terms = []
    for label, coeff in observables.to_list():
        value = complex(coeff)
        if value.imag != 0.0:
            raise InvalidTemplateError(f"observable term {label} has a complex coefficient")
        terms.append(PauliTerm(pauli=str(label), coeff=value.real))
    return tuple(terms)


def make_template(
    circuit: QuantumCircuit,
    name: str,
    observables: SparsePauliOp | None = None,
    *,
    created_at: datetime | None = None,
    with_qpy: bool = True,
) -> CircuitTemplate:
    """Build the registered form of ``circuit`` (the Python producer's path).

    Parameter names are the OpenQASM 3 input names (Qiskit's exporter renames ``θ[0]`` to
    ``_θ_0_``), in the circuit's parameter order, so values are sent in that order.

    Raises:
        InvalidTemplateError: the circuit cannot be serialised, or the observable does not fit it
            (dead-letter the registration).

    """
    try:
        text = qasm3.dumps(circuit)
        buffer = io.BytesIO()
        if with_qpy:
            qpy.dump(circuit, buffer)
    except Exception as exc:  # qiskit raises several unrelated types here
        raise InvalidTemplateError(f"cannot serialise circuit {name!r}: {exc}") from exc
    terms = None
    if observables is not None:
        if observables.num_qubits != circuit.num_qubits:
            raise InvalidTemplateError(
                f"observable has {observables.num_qubits} qubits, circuit {circuit.num_qubits}"
            )
        terms = _terms_of(observables)
    template_id = template_id_of(text)
    loaded = cached_circuit(template_id, text)
    return CircuitTemplate(
        template_id=template_id,
        name=name,
        qasm3=text,
        qpy=buffer.getvalue(),
        parameter_names=declared_inputs(text),
        num_qubits=loaded.num_qubits,
        topology_key=topology_key_of(loaded),
        created_at=created_at or datetime.now(UTC),
        observables=terms,
    )


__all__ = ["make_template"]
