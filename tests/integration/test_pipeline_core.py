"""The processing core on the real broker: batching, compile once, seeds, dead letters, budgets.

One worker subprocess and one in-process ClickHouse sink serve the whole module (starting a
worker costs seconds); each test uses its own templates, experiment and event ids, so tests
stay independent while sharing topics.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from confluent_kafka import Producer
from pipeline_support import (
    read_records,
    read_topic,
    sampler_circuit,
    sink_counts,
    stack_settings,
    su2_circuit,
    wait_for_sink,
    wait_idle,
    wait_until,
)
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator
from samples import all_samples

from processors import AerAdapter, CompileCache, load_circuit, make_template, observable_of
from schemas import (
    AvroCodec,
    CompileRecord,
    DeadLetter,
    ErrorCode,
    JobResult,
    JobSubmitted,
    Primitive,
    ResultStatus,
)
from schemas.contracts import contract_for
from schemas.framing import SINGLE_OBJECT_MAGIC
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

MAX_BATCH = 100
MAX_WAIT_MS = 300
MAX_SHOTS = 10_000
MAX_MESSAGE_BYTES = 8_192
BUDGET_SHOTS = 1_000

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path_factory.mktemp("core"),
        max_batch=MAX_BATCH,
        max_wait_ms=MAX_WAIT_MS,
        max_shots=MAX_SHOTS,
        max_message_bytes=MAX_MESSAGE_BYTES,
        template_wait_ms=1_500,
        budgets={"capped": {"shots": BUDGET_SHOTS}},
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


@pytest.fixture
def client(stack: LocalStack) -> Iterator[QloopClient]:
    with QloopClient(stack.settings) as qloop:
        yield qloop


def test_thousand_updates_batched_compiled_once(stack: LocalStack, client: QloopClient) -> None:
    bootstrap = stack.settings.bootstrap
    first = make_template(sampler_circuit(4, prefix="a"), "ra4-a")
    renamed = make_template(sampler_circuit(4, prefix="b"), "ra4-b")  # same shape, new names
    other = make_template(su2_circuit(3), "su2-3")
    assert first.topology_key == renamed.topology_key != other.topology_key
    templates = (first, renamed, other)
    for template in templates:
        client.register_template(template)
    rng = np.random.default_rng(1)
    experiment = f"thousand-{uuid.uuid4().hex[:8]}"
    updates = [
        new_update(
            t,
            rng.uniform(0, np.pi, len(t.parameter_names)),
            experiment_id=experiment,
            iteration=i,
            shots=64,
        )
        for i, t in enumerate(templates[i % 3] for i in range(1000))
    ]
    ids = [u.event_id for u in updates]

    started = time.monotonic()
    futures = client.submit(updates)
    produce_s = time.monotonic() - started
    results = [futures[i].result(120) for i in ids]
    elapsed = time.monotonic() - started

    assert [r.event_id for r in results] == ids
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    assert all(sum(r.counts.values()) == 64 for r in results if r.counts is not None)
    wait_idle(stack)
    wanted = set(ids)
    on_topic = Counter(
        r.event_id
        for r in read_records(bootstrap, stack.topics.results, JobResult)
        if r.event_id in wanted
    )
    assert len(on_topic) == 1000 and set(on_topic.values()) == {1}

    jobs = [
        j
        for j in read_records(bootstrap, stack.topics.jobs, JobSubmitted)
        if wanted.intersection(j.event_ids)
    ]
    assert sum(j.num_parameter_sets for j in jobs) == 1000
    # A batch closes by size (exactly MAX_BATCH sets) or by age; one backend and one primitive
    # means one open batch at a time, and a batch closes by age only when the input ran dry for
    # MAX_WAIT: at most once per MAX_WAIT while the client was producing, plus the tail.
    by_age_bound = math.ceil(produce_s / (MAX_WAIT_MS / 1000)) + 1
    bound = math.ceil(1000 / MAX_BATCH) + by_age_bound
    sizes = sorted((j.num_parameter_sets for j in jobs), reverse=True)
    print(
        f"\n1000 updates: {len(jobs)} jobs (bound {bound}), sizes {sizes}, "
        f"produce {produce_s:.2f}s, results after {elapsed:.2f}s ({1000 / elapsed:.0f} sets/s)"
    )
    assert len(jobs) <= bound and len(jobs) <= 25
    assert all(len(j.template_ids) >= 1 for j in jobs)

    template_ids = {t.template_id for t in templates}
    compiles = [
        c
        for c in read_records(bootstrap, stack.topics.compilations, CompileRecord)
        if c.template_id in template_ids
    ]
    assert sorted((c.template_id, c.backend) for c in compiles) == sorted(
        (t, "aer_simulator") for t in template_ids
    )

    wait_for_sink(stack, ids)
    final, distinct, plain = sink_counts(stack, ids)
    assert final == distinct == plain == 1000

    def compiled_rows() -> int:
        _c, rows = query(
            stack.settings.dsn,
            "SELECT count() FROM qloop.compilations WHERE template_id IN {t:Array(String)}",
            {"t": sorted(template_ids)},
        )
        return int(rows[0][0])

    wait_until(lambda: compiled_rows() >= 3, 30, "compile records in ClickHouse")
    assert compiled_rows() == 3


def test_seeded_results_equal_direct_qiskit(client: QloopClient) -> None:
    sampler = make_template(sampler_circuit(3, reps=2, prefix="s"), "ra3-r2-seeded")
    observable = SparsePauliOp.from_list([("ZZI", 1.0), ("IXX", 0.5), ("ZII", -0.25)])
    estimator = make_template(
        real_amplitudes(3, reps=1, parameter_prefix="e"), "ra3-est", observable
    )
    client.register_template(sampler)
    client.register_template(estimator)
    rng = np.random.default_rng(5)
    experiment = f"seeded-{uuid.uuid4().hex[:8]}"
    sampled = [
        new_update(
            sampler,
            rng.uniform(0, np.pi, len(sampler.parameter_names)),
            experiment_id=experiment,
            shots=500,
            seed=1000 + k,
        )
        for k in range(6)
    ]
    unseeded = [
        new_update(sampler, rng.uniform(0, np.pi, 9), experiment_id=experiment, shots=300)
        for _ in range(4)
    ]
    estimated = [
        new_update(
            estimator,
            rng.uniform(-2, 2, len(estimator.parameter_names)),
            experiment_id=experiment,
            primitive=Primitive.ESTIMATOR,
        )
        for _ in range(5)
    ]
    results = {r.event_id: r for r in client.evaluate(sampled + unseeded + estimated, 90)}

    # The reference: the same transpiled circuit (same transpiler settings and seed) on Aer.
    backend, cache = AerAdapter(), CompileCache()
    compiled = cache.get(sampler, backend).circuit
    order = [sampler.parameter_names.index(p.name) for p in compiled.parameters]
    for update in sampled + unseeded:
        result = results[update.event_id]
        assert result.status is ResultStatus.SUCCEEDED
        seed = result.reproducibility.seed_simulator
        if update.seed is not None:
            assert seed == update.seed
        bound = compiled.assign_parameters([update.parameters[i] for i in order])
        reference = (
            AerSimulator().run(bound, shots=update.shots, seed_simulator=seed).result().get_counts()
        )
        assert result.counts == reference, update.event_id
        assert result.reproducibility.seed_transpiler == cache.settings.seed_transpiler

    values = np.array([u.parameters for u in estimated])
    reference_evs = (
        StatevectorEstimator()
        .run([(load_circuit(estimator), observable_of(estimator), values)])
        .result()[0]
        .data.evs
    )
    got = [results[u.event_id].expectation_values[0] for u in estimated]
    np.testing.assert_allclose(got, reference_evs, rtol=0, atol=1e-9)
    assert all(results[u.event_id].standard_errors == (0.0,) for u in estimated)


def test_every_bad_input_is_one_dead_letter_and_later_input_flows(
    stack: LocalStack, client: QloopClient
) -> None:
    bootstrap, topics = stack.settings.bootstrap, stack.topics
    codec = AvroCodec()
    template = make_template(sampler_circuit(2, prefix="d"), "ra2-dlq")
    client.register_template(template)
    experiment = f"dlq-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def update(**changes: object) -> bytes:
        good = new_update(template, [0.1, 0.2, 0.3, 0.4], experiment_id=experiment, shots=32)
        return codec.encode(replace(good, **changes))  # type: ignore[arg-type]

    valid = codec.encode(new_update(template, [0.1] * 4, experiment_id=experiment, shots=32))
    contract = contract_for(type(new_update(template, [0.0] * 4, experiment_id="x")))
    secret = "ghp_" + "A1b2C3d4E5" * 4
    job_result = next(s for s in all_samples() if isinstance(s, JobResult))
    unknown_fingerprint = SINGLE_OBJECT_MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + valid[10:]
    assert contract.fingerprint != unknown_fingerprint[2:10]

    # The idempotency conflict needs an executed event first.
    executed = new_update(template, [0.5] * 4, experiment_id=experiment, shots=32)
    assert client.evaluate([executed], 60)[0].status is ResultStatus.SUCCEEDED

    bad: list[tuple[str, bytes]] = [
        (ErrorCode.DESERIALIZATION_ERROR, b"definitely not avro \x00\xff"),
        (ErrorCode.DESERIALIZATION_ERROR, valid[:-7]),  # truncated body
        (ErrorCode.UNKNOWN_SCHEMA, unknown_fingerprint),
        (ErrorCode.SCHEMA_RESOLUTION_ERROR, codec.encode(job_result)),  # another record type
        (ErrorCode.NON_FINITE_PARAMETER, update(parameters=(0.1, math.nan, 0.3, 0.4))),
        (ErrorCode.NON_FINITE_PARAMETER, update(parameters=(0.1, 0.2, -math.inf, 0.4))),
        (ErrorCode.SHOTS_OUT_OF_RANGE, update(shots=0)),
        (ErrorCode.SHOTS_OUT_OF_RANGE, update(shots=-5)),
        (ErrorCode.SHOTS_OUT_OF_RANGE, update(shots=MAX_SHOTS + 1)),
        (ErrorCode.MESSAGE_TOO_LARGE, update(labels={"blob": "x" * MAX_MESSAGE_BYTES})),
        (ErrorCode.TIMESTAMP_IN_FUTURE, update(produced_at=now + timedelta(hours=1))),
        (ErrorCode.EXPIRED, update(produced_at=now - timedelta(days=2))),
        (ErrorCode.MISSING_TENANT, update(tenant="")),
        (ErrorCode.SECRET_IN_PAYLOAD, update(labels={"note": f"token={secret}"})),
        (ErrorCode.PARAMETER_COUNT_MISMATCH, update(parameters=(0.1, 0.2))),
        (ErrorCode.UNKNOWN_TEMPLATE, update(template_id="sha256:" + "0" * 64)),
        (ErrorCode.BACKEND_NOT_ALLOWED, update(backend="ibm_unlisted_machine")),
        (
            ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
            codec.encode(replace(executed, parameters=(0.6, 0.5, 0.5, 0.5))),
        ),
    ]
    assert secret.encode() in bad[13][1]
    delivered: dict[tuple[int, int], str] = {}
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def on_delivery(code: str) -> object:
        def record(err: object, msg: object) -> None:
            assert err is None, err
            delivered[(msg.partition(), msg.offset())] = code  # type: ignore[attr-defined]

        return record

    assert read_topic(bootstrap, topics.dead_letters) == []
    for code, raw in bad:
        producer.produce(
            topics.updates, key=template.template_id, value=raw, on_delivery=on_delivery(code)
        )
    assert producer.flush(30) == 0 and len(delivered) == len(bad)
    later = [
        new_update(template, [0.2 * k, 0.1, 0.3, 0.4], experiment_id=experiment, shots=32)
        for k in range(10)
    ]
    later_results = client.evaluate(later, 60)
    assert all(r.status is ResultStatus.SUCCEEDED for r in later_results)

    wait_idle(stack)
    letters = [
        (p, o, letter)
        for p, o, letter in read_topic(
            bootstrap, topics.dead_letters, lambda b: codec.decode(DeadLetter, b)
        )
    ]
    by_source: dict[tuple[int, int], list[DeadLetter]] = {}
    for _p, _o, letter in letters:
        assert letter.source_topic == topics.updates
        by_source.setdefault((letter.source_partition, letter.source_offset), []).append(letter)
    assert len(letters) == len(bad), Counter(x.error_code for _p, _o, x in letters)
    for source, code in delivered.items():
        (letter,) = by_source[source]
        assert letter.error_code == code, (source, letter.error_message)
        assert secret.encode() not in letter.raw_bytes
    conflict = next(x for x in by_source.values() if x[0].error_code == "idempotency_key_conflict")
    assert conflict[0].event_id == executed.event_id
    secret_letters = [x[0] for x in by_source.values() if x[0].error_code == "secret_in_payload"]
    assert secret_letters and all(b"****" in x.raw_bytes for x in secret_letters)

    # No result for any bad input; exactly one for each valid one (the executed one included).
    results = Counter(
        r.event_id
        for r in read_records(bootstrap, topics.results, JobResult)
        if r.experiment_id == experiment
    )
    assert results == Counter({u.event_id: 1 for u in [executed, *later]})


def test_budget_lets_exactly_the_affordable_sets_through(
    stack: LocalStack, client: QloopClient
) -> None:
    template = make_template(sampler_circuit(2, reps=2, prefix="b"), "ra2-budget")
    client.register_template(template)
    experiment = f"budget-{uuid.uuid4().hex[:8]}"
    shots = 150
    updates = [
        new_update(
            template,
            [0.1 * k] * len(template.parameter_names),
            experiment_id=experiment,
            tenant="capped",
            shots=shots,
        )
        for k in range(20)
    ]
    results = client.evaluate(updates, 60)
    by_status = Counter(r.status for r in results)
    affordable = BUDGET_SHOTS // shots
    assert by_status == {
        ResultStatus.SUCCEEDED: affordable,
        ResultStatus.BUDGET_EXCEEDED: len(updates) - affordable,
    }
    executed_shots = sum(r.shots for r in results if r.status is ResultStatus.SUCCEEDED)
    assert executed_shots == affordable * shots <= BUDGET_SHOTS
    assert all(
        r.error_code == ErrorCode.BUDGET_EXCEEDED and r.job_id is None
        for r in results
        if r.status is ResultStatus.BUDGET_EXCEEDED
    )
    # The remainder (BUDGET_SHOTS - 900 = 100 shots) buys exactly two sets of 50, in order.
    rest = [
        new_update(template, [0.3 * k] * 6, experiment_id=experiment, tenant="capped", shots=50)
        for k in range(3)
    ]
    assert [r.status for r in client.evaluate(rest, 60)] == [
        ResultStatus.SUCCEEDED,
        ResultStatus.SUCCEEDED,
        ResultStatus.BUDGET_EXCEEDED,
    ]
    jobs = read_records(stack.settings.bootstrap, stack.topics.jobs, JobSubmitted)
    assert sum(j.total_shots for j in jobs if "capped" in j.tenants) == BUDGET_SHOTS
