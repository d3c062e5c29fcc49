import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from external_avro import RY_CX
from qiskit import qasm3
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector
from samples import qpy_of_ry_without_cx

from processors import check_template, load_circuit, make_template, observable_of
from processors.intake import REGISTER, Intake
from processors.pending import SourceRef
from processors.templates import (
    TemplateRejectedError,
    template_id_of,
    topology_key_of,
    verify_template,
)
from processors.validation import Limits
from schemas import AvroCodec, CircuitTemplate, ErrorCode


def _circuit(angle: float, name: str = "a") -> QuantumCircuit:
    theta = Parameter(name)
    circuit = QuantumCircuit(2)
    circuit.rx(angle, 0)
    circuit.ry(theta, 1)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def test_template_id_is_sha256_of_qasm3_and_stable() -> None:
    circuit = _circuit(0.3)
    first, second = make_template(circuit, "one"), make_template(circuit.copy(), "two")
    expected = "sha256:" + hashlib.sha256(qasm3.dumps(circuit).encode()).hexdigest()
    assert first.template_id == second.template_id == expected
    assert first.parameter_names == ("a",)


def test_fixed_angles_and_parameter_names_change_id_not_topology() -> None:
    base = make_template(_circuit(0.3), "t")
    other_angle = make_template(_circuit(0.7), "t")
    other_name = make_template(_circuit(0.3, name="b"), "t")
    assert len({base.template_id, other_angle.template_id, other_name.template_id}) == 3
    assert base.topology_key == other_angle.topology_key == other_name.topology_key


def test_different_wiring_changes_topology() -> None:
    circuit = _circuit(0.3)
    flipped = QuantumCircuit(2)
    flipped.rx(0.3, 0)
    flipped.ry(Parameter("a"), 1)
    flipped.cx(1, 0)
    flipped.measure_all()
    assert topology_key_of(circuit) != topology_key_of(flipped)


def test_load_circuit_round_trips_and_observable(estimator_template) -> None:
    circuit = load_circuit(estimator_template)
    assert [p.name for p in circuit.parameters] == list(estimator_template.parameter_names)
    assert load_circuit(estimator_template) is circuit  # cached by id
    observable = observable_of(estimator_template)
    assert observable is not None
    expected = SparsePauliOp.from_list([("ZZI", 1.0), ("IXX", 0.5), ("ZII", -0.25)])
    assert observable.equiv(expected)
    assert check_template(estimator_template) is None


def test_check_template_refuses_a_forged_id(sampler_template) -> None:
    from dataclasses import replace

    forged = replace(sampler_template, template_id="sha256:" + "0" * 64)
    assert check_template(forged) is not None


# --- OpenQASM 3 is the circuit: the rules any producer, in any language, follows ---------------


def _hand_written(text: str = RY_CX, **overrides: object) -> CircuitTemplate:
    """A template as a producer without Qiskit writes it: text, its hash, no QPY."""
    fields: dict[str, object] = {
        "template_id": template_id_of(text),
        "name": "hand",
        "qasm3": text,
        "qpy": b"",
        "parameter_names": ("a", "b"),
        "num_qubits": 2,
        "topology_key": "topo:invented-by-the-producer",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        "observables": None,
    }
    fields.update(overrides)
    return CircuitTemplate(**fields)  # type: ignore[arg-type]


def _code(template: CircuitTemplate) -> ErrorCode:
    with pytest.raises(TemplateRejectedError) as caught:
        verify_template(template)
    return caught.value.code


def test_a_hand_written_qasm_template_is_trusted_with_the_topology_qloop_computes() -> None:
    trusted = verify_template(_hand_written())
    circuit = load_circuit(trusted)
    assert [i.operation.name for i in circuit.data].count("cx") == 1
    assert trusted.topology_key == topology_key_of(circuit) != "topo:invented-by-the-producer"
    respaced = RY_CX.replace("ry(b) q[1];", "ry(b)  q[1];")
    same_shape = _hand_written(respaced, template_id=template_id_of(respaced))
    assert same_shape.template_id != trusted.template_id
    assert verify_template(same_shape).topology_key == trusted.topology_key


def test_the_id_is_the_hash_of_the_text_as_sent() -> None:
    commented = RY_CX.replace("qubit[2] q;", "qubit[2] q; // a comment")
    assert template_id_of(commented) != template_id_of(RY_CX)  # documented: no normalisation
    assert _code(_hand_written(template_id=template_id_of(commented))) == (
        ErrorCode.TEMPLATE_ID_MISMATCH
    )


def test_a_qpy_of_another_circuit_is_refused() -> None:
    assert _code(_hand_written(qpy=qpy_of_ry_without_cx())) == ErrorCode.QPY_MISMATCH
    assert _code(_hand_written(qpy=b"not qpy")) == ErrorCode.QPY_MISMATCH


def test_a_matching_qpy_is_accepted() -> None:
    template = make_template(_circuit(0.3), "with-qpy")
    assert template.qpy
    assert verify_template(template) == template


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("OPENQASM 3.0;\nqubit[2] q;\nnot_a_gate q[0];\n", ErrorCode.INVALID_QASM),
        ("OPENQASM 3.0; qubit q; this is not qasm", ErrorCode.INVALID_QASM),
        (RY_CX.replace("input float[64] b;", "input int[32] b;"), ErrorCode.INVALID_QASM),
    ],
)
def test_bad_qasm_is_refused_with_its_code(text: str, code: ErrorCode) -> None:
    assert _code(_hand_written(text)) == code


def test_parameter_names_must_be_the_inputs_in_declaration_order() -> None:
    assert _code(_hand_written(parameter_names=("b", "a"))) == ErrorCode.INVALID_TEMPLATE
    assert _code(_hand_written(num_qubits=3)) == ErrorCode.INVALID_TEMPLATE


def test_values_bind_in_declaration_order_past_ten_parameters() -> None:
    """Qiskit sorts parameters by name (_t_10_ before _t_2_); updates follow the declaration."""
    theta = ParameterVector("t", 12)
    circuit = QuantumCircuit(2)
    for i, p in enumerate(theta):
        circuit.ry(p, i % 2)
        circuit.cx(i % 2, 1 - i % 2)
    template = make_template(circuit, "twelve")
    assert template.parameter_names == tuple(f"_t_{i}_" for i in range(12))
    values = np.linspace(0.1, 1.2, 12)
    loaded = load_circuit(template)
    by_name = {p.name: p for p in loaded.parameters}
    bound = loaded.assign_parameters(
        {by_name[n]: v for n, v in zip(template.parameter_names, values, strict=True)}
    )
    expected = circuit.assign_parameters(dict(zip(theta, values, strict=True)))
    assert Statevector(bound).equiv(Statevector(expected))


def test_intake_dead_letters_a_refused_registration_with_its_code_and_id() -> None:
    codec = AvroCodec()
    intake = Intake(codec, Limits())
    forged = _hand_written(qpy=b"junk")
    letter = intake.register(codec.encode(forged), SourceRef("t.templates", 0, 7))
    assert not isinstance(letter, CircuitTemplate)
    assert letter.error_code == ErrorCode.QPY_MISMATCH
    assert letter.stage == REGISTER
    assert forged.template_id in letter.error_message
    assert (letter.source_topic, letter.source_offset) == ("t.templates", 7)
    trusted = intake.register(codec.encode(_hand_written()), SourceRef("t.templates", 0, 8))
    assert isinstance(trusted, CircuitTemplate)
    assert trusted.topology_key.startswith("topo:")
    assert replace(trusted, topology_key="x") != trusted
