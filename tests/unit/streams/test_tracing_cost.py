"""Per-set spans are made only when something receives them; the context travels either way."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from samples import parameter_update

from streams import tracing
from streams.tracing import _QloopProvider, fresh_carrier, trace_id_of, traced_batch


def test_qloops_provider_records_once_a_processor_is_added() -> None:
    provider = _QloopProvider()
    assert provider.processors == 0
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert provider.processors == 1


def test_without_a_receiver_a_result_continues_its_update_or_starts_a_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "recording", lambda: False)
    parent = fresh_carrier()
    traced = parameter_update(trace_context={**parent, "baggage": "not a trace header"})
    bare = parameter_update(event_id="ev-2", trace_context={})
    with traced_batch([traced, bare]) as carriers:
        pass
    assert carriers[traced.event_id] == parent  # the update's own context, W3C keys only
    fresh = carriers[bare.event_id]
    assert trace_id_of(fresh) not in ("", trace_id_of(parent))
    assert fresh["traceparent"].endswith("-01")  # sampled: a tracing backend may keep it
