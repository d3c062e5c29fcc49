"""Circuit templates: OpenQASM 3 is the circuit, its hash is the id, qloop derives the rest.

A template is registered once and referenced by id from every parameter update, so the id must
name exactly what runs. The rule, the same for every language:

* the id is ``"sha256:"`` + the hex SHA-256 of the UTF-8 bytes of the ``qasm3`` field as sent
  (no normalisation: a comment or a space changes the id, and the id still names what runs);
* the circuit that executes is the one :func:`qiskit.qasm3.loads` builds from that text;
* its parameters are the ``input float[64]`` declarations, in declaration order, and
  ``parameter_names`` must list exactly those names in that order (``ParameterUpdate.parameters``
  follows it);
* ``qpy`` is optional (empty bytes: absent); when present it must describe the same circuit as
  the text, or the template is refused: two descriptions that disagree cannot both be the id;
* the topology key is computed here from the circuit; a producer's claim is replaced by it.

A template that breaks a rule raises :class:`TemplateRejectedError` with the dead-letter code
that names the broken rule.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import replace

import openqasm3
import openqasm3.ast as qasm_ast
from qiskit import qasm3, qpy
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.errors import InvalidTemplateError
from schemas import CircuitTemplate, ErrorCode

_CACHE_SIZE = 256
_circuits: OrderedDict[str, QuantumCircuit] = OrderedDict()
_circuits_lock = threading.Lock()


class TemplateRejectedError(InvalidTemplateError):
    """A registered template that breaks a rule of the contract (``code`` names which)."""


def template_id_of(qasm3_text: str) -> str:
    """The id of the circuit ``qasm3_text`` describes: the SHA-256 of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(qasm3_text.encode("utf-8")).hexdigest()


def _structure(circuit: QuantumCircuit, *, values: bool) -> list[object]:
    """The wiring of ``circuit``; with ``values`` the gate parameters too (else only counts)."""
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    items: list[object] = [("shape", circuit.num_qubits, circuit.num_clbits)]
    for instruction in circuit.data:
        op = instruction.operation
        qubits = tuple(qubit_index[q] for q in instruction.qubits)
        clbits = tuple(clbit_index[c] for c in instruction.clbits)
        if isinstance(op, ControlFlowOp):
            # Blocks are circuits over the same wires; their structure is the op's "params".
            blocks = [_structure(block, values=values) for block in op.blocks]
            items.append((op.name, qubits, clbits, blocks))
        elif values:
            items.append((op.name, qubits, clbits, tuple(str(p) for p in op.params)))
        else:
            items.append((op.name, qubits, clbits, len(op.params)))
    return items


def topology_key_of(circuit: QuantumCircuit) -> str:
    """Hash the gate sequence and wiring of ``circuit``, ignoring parameter values and names.

    Two circuits that differ only in fixed angles or parameter names share a key, so they can be
    routed to the same worker and batched side by side.
    """
    structure = _structure(circuit, values=False)
    return "topo:" + hashlib.sha256(repr(structure).encode()).hexdigest()[:32]


def declared_inputs(qasm3_text: str) -> tuple[str, ...]:
    """The ``input`` parameter names of ``qasm3_text`` in declaration order.

    Raises:
        TemplateRejectedError: the text does not parse, or an input is not ``float[64]``.

    """
    try:
        program = openqasm3.parse(qasm3_text)
    except Exception as exc:  # the parser raises its own and ANTLR's error types
        message = str(exc).strip() or type(exc).__name__
        raise TemplateRejectedError(
            f"qasm3 does not parse: {message}", code=ErrorCode.INVALID_QASM
        ) from None
    names = []
    for statement in program.statements:
        if isinstance(statement, qasm_ast.IODeclaration) and (
            statement.io_identifier == qasm_ast.IOKeyword.input
        ):
            kind = statement.type
            size = getattr(getattr(kind, "size", None), "value", None)
            if not isinstance(kind, qasm_ast.FloatType) or size != 64:  # noqa: PLR2004
                raise TemplateRejectedError(
                    f"input {statement.identifier.name!r} is not float[64]",
                    code=ErrorCode.INVALID_QASM,
                )
            names.append(statement.identifier.name)
    return tuple(names)


def circuit_of_qasm(qasm3_text: str) -> QuantumCircuit:
    """Build the circuit ``qasm3_text`` describes (Qiskit's OpenQASM 3 importer).

    Raises:
        TemplateRejectedError: the importer refuses the text (syntax or unsupported feature).

    """
    try:
        return qasm3.loads(qasm3_text)
    except Exception as exc:  # qiskit_qasm3_import raises several unrelated types here
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemplateRejectedError(
            f"qasm3 is not importable: {message}", code=ErrorCode.INVALID_QASM
        ) from exc


def cached_circuit(template_id: str, text: str) -> QuantumCircuit:
    """The circuit ``text`` describes, imported once per ``template_id`` (LRU of 256)."""
    with _circuits_lock:
        cached = _circuits.get(template_id)
        if cached is not None:
            _circuits.move_to_end(template_id)
            return cached
    circuit = circuit_of_qasm(text)
    with _circuits_lock:
        _circuits[template_id] = circuit
        while len(_circuits) > _CACHE_SIZE:
            _circuits.popitem(last=False)
    return circuit


def load_circuit(template: CircuitTemplate) -> QuantumCircuit:
    """Return the circuit that runs for ``template``: its QASM 3 text imported, cached by id.

    The returned object is shared between callers: treat it as read-only (transpiling and
    binding do not mutate it).

    Raises:
        InvalidTemplateError: the text cannot be imported.

    """
    return cached_circuit(template.template_id, template.qasm3)


def _check_qpy(template: CircuitTemplate, circuit: QuantumCircuit) -> None:
    """Refuse a QPY payload that describes another circuit than the text."""
    try:
        loaded = qpy.load(io.BytesIO(template.qpy))[0]
        # Compared through the text, so that parameter names are spelt the same way on both.
        as_text = circuit_of_qasm(qasm3.dumps(loaded))
    except Exception as exc:  # noqa: BLE001 - any failure to read it is a refusal
        raise TemplateRejectedError(
            f"qpy is unreadable: {exc}", code=ErrorCode.QPY_MISMATCH
        ) from None
    if _structure(as_text, values=True) != _structure(circuit, values=True):
        raise TemplateRejectedError(
            "qpy describes another circuit than the qasm3 text (the text is what the id names)",
            code=ErrorCode.QPY_MISMATCH,
        )


def verify_template(template: CircuitTemplate) -> CircuitTemplate:
    """Check a template received from the topic; return it as qloop trusts it.

    The returned template carries the topology key computed from its circuit (the producer's
    claim is replaced, so batching and routing never depend on what a producer wrote).

    Raises:
        TemplateRejectedError: a rule of the contract is broken; ``code`` names which.

    """
    if template.template_id != template_id_of(template.qasm3):
        raise TemplateRejectedError(
            f"template_id {template.template_id[:20]}... is not the sha256 of its qasm3 text "
            f"({template_id_of(template.qasm3)[:20]}...)",
            code=ErrorCode.TEMPLATE_ID_MISMATCH,
        )
    inputs = declared_inputs(template.qasm3)
    circuit = load_circuit(template)
    if inputs != template.parameter_names:
        raise TemplateRejectedError(
            f"parameter_names {list(template.parameter_names)} are not the qasm3 inputs "
            f"in declaration order {list(inputs)}"
        )
    if circuit.num_qubits != template.num_qubits:
        raise TemplateRejectedError(
            f"num_qubits is {template.num_qubits}, the circuit has {circuit.num_qubits}"
        )
    for term in template.observables or ():
        if len(term.pauli) != template.num_qubits or set(term.pauli) - set("IXYZ"):
            raise TemplateRejectedError(
                f"observable term {term.pauli!r} does not fit {template.num_qubits} qubits"
            )
    if template.qpy:
        _check_qpy(template, circuit)
    topology = topology_key_of(circuit)
    if template.topology_key == topology:
        return template
    return replace(template, topology_key=topology)


def check_template(template: CircuitTemplate) -> str | None:
    """Why ``template`` cannot be trusted, or None if it can (see :func:`verify_template`)."""
    try:
        verify_template(template)
    except InvalidTemplateError as exc:
        return str(exc)
    return None


def observable_of(template: CircuitTemplate) -> SparsePauliOp | None:
    """Return the template's observable as a ``SparsePauliOp`` (None when it has none)."""
    if not template.observables:
        return None
    return SparsePauliOp.from_list([(t.pauli, t.coeff) for t in template.observables])


_measures: dict[str, bool] = {}


def has_measurements(template: CircuitTemplate) -> bool:
    """Return whether the template measures anything (the sampler needs it to).

    Asked once per sampler update at the edge, so the answer is memoised by template id
    (an id is a content hash: the answer never changes).
    """
    known = _measures.get(template.template_id)
    if known is None:
        known = any(i.operation.name == "measure" for i in load_circuit(template).data)
        if len(_measures) > 4096:  # noqa: PLR2004
            _measures.clear()
        _measures[template.template_id] = known
    return known


__all__ = [
    "TemplateRejectedError",
    "cached_circuit",
    "check_template",
    "circuit_of_qasm",
    "declared_inputs",
    "has_measurements",
    "load_circuit",
    "observable_of",
    "template_id_of",
    "topology_key_of",
    "verify_template",
]
