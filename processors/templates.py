"""Circuit templates: content-addressed identity, structural topology key, cached loading.

A template is registered once and referenced by id from every parameter update, so its id must
be a pure function of the circuit (the canonical OpenQASM 3 text), and loading it must be cheap
(QPY, cached by id). The topology key groups templates that compile to the same shape: gates
and wiring count, parameter values and names do not.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from datetime import UTC, datetime

from qiskit import qasm3, qpy
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.errors import InvalidTemplateError
from schemas import CircuitTemplate, PauliTerm

_CACHE_SIZE = 256
_circuits: OrderedDict[str, QuantumCircuit] = OrderedDict()
_circuits_lock = threading.Lock()


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _structure(circuit: QuantumCircuit) -> list[object]:
    """Return the wiring of ``circuit`` with every parameter value abstracted to a count."""
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    items: list[object] = [("shape", circuit.num_qubits, circuit.num_clbits)]
    for instruction in circuit.data:
        op = instruction.operation
        qubits = tuple(qubit_index[q] for q in instruction.qubits)
        clbits = tuple(clbit_index[c] for c in instruction.clbits)
        if isinstance(op, ControlFlowOp):
            # Blocks are circuits over the same wires; their structure is the op's "params".
            blocks = [_structure(block) for block in op.blocks]
            items.append((op.name, qubits, clbits, blocks))
        else:
            items.append((op.name, qubits, clbits, len(op.params)))
    return items


def topology_key_of(circuit: QuantumCircuit) -> str:
    """Hash the gate sequence and wiring of ``circuit``, ignoring parameter values and names.

    Two circuits that differ only in fixed angles or parameter names share a key, so they can be
    routed to the same worker and batched side by side.
    """
    return "topo:" + hashlib.sha256(repr(_structure(circuit)).encode()).hexdigest()[:32]


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
) -> CircuitTemplate:
    """Build the registered form of ``circuit``.

    Raises:
        InvalidTemplateError: the circuit cannot be serialised, or the observable does not fit it
            (dead-letter the registration).

    """
    try:
        text = qasm3.dumps(circuit)
        buffer = io.BytesIO()
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
    return CircuitTemplate(
        template_id=_sha256(text),
        name=name,
        qasm3=text,
        qpy=buffer.getvalue(),
        parameter_names=tuple(p.name for p in circuit.parameters),
        num_qubits=circuit.num_qubits,
        topology_key=topology_key_of(circuit),
        created_at=created_at or datetime.now(UTC),
        observables=terms,
    )


def load_circuit(template: CircuitTemplate) -> QuantumCircuit:
    """Return the circuit of ``template`` from its QPY bytes, cached by template id.

    The returned object is shared between callers: treat it as read-only (transpiling and
    binding do not mutate it).

    Raises:
        InvalidTemplateError: the QPY payload is unreadable.

    """
    with _circuits_lock:
        cached = _circuits.get(template.template_id)
        if cached is not None:
            _circuits.move_to_end(template.template_id)
            return cached
    try:
        circuit = qpy.load(io.BytesIO(template.qpy))[0]
    except Exception as exc:
        raise InvalidTemplateError(f"template {template.template_id}: bad QPY: {exc}") from exc
    if not isinstance(circuit, QuantumCircuit):
        raise InvalidTemplateError(f"template {template.template_id}: QPY holds no circuit")
    with _circuits_lock:
        _circuits[template.template_id] = circuit
        while len(_circuits) > _CACHE_SIZE:
            _circuits.popitem(last=False)
    return circuit


def observable_of(template: CircuitTemplate) -> SparsePauliOp | None:
    """Return the template's observable as a ``SparsePauliOp`` (None when it has none)."""
    if not template.observables:
        return None
    return SparsePauliOp.from_list([(t.pauli, t.coeff) for t in template.observables])


def check_template(template: CircuitTemplate) -> str | None:
    """Return why a template received from the topic cannot be trusted, or None if it can.

    The id must be the hash of the QASM text and the QPY circuit must match the declared
    parameters and width; otherwise two workers could disagree about what an id means.
    """
    if template.template_id != _sha256(template.qasm3):
        return "template_id is not the sha256 of its qasm3 text"
    try:
        circuit = load_circuit(template)
    except InvalidTemplateError as exc:
        return str(exc)
    if tuple(p.name for p in circuit.parameters) != template.parameter_names:
        return "parameter_names differ from the circuit's parameters"
    if circuit.num_qubits != template.num_qubits:
        return "num_qubits differs from the circuit's width"
    for term in template.observables or ():
        if len(term.pauli) != template.num_qubits or set(term.pauli) - set("IXYZ"):
            return f"observable term {term.pauli!r} does not fit {template.num_qubits} qubits"
    return None


_measures: dict[str, bool] = {}


def has_measurements(template: CircuitTemplate) -> bool:
    """Return whether the template measures anything (the sampler needs it to).

    Asked once per sampler update at the edge, so the answer is memoised by template id
    (an id is a content hash: the answer never changes).
    """
    known = _measures.get(template.template_id)
    if known is None:
        known = any(i.operation.name == "measure" for i in load_circuit(template).data)
        if len(_measures) > 4096:
            _measures.clear()
        _measures[template.template_id] = known
    return known


__all__ = [
    "check_template",
    "has_measurements",
    "load_circuit",
    "make_template",
    "observable_of",
    "topology_key_of",
]
