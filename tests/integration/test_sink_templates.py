"""Templates are stored, so every stored result joins to the circuit that ran, without Kafka."""

from __future__ import annotations

import pytest
from pipeline_support import sampler_circuit, wait_for_sink, wait_until
from qiskit.quantum_info import SparsePauliOp

from processors import make_template
from schemas import Primitive
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_a_result_joins_to_its_stored_template(stack: LocalStack) -> None:
    observable = SparsePauliOp.from_list([("ZI", 1.0), ("XX", -0.5)])
    template = make_template(
        sampler_circuit(2, prefix="j").remove_final_measurements(inplace=False),
        "joined",
        observable,
    )
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        update = new_update(template, [0.3] * 4, experiment_id="join",
                            primitive=Primitive.ESTIMATOR)  # fmt: skip
        client.evaluate([update], 120)
    wait_for_sink(stack, [update.event_id])

    def stored() -> list[tuple[object, ...]]:
        return query(
            stack.settings.dsn,
            "SELECT t.qasm3, t.parameter_names, t.observables, t.topology_key "
            "FROM qloop.results AS r FINAL INNER JOIN qloop.templates AS t FINAL "
            "ON t.template_id = r.template_id WHERE r.event_id = {e:String}",
            {"e": update.event_id},
        )[1]

    wait_until(lambda: bool(stored()), 60, "the template row")
    ((qasm3, names, terms, topology),) = stored()
    assert qasm3 == template.qasm3
    assert list(names) == list(template.parameter_names)
    # A named tuple reads back as a mapping through clickhouse-connect.
    read = [(t["pauli"], t["coeff"]) if isinstance(t, dict) else tuple(t) for t in terms]
    assert read == [(t.pauli, t.coeff) for t in template.observables or ()]
    assert topology == template.topology_key
