import hashlib

from qiskit import qasm3
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors import check_template, load_circuit, make_template, observable_of
from processors.templates import topology_key_of


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
