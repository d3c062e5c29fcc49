"""W3C trace context end to end: update headers -> worker -> result headers -> ClickHouse row."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer
from pipeline_support import sampler_circuit, wait_for_sink

from processors import make_template
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack
from streams.tracing import headers_of, trace_id_of, tracer

pytestmark = pytest.mark.integration


def test_a_result_message_and_row_continue_the_trace_of_the_update(stack: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="tr"), "traced")
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        with tracer().start_as_current_span("optimiser iteration") as parent:
            update = new_update(template, [0.4] * 4, experiment_id="trace", shots=32)
            (result,) = client.evaluate([update], 120)
    expected = f"{parent.get_span_context().trace_id:032x}"

    consumer = Consumer(
        {"bootstrap.servers": stack.settings.bootstrap, "group.id": "trace-reader",
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    consumer.subscribe([stack.topics.results])
    headers: dict[str, str] = {}
    for _ in range(60):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None and msg.key() == update.event_id.encode():
            headers = headers_of(msg.headers())
            break
    consumer.close()
    assert trace_id_of(headers) == expected  # the result continues the update's trace

    wait_for_sink(stack, [result.event_id])
    _cols, rows = query(
        stack.settings.dsn,
        "SELECT trace_id FROM qloop.results FINAL WHERE event_id = {e:String}",
        {"e": update.event_id},
    )
    assert rows == [(expected,)]
