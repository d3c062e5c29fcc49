"""The pipeline and its checkpoint on the in-memory ledger twin: order, duplicates, failures.

Real intake, batcher, executor and Aer backend; only the ledger store and the outbox are the
in-memory twins, which log every durable step in one ordered ``events`` list.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from qiskit.circuit.library import real_amplitudes

from processors import (
    BackendRegistry,
    BatchExecutor,
    BudgetLedger,
    CompileCache,
    Limits,
    TopologyBatcher,
    make_template,
)
from processors.batcher import Lane
from processors.intake import Intake
from schemas import AvroCodec, JobResult, ParameterUpdate, Primitive
from streams.kafka.topics import TopicNames
from streams.ledger.memory import EventLog, MemoryLedgerStore, MemoryOutbox
from streams.worker.pipeline import ProcessingPipeline
from streams.worker.routing import origin_of, topology_partition

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TOPICS = TopicNames("t.")
_ids = itertools.count()


def _template() -> Any:
    circuit = real_amplitudes(2, reps=1)
    circuit.measure_all()
    return make_template(circuit, "ra2", created_at=NOW)


TEMPLATE = _template()
CODEC = AvroCodec()


def _update(**overrides: Any) -> ParameterUpdate:
    fields: dict[str, Any] = {
        "event_id": f"ev-{next(_ids)}",
        "experiment_id": "exp",
        "iteration": 0,
        "tenant": "acme",
        "template_id": TEMPLATE.template_id,
        "parameters": tuple(0.1 * (i + 1) for i in range(len(TEMPLATE.parameter_names))),
        "primitive": Primitive.SAMPLER,
        "produced_at": NOW,
        "shots": 64,
        "seed": 7,
    }
    fields.update(overrides)
    return ParameterUpdate(**fields)


class _Logged:
    """A real backend that writes ``backend-run`` into the event log when it starts a job."""

    def __init__(self, inner: Any, log: EventLog) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def run_sampler(self, *args: Any, **kwargs: Any) -> Any:
        self._log.add("backend-run")
        return self._inner.run_sampler(*args, **kwargs)

    def run_estimator(self, *args: Any, **kwargs: Any) -> Any:
        self._log.add("backend-run")
        return self._inner.run_estimator(*args, **kwargs)


class Harness:
    """A pipeline on the twins; ``send`` feeds raw bytes, acks are logged as ``ack:<offset>``."""

    def __init__(
        self,
        *,
        max_batch: int = 3,
        store: MemoryLedgerStore | None = None,
        template_wait_s: float = 0.0,
        tenant_topics: bool = False,
    ) -> None:
        self.templates = {TEMPLATE.template_id: TEMPLATE}
        self.log = store.log if store is not None else EventLog()
        backends = BackendRegistry(["aer_simulator"])
        self.store = store or MemoryLedgerStore(self.log)
        self.outbox = MemoryOutbox(self.log)
        self.pipeline = ProcessingPipeline(
            intake=Intake(CODEC, Limits(), clock=lambda: NOW),
            templates=self.templates.get,
            batcher=TopologyBatcher(max_batch=max_batch, max_wait_s=60.0),
            executor=BatchExecutor(
                lambda name: _Logged(backends.get(name), self.log),
                CompileCache(),
                budget=BudgetLedger({}, log=self.store.claims),
                idempotency=self.store.idempotency,
            ),
            store=self.store,
            outbox=self.outbox,
            topics=TOPICS,
            max_in_flight=1,
            template_wait_s=template_wait_s,
            tenant_topics=tenant_topics,
        )

    def ack(self, offset: int) -> Callable[[], None]:
        return lambda: self.log.add(f"ack:{offset}")

    async def send(self, raw: bytes, offset: int) -> None:
        await self.pipeline.on_message(raw, "t.updates", 0, offset, self.ack(offset))

    def results(self) -> list[JobResult]:
        return self.outbox.records(TOPICS.results)

    def acked(self) -> list[int]:
        return [int(e.split(":")[1]) for e in self.log.events if e.startswith("ack:")]


def _run(harness: Harness, sends: list[tuple[bytes, int]], *, drain: bool = True) -> None:
    async def main() -> None:
        for raw, offset in sends:
            await harness.send(raw, offset)
        if drain:
            await harness.pipeline.drain()
        harness.pipeline.close()

    asyncio.run(main())


def test_a_batch_becomes_durable_in_checkpoint_order() -> None:
    h = Harness(max_batch=3)
    updates = [_update() for _ in range(3)]
    _run(h, [(CODEC.encode(u), i) for i, u in enumerate(updates)])
    log = h.log
    claim = log.index("claim:acme:3")
    charged = log.index("flush", claim)  # step 2: the claim is durable before the backend
    handed = log.index(f"publish:{TOPICS.jobs}", charged)  # step 3: announced at hand-off,
    ran = log.index("backend-run", handed)  # before the backend runs it
    published = log.index(f"publish:{TOPICS.results}", ran)
    delivered = log.index("outbox-flush", published)
    done = log.index("done:", delivered)  # step 7 waits for the broker's acks
    durable = log.index("flush", done)
    assert log.index("ack:", durable) > durable  # step 9: inputs acked last
    assert "ack:" not in "".join(log.events[:durable])
    assert sorted(h.acked()) == [0, 1, 2]
    assert sorted(r.event_id for r in h.results()) == sorted(u.event_id for u in updates)
    assert all(h.store.idempotency.is_done(u.event_id) for u in updates)
    assert len(h.outbox.records(TOPICS.jobs)) == 1  # one submission for the batch


class _LoggedLeases:
    """Group-wide slots on the event log: taken before the hand-off, freed after the run."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self.waited_s: dict[str, float] = {}

    def take(self, backend: str, interactive: bool = False) -> str | None:
        self._log.add(f"lease-take:{backend}" + (":interactive" if interactive else ""))
        return "lease-1"

    def free(self, backend: str, lease_id: str) -> None:
        self._log.add(f"lease-free:{backend}:{lease_id}")


def test_a_provider_slot_is_leased_after_the_charge_and_freed_after_the_run() -> None:
    store = MemoryLedgerStore()
    store.leases = _LoggedLeases(store.log)
    h = Harness(max_batch=3, store=store)
    _run(h, [(CODEC.encode(_update()), i) for i in range(3)])
    log = h.log
    charged = log.index("flush", log.index("claim:acme:3"))
    leased = log.index("lease-take:aer_simulator", charged)
    ran = log.index("backend-run", log.index(f"publish:{TOPICS.jobs}", leased))
    assert log.index("lease-free:aer_simulator:lease-1", ran) < log.index("ack:")
    assert sorted(h.acked()) == [0, 1, 2]
    # An interactive batch asks for a slot of the interactive lane's reserve.
    store = MemoryLedgerStore()
    store.leases = _LoggedLeases(store.log)
    h = Harness(max_batch=1, store=store)
    _run(h, [(CODEC.encode(_update(priority=3)), 0)])
    assert "lease-take:aer_simulator:interactive" in h.log.events


def test_an_interactive_set_runs_while_every_bulk_slot_is_taken() -> None:
    """A bulk backlog holds every bulk slot; the interactive lane still gets its own slot."""
    h = Harness(max_batch=1)

    async def main() -> None:
        bulk = h.pipeline._slot("aer_simulator", Lane.BULK)  # noqa: SLF001 - the backlog
        await bulk.acquire()  # a backlog holds the only bulk slot (max_in_flight=1)
        # The bulk agent's next batch waits for a slot (backpressure) ...
        stuck = asyncio.ensure_future(h.send(CODEC.encode(_update(priority=0)), 1))
        await asyncio.sleep(0.05)
        assert not stuck.done()
        # ... while the interactive agent's set is dispatched at once, and runs.
        await asyncio.wait_for(h.send(CODEC.encode(_update(priority=5)), 3), 30)
        for _ in range(3000):
            if h.acked():
                break
            await asyncio.sleep(0.01)
        assert h.acked() == [3] and not stuck.done()
        bulk.release()
        await stuck
        await h.pipeline.drain()
        h.pipeline.close()

    asyncio.run(main())
    assert sorted(h.acked()) == [1, 3]


def test_a_copy_redelivered_while_its_first_is_in_flight_waits_for_it() -> None:
    h = Harness(max_batch=1)
    raw = CODEC.encode(_update())
    _run(h, [(raw, 0), (raw, 1)])
    assert len(h.results()) == 1
    assert sorted(h.acked()) == [0, 1]  # the copy is acked when the first is done
    assert [e for e in h.log.events if e.startswith("claim:")] == ["claim:acme:1"]
    assert h.pipeline.stats.duplicates == 1


def test_a_delivery_error_republishes_and_acks_once() -> None:
    h = Harness(max_batch=2)
    h.outbox.fail_flushes = 1  # the first delivery is lost
    _run(h, [(CODEC.encode(_update()), i) for i in range(2)])
    failed = h.log.index("outbox-flush-failed")
    assert h.log.events[h.log.index("outbox-flush", failed + 1)] == "outbox-flush"
    assert h.log.index("publish:", failed) < h.log.index("done:")  # republished first
    assert len(h.results()) == 2 and sorted(h.acked()) == [0, 1]


def test_a_lasting_delivery_error_leaves_inputs_unacked_and_the_retry_is_free(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(max_batch=2)
    h.outbox.fail_flushes = 2  # the republish is lost too
    raws = [CODEC.encode(_update()) for _ in range(2)]
    with caplog.at_level(logging.ERROR):
        _run(h, [(raw, i) for i, raw in enumerate(raws)])
    assert h.acked() == [] and h.results() == []
    assert "inputs stay unacked" in caplog.text
    # Redelivered to a fresh worker over the same ledger: re-run, published, not charged again.
    again = Harness(max_batch=2, store=h.store.reopen())
    _run(again, [(raw, i) for i, raw in enumerate(raws)])
    assert len(again.results()) == 2 and sorted(again.acked()) == [0, 1]
    assert [e for e in h.log.events if e.startswith("claim:")] == ["claim:acme:2"]


def test_a_ledger_that_cannot_flush_stops_the_batch_before_the_backend() -> None:
    h = Harness(max_batch=2)
    h.store.fail_flushes = 1
    _run(h, [(CODEC.encode(_update()), i) for i in range(2)])
    assert h.outbox.delivered == [] and h.outbox.pending == []  # nothing ran or published
    assert h.acked() == []


@pytest.mark.parametrize("stale", [True, False])
def test_a_stale_batch_drops_what_another_worker_published(stale: bool) -> None:
    h = Harness(max_batch=3)
    h.pipeline.stale_after_s = -1.0 if stale else 3600.0
    updates = [_update() for _ in range(3)]
    h.store.elsewhere.add(updates[1].event_id)  # another worker published it meanwhile
    _run(h, [(CODEC.encode(u), i) for i, u in enumerate(updates)])
    published = {r.event_id for r in h.results()}
    assert (updates[1].event_id in published) is not stale
    assert len(published) == (2 if stale else 3)
    assert sorted(h.acked()) == [0, 1, 2]  # dropped or not, every input is done


def test_a_bad_input_is_dead_lettered_once_through_redelivery() -> None:
    h = Harness()

    async def main() -> None:
        await h.send(b"not avro", 5)
        await h.pipeline.tick()
        await h.send(b"not avro", 5)  # redelivered after a crash
        await h.pipeline.tick()
        h.pipeline.close()

    asyncio.run(main())
    (letter,) = h.outbox.records(TOPICS.dead_letters)
    assert letter.error_code == "deserialization_error" and letter.source_offset == 5
    log = h.log
    durable = log.index("flush", log.index("dead:t.updates:0:5", log.index("outbox-flush")))
    assert log.index("ack:5") > durable and h.acked() == [5, 5]


def test_a_secret_in_the_tenant_never_reaches_a_dead_letter() -> None:
    h = Harness()
    token = "ghp_" + "A1b2" * 10
    update = _update(tenant=f"acme {token}")

    async def main() -> None:
        await h.send(CODEC.encode(update), 3)
        await h.pipeline.tick()
        h.pipeline.close()

    asyncio.run(main())
    (letter,) = h.outbox.records(TOPICS.dead_letters)
    assert letter.error_code == "secret_in_payload"
    assert token not in (letter.tenant or "") and token.encode() not in letter.raw_bytes
    assert letter.tenant is not None and letter.tenant.startswith("acme ")


def test_updates_for_an_unknown_template_do_not_hold_up_their_partition() -> None:
    h = Harness(max_batch=1, template_wait_s=0.5)
    unknown = "sha256:" + "e" * 64
    sends = [(CODEC.encode(_update()), 0)]
    sends += [(CODEC.encode(_update(template_id=unknown)), i) for i in range(1, 101)]
    sends += [(CODEC.encode(_update()), 101)]
    _run(h, sends)
    events = h.log.events
    first_dead = h.log.index(f"publish:{TOPICS.dead_letters}")
    # Both good updates were executed and acked before the first unknown one gave up waiting.
    assert {"ack:0", "ack:101"} <= set(events[:first_dead])
    letters = h.outbox.records(TOPICS.dead_letters)
    assert len(letters) == 100
    assert {letter.error_code for letter in letters} == {"unknown_template"}
    assert sorted(h.acked()) == list(range(102))  # the parked ones too, once resolved
    assert len(h.results()) == 2
    assert len(h.pipeline.parking) == 0


def test_a_parked_update_resumes_when_its_template_arrives() -> None:
    h = Harness(max_batch=1, template_wait_s=5.0)
    late = make_template(real_amplitudes(2, reps=2).measure_all(inplace=False), "late")
    update = _update(
        template_id=late.template_id,
        parameters=tuple(0.1 for _ in late.parameter_names),
    )

    async def main() -> None:
        await h.send(CODEC.encode(update), 0)
        assert len(h.pipeline.parking) == 1
        assert h.acked() == []
        await asyncio.sleep(0.2)
        h.templates[late.template_id] = late
        await h.pipeline.drain()
        h.pipeline.close()

    asyncio.run(main())
    assert [r.event_id for r in h.results()] == [update.event_id]
    assert h.outbox.records(TOPICS.dead_letters) == []
    assert h.acked() == [0]


def test_hop_one_forwards_by_topology_and_hop_two_batches_templates_together() -> None:
    h = Harness(max_batch=4)
    twin = make_template(
        real_amplitudes(2, reps=1, parameter_prefix="φ").measure_all(inplace=False), "twin"
    )
    assert twin.template_id != TEMPLATE.template_id
    assert twin.topology_key == TEMPLATE.topology_key
    h.templates[twin.template_id] = twin
    updates = [_update(), _update(), _update(template_id=twin.template_id), _update()]
    bad = CODEC.encode(_update(parameters=(0.1,)))  # wrong count: refused at hop 1

    async def main() -> None:
        for offset, u in enumerate(updates):
            await h.pipeline.on_input(CODEC.encode(u), "t.updates", 0, offset, h.ack(offset))
        await h.pipeline.on_input(bad, "t.updates", 0, 9, h.ack(9))
        assert h.results() == [] and h.acked() == []  # nothing acked before the broker has it
        await h.pipeline.tick()
        forwarded = [(k, v) for t, k, v in h.outbox.delivered if t == TOPICS.by_topology]
        assert [k for k, _v in forwarded] == [TEMPLATE.topology_key] * 4
        assert sorted(h.acked()) == [0, 1, 2, 3, 9]
        origins = [origin_of(headers) for headers in h.outbox.headers]
        assert [o.offset for o in origins if o] == [0, 1, 2, 3]
        # Hop 2: the routed partition's worker batches both templates into one submission.
        for offset, ((_key, raw), origin) in enumerate(zip(forwarded, origins, strict=True)):
            await h.pipeline.on_message(
                raw, TOPICS.by_topology, 0, offset, h.ack(100 + offset), origin
            )
        await h.pipeline.drain()
        # A conflicting copy of a done event: its dead letter names the input, not the copy.
        clash = CODEC.encode(replace(updates[0], parameters=(0.9,) * len(TEMPLATE.parameter_names)))
        await h.pipeline.on_input(clash, "t.updates", 0, 20, h.ack(20))
        await h.pipeline.tick()
        copy = [v for t, _k, v in h.outbox.delivered if t == TOPICS.by_topology][-1]
        origin = origin_of(h.outbox.headers[-1])
        await h.pipeline.on_message(copy, TOPICS.by_topology, 0, 4, h.ack(104), origin)
        await h.pipeline.drain()
        h.pipeline.close()

    asyncio.run(main())
    letters = h.outbox.records(TOPICS.dead_letters)
    assert [(d.error_code, d.source_topic, d.source_offset) for d in letters] == [
        ("parameter_count_mismatch", "t.updates", 9),
        ("idempotency_key_conflict", "t.updates", 20),
    ]
    (job,) = h.outbox.records(TOPICS.jobs)
    assert set(job.template_ids) == {TEMPLATE.template_id, twin.template_id}
    assert sorted(r.event_id for r in h.results()) == sorted(u.event_id for u in updates)


def test_hop_one_batches_a_bulk_set_itself_when_it_owns_the_topology_partition() -> None:
    """The shortcut: no forward when the topology's hop-2 partition is this worker's.

    Interactive sets still take their lane's hop; owning another partition changes nothing.
    """
    h = Harness(max_batch=2)
    mine = topology_partition(TEMPLATE.topology_key, 8)
    bulk = [_update(), _update()]
    urgent = _update(priority=5)

    async def main() -> None:
        h.pipeline.shortcut.assign([(mine + 1) % 8], 8)  # another partition: still forwarded
        await h.pipeline.on_input(CODEC.encode(bulk[0]), "t.updates", 0, 0, h.ack(0))
        await h.pipeline.tick()
        assert [t for t, _k, _v in h.outbox.delivered] == [TOPICS.by_topology]
        h.pipeline.shortcut.assign([mine], 8)
        await h.pipeline.on_input(CODEC.encode(urgent), "t.updates", 0, 1, h.ack(1))
        for offset, u in enumerate(bulk, start=2):
            await h.pipeline.on_input(CODEC.encode(u), "t.updates", 0, offset, h.ack(offset))
        await h.pipeline.drain()
        h.pipeline.close()

    asyncio.run(main())
    hops = [t for t, _k, _v in h.outbox.delivered if t.startswith("t.updates")]
    assert hops == [TOPICS.by_topology, TOPICS.by_topology_interactive]
    assert (h.pipeline.stats.routed, h.pipeline.stats.shortcuts) == (2, 2)
    # Both bulk copies were batched at entry, acked on their input offsets; the first one's
    # forwarded copy is a duplicate of work now done, for hop 2 to drop.
    assert sorted(r.event_id for r in h.results()) == sorted({u.event_id for u in bulk})
    assert sorted(h.acked()) == [0, 1, 2, 3]
    h.pipeline.shortcut.clear()
    assert not h.pipeline.shortcut.owns(TEMPLATE.topology_key)
    h.pipeline.shortcut.assign([mine], 0)  # the partition count could not be read
    assert not h.pipeline.shortcut.owns(TEMPLATE.topology_key)


def test_a_validate_stage_dead_letter_names_the_writer_schema() -> None:
    h = Harness()
    raw = CODEC.encode(_update(shots=0))
    _run(h, [(raw, 0)])
    (letter,) = h.outbox.records(TOPICS.dead_letters)
    assert (letter.stage, letter.error_code) == ("validate", "shots_out_of_range")
    assert letter.schema_fingerprint == raw[2:10].hex()


def test_multi_tenant_the_topic_names_the_tenant_and_its_results_topic() -> None:
    h = Harness(max_batch=1, tenant_topics=True)
    own, posing = _update(tenant="acme"), _update(tenant="globex")
    assert TOPICS.tenant_of(TOPICS.tenant_updates("acme")) == "acme"
    assert TOPICS.tenant_of(TOPICS.updates) is None

    async def main() -> None:
        for offset, update in enumerate((own, posing)):
            topic = TOPICS.tenant_updates("acme")
            await h.pipeline.on_message(CODEC.encode(update), topic, 0, offset, h.ack(offset))
        await h.pipeline.drain()
        h.pipeline.close()

    asyncio.run(main())
    (result,) = h.outbox.records(TOPICS.tenant_results("acme"))
    assert result.event_id == own.event_id
    assert h.outbox.records(TOPICS.results) == []
    (letter,) = h.outbox.records(TOPICS.dead_letters)
    assert (letter.error_code, letter.event_id) == ("tenant_not_allowed", posing.event_id)
    assert [e for e in h.log.events if e.startswith("claim:")] == ["claim:acme:1"]


def test_the_worker_logs_one_json_line_per_batch_with_its_job_and_sizes() -> None:
    import io
    import json
    import logging as stdlib_logging

    import structlog

    from streams.logs import configure_logging
    from streams.worker.stats import events

    root = stdlib_logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    try:
        configure_logging("INFO", "json", stream=out)
        h = Harness(max_batch=3)
        _run(h, [(CODEC.encode(_update()), i) for i in range(3)])
        secret = "ghp_" + "Q7" * 18
        events.info("note", detail=f"token={secret}")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    (batch,) = [line for line in lines if line["event"] == "batch settled"]
    (job,) = h.outbox.records(TOPICS.jobs)
    assert batch["job_id"] == job.job_id
    assert (batch["sets"], batch["results"], batch["backend"]) == (3, 3, "aer_simulator")
    assert batch["level"] == "info" and "timestamp" in batch
    (note,) = [line for line in lines if line["event"] == "note"]
    assert "*" in note["detail"] and secret not in out.getvalue()  # masked, like dead letters


def _span_exporter() -> Any:
    """An in-memory exporter on the process's SDK tracer provider (installed if none yet)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from streams.tracing import configure_tracing

    configure_tracing()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_a_result_continues_the_trace_of_its_update() -> None:
    from opentelemetry import trace

    from streams.tracing import inject, trace_id_of, tracer

    exporter = _span_exporter()
    with tracer().start_as_current_span("upstream optimiser") as parent:
        traced = _update(trace_context=inject())
    h = Harness(max_batch=2)
    untraced = _update()
    _run(h, [(CODEC.encode(traced), 0), (CODEC.encode(untraced), 1)])
    carrier = h.outbox.record_headers[(TOPICS.results, traced.event_id)]
    expected = f"{parent.get_span_context().trace_id:032x}"
    assert trace_id_of(carrier) == expected
    spans = {s.name: s for s in exporter.get_finished_spans()}
    sets = [s for s in exporter.get_finished_spans() if s.name == "qloop.set"]
    mine = next(s for s in sets if s.attributes["qloop.event_id"] == traced.event_id)
    assert mine.parent is not None and mine.parent.span_id == parent.get_span_context().span_id
    batch = spans["qloop.batch"]
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in sets}
    for step in ("qloop.admit", "qloop.execute", "qloop.publish"):
        assert spans[step].parent is not None
        assert spans[step].parent.span_id == batch.context.span_id
    # An update without context still gets a trace of its own, carried by its result.
    other = h.outbox.record_headers[(TOPICS.results, untraced.event_id)]
    assert trace_id_of(other) not in ("", expected)
    assert trace.get_current_span().get_span_context().is_valid is False
