"""The contract as another team sees it: a producer with no qloop code and no Qiskit.

The upstream service below knows only the README and ``schemas/*.avsc``: it writes OpenQASM 3 by
hand, hashes it for the template id, frames Avro with the Apache ``avro`` package and a canonical
form computed from the specification (:mod:`external_avro`), and talks to Kafka with a plain
confluent-kafka producer. qloop runs as a real worker and sink on the real broker.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, Producer
from external_avro import RY_CX, Contract
from pipeline_support import stack_settings, wait_for_sink, wait_idle, wait_until
from samples import qpy_of_ry_without_cx

from sinks import query
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

TEMPLATE = Contract("circuit_template.avsc")
UPDATE = Contract("parameter_update.avsc")
RESULT = Contract("job_result.avsc")
DEAD = Contract("dead_letter.avsc")

SHOTS = 4000
SECRET = "ghp_" + "Z9" * 18  # a GitHub-token-shaped string


def template_id(text: str) -> str:
    """The README's rule: sha256 of the UTF-8 bytes of the qasm3 field as sent."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def template(text: str, *, qpy: bytes = b"", forged_id: str | None = None) -> dict[str, object]:
    return {
        "template_id": forged_id or template_id(text),
        "name": "hand-written",
        "qasm3": text,
        "qpy": qpy,
        "parameter_names": ["a", "b"],
        "num_qubits": 2,
        "topology_key": "my-own-idea-of-a-topology",
        "observables": None,
        "created_at": datetime.now(UTC),
    }


def update(tid: str, a: float, b: float, *, tenant: str = "upstream") -> dict[str, object]:
    return {
        "event_id": f"ext-{uuid.uuid4().hex}",
        "experiment_id": "external",
        "iteration": 0,
        "tenant": tenant,
        "template_id": tid,
        "parameters": [a, b],
        "primitive": "SAMPLER",
        "shots": SHOTS,
        "precision": None,
        "backend": "aer_simulator",
        "priority": 0,
        "deadline": None,
        "seed": 11,
        "produced_at": datetime.now(UTC),
        "labels": {},
        "trace_context": {},
    }


def ideal(a: float, b: float) -> dict[str, float]:
    """RY(a) on q0, RY(b) on q1, CX q0->q1; keys are c[1]c[0] (qubit 0 rightmost)."""
    p0 = [np.cos(a / 2) ** 2, np.sin(a / 2) ** 2]
    p1 = [np.cos(b / 2) ** 2, np.sin(b / 2) ** 2]
    return {f"{y}{x}": p0[x] * p1[y ^ x] for x in (0, 1) for y in (0, 1)}


def tvd(counts: dict[str, int], expected: dict[str, float]) -> float:
    total = sum(counts.values())
    keys = set(counts) | set(expected)
    return 0.5 * sum(abs(counts.get(k, 0) / total - expected.get(k, 0.0)) for k in keys)


def consume(bootstrap: str, topic: str) -> list[tuple[str | None, bytes]]:
    """Every record of ``topic`` now, as (key, value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    records: list[tuple[str | None, bytes]] = []
    idle = 0
    while idle < 6:
        msg = consumer.poll(0.5)
        if msg is None:
            idle += 1
            continue
        if msg.error() is None and msg.value() is not None:
            idle = 0
            key = msg.key().decode() if msg.key() is not None else None
            records.append((key, msg.value()))
    consumer.close()
    return records


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap, tmp_path_factory.mktemp("open"), max_wait_ms=200, template_wait_ms=3_000
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_an_upstream_service_without_qloop_or_qiskit(stack: LocalStack, tmp_path: Path) -> None:
    bootstrap, topics = stack.settings.bootstrap, stack.topics
    # The QPY a Python colleague attached (made with Qiskit): the same wires without the CX.
    qpy_of_another_circuit = qpy_of_ry_without_cx()
    good = template(RY_CX)
    refused = {
        "invalid_qasm": template(RY_CX.replace("cx q[0], q[1];", "cx q[0] q[1]")),
        "qpy_mismatch": template(
            RY_CX.replace("bit[2] c;", "bit[2] c; "), qpy=qpy_of_another_circuit
        ),
        "template_id_mismatch": template(RY_CX, forged_id="sha256:" + "0" * 64),
    }
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for record in (good, *refused.values()):
        producer.produce(topics.templates, TEMPLATE.encode(record), key=str(record["template_id"]))
    angles = [(float(a), float(b)) for a, b in np.random.default_rng(3).uniform(0, np.pi, (20, 2))]
    updates = [update(str(good["template_id"]), a, b) for a, b in angles]
    leaked = update(str(good["template_id"]), 0.1, 0.2, tenant=SECRET)
    for record in (*updates, leaked):
        producer.produce(topics.updates, UPDATE.encode(record), key=str(record["template_id"]))
    assert producer.flush(30) == 0

    ids = [str(u["event_id"]) for u in updates]
    wait_for_sink(stack, ids, timeout_s=120)
    wait_idle(stack)

    # Exactly one correct result per update, read back with the Apache decoder.
    results = [RESULT.decode(v) for _k, v in consume(bootstrap, topics.results)]
    assert sorted(r["event_id"] for r in results) == sorted(ids)
    by_id = {r["event_id"]: r for r in results}
    for u, (a, b) in zip(updates, angles, strict=True):
        result = by_id[u["event_id"]]
        assert result["status"] == "SUCCEEDED", result["error_message"]
        assert sum(result["counts"].values()) == SHOTS
        assert tvd(result["counts"], ideal(a, b)) < 0.05  # shot noise at 4000 shots: ~0.01
        assert result["parameters"] == [a, b]
        assert result["topology_key"] != "my-own-idea-of-a-topology"  # qloop computed it

    # Each refused template is one dead letter, keyed by its id, with the code that names why.
    wait_until(
        lambda: len(consume(bootstrap, topics.dead_letters)) >= len(refused) + 1, 60, "dead letters"
    )
    letters = [(k, DEAD.decode(v)) for k, v in consume(bootstrap, topics.dead_letters)]
    registrations = {d["error_code"]: (k, d) for k, d in letters if d["stage"] == "register"}
    assert set(registrations) == set(refused)
    for code, record in refused.items():
        key, letter = registrations[code]
        assert key == record["template_id"]
        assert str(record["template_id"]) in letter["error_message"]
        assert letter["source_topic"] == topics.templates
    assert len([d for _k, d in letters if d["stage"] == "register"]) == len(refused)

    # The token-shaped tenant was refused, and is on no topic and in no table.
    (secret_letter,) = [d for _k, d in letters if d["event_id"] == leaked["event_id"]]
    assert secret_letter["error_code"] == "secret_in_payload"
    for topic in (topics.results, topics.jobs, topics.dead_letters, topics.ledger):
        assert not [v for _k, v in consume(bootstrap, topic) if SECRET.encode() in v], topic
    wait_until(
        lambda: _stored_dead_letters(stack, str(leaked["event_id"])) == 1, 60, "stored dead letter"
    )
    _cols, rows = query(
        stack.settings.dsn,
        "SELECT count() FROM qloop.dead_letters WHERE positionCaseInsensitive("
        "concat(ifNull(tenant, ''), error_message, raw_bytes), {s:String}) > 0",
        {"s": SECRET},
    )
    assert rows[0][0] == 0


def _stored_dead_letters(stack: LocalStack, event_id: str) -> int:
    _cols, rows = query(
        stack.settings.dsn,
        "SELECT count() FROM qloop.dead_letters WHERE event_id = {e:String}",
        {"e": event_id},
    )
    return int(rows[0][0])


def test_updates_for_an_unknown_template_do_not_stall_their_partition(stack: LocalStack) -> None:
    """100 updates for a template nobody registered, between good ones, on one partition.

    The good ones behind them must not wait for the unknown ones' template wait (3 s here): they
    are executed within the batching window plus a small margin, and the unknown ones are
    dead-lettered after their wait, with their offsets committed only then.
    """
    bootstrap, topics = stack.settings.bootstrap, stack.topics
    good = template(RY_CX.replace("qubit[2] q;", "qubit[2] q;\n"))
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topics.templates, TEMPLATE.encode(good), key=str(good["template_id"]))
    assert producer.flush(30) == 0
    warm = update(str(good["template_id"]), 0.3, 0.4)
    producer.produce(topics.updates, UPDATE.encode(warm), partition=0)
    assert producer.flush(30) == 0
    wait_for_sink(stack, [str(warm["event_id"])], timeout_s=120)

    unknown = "sha256:" + uuid.uuid4().hex * 2
    before = [update(str(good["template_id"]), 0.1 * i, 0.2) for i in range(10)]
    stuck = [update(unknown, 0.1, 0.2) for _ in range(100)]
    after = [update(str(good["template_id"]), 0.2, 0.1 * i) for i in range(10)]
    for record in (*before, *stuck, *after):
        producer.produce(topics.updates, UPDATE.encode(record), partition=0)
    assert producer.flush(30) == 0
    good_ids = [str(u["event_id"]) for u in (*before, *after)]
    wait_for_sink(stack, good_ids, timeout_s=120)
    wait_idle(stack)

    results = {
        r["event_id"]: r
        for r in (RESULT.decode(v) for _k, v in consume(bootstrap, topics.results))
        if r["event_id"] in set(good_ids)
    }
    letters = [DEAD.decode(v) for _k, v in consume(bootstrap, topics.dead_letters)]
    stuck_ids = {str(u["event_id"]) for u in stuck}
    parked = [d for d in letters if d["event_id"] in stuck_ids]
    assert len(parked) == 100
    assert {d["error_code"] for d in parked} == {"unknown_template"}
    latest_good = max(r["completed_at"] for r in results.values())
    first_given_up = min(d["occurred_at"] for d in parked)
    assert latest_good < first_given_up  # the good ones did not queue behind the wait
    waits = sorted(r["timings"]["end_to_end_ms"] for r in results.values())
    print(f"good updates behind 100 unknown: end-to-end max {waits[-1]:.0f} ms")
    # Bound: the batching window (200 ms) plus a margin for a loaded 2-core runner; the stall
    # this replaces was the 3 s template wait per unknown update, one after another.
    assert waits[-1] < 200 + 1_500
