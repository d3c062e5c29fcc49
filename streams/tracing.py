"""W3C trace context through Kafka: the SDK starts a trace per set, the worker continues it.

The client starts a span per submitted set and writes its context (``traceparent``,
``tracestate``) into the Kafka headers and into ``ParameterUpdate.trace_context`` (the payload
copy survives the topology hop, whose forwarded bytes are the producer's). The worker opens a
span per set as a child of that context and a span per batch linked to its sets; each result is
published with its set's context in its headers, and the sink stores the ``trace_id`` in
``qloop.results``, so a slow set can be found in ClickHouse and in a tracing UI alike.

Spans are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, otherwise nowhere;
trace ids are made either way, so the context still travels. When qloop's own provider has no
span processor (nothing would receive a span), the per-set spans are not made at all: a result
then carries its update's own context, and a set sent without one gets a fresh trace id. Making
spans nobody receives was a fifth of the worker's main thread per set (measured with py-spy).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from schemas import ParameterUpdate

log = logging.getLogger(__name__)
_PROPAGATOR = TraceContextTextMapPropagator()
_configured = threading.Lock()
_done = False


class _QloopProvider(TracerProvider):
    """The SDK provider qloop installs; it knows whether any span it makes goes anywhere."""

    processors = 0

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Add ``span_processor`` (an exporter, a test's in-memory one) and count it."""
        self.processors += 1
        super().add_span_processor(span_processor)


_IDS = RandomIdGenerator()


def recording() -> bool:
    """Whether spans made now reach a processor; only then are per-set spans worth making.

    True under a provider the application installed (it decides), False under qloop's own
    provider until something is added to it.
    """
    provider = trace.get_tracer_provider()
    return not isinstance(provider, _QloopProvider) or provider.processors > 0


def fresh_carrier() -> dict[str, str]:
    """A new trace's context (sampled), for a set that arrives with none."""
    trace_id, span_id = _IDS.generate_trace_id(), _IDS.generate_span_id()
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-01"}


def configure_tracing() -> None:
    """Install an SDK tracer provider once per process (OTLP export if configured)."""
    global _done  # noqa: PLW0603 - one provider per process, set once
    with _configured:
        if _done:
            return
        _done = True
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return  # the application configured its own
        provider = _QloopProvider()
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            except ImportError:
                log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but no OTLP exporter is installed")
        trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    """Qloop's tracer."""
    return trace.get_tracer("qloop")


def inject(context: Context | None = None) -> dict[str, str]:
    """The ``traceparent``/``tracestate`` carrier of ``context`` (the current one by default)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(carrier: Mapping[str, Any] | None) -> Context:
    """The context a carrier (payload map or decoded headers) names; empty when none."""
    return _PROPAGATOR.extract(dict(carrier or {}))


def headers_of(raw: Any) -> dict[str, str]:
    """Kafka headers (a list of pairs, or a mapping) as the string map the propagator reads."""
    items = raw.items() if isinstance(raw, Mapping) else raw or []
    return {
        k: v.decode("latin-1") if isinstance(v, bytes | bytearray) else str(v)
        for k, v in items
        if v is not None
    }


@contextmanager
def traced_batch(updates: Sequence[ParameterUpdate]) -> Iterator[dict[str, dict[str, str]]]:
    """Spans for one batch; yields each set's carrier (event id -> headers) for its result.

    A ``qloop.set`` span per set, child of its update's context, and a ``qloop.batch`` span
    linking them, current while the batch settles (its steps are its children).
    """
    spans = tracer()
    if not recording():  # nobody receives the sets' spans: results continue their updates'
        with spans.start_as_current_span("qloop.batch", attributes={"qloop.sets": len(updates)}):
            yield {u.event_id: _own_or_fresh(u.trace_context) for u in updates}
        return
    sets = [
        spans.start_span(
            "qloop.set",
            context=extract(u.trace_context),
            kind=trace.SpanKind.CONSUMER,
            attributes={"qloop.event_id": u.event_id, "qloop.tenant": u.tenant},
        )
        for u in updates
    ]
    links = [trace.Link(s.get_span_context()) for s in sets]
    try:
        with spans.start_as_current_span(
            "qloop.batch", links=links, attributes={"qloop.sets": len(sets)}
        ):
            yield {
                u.event_id: inject(trace.set_span_in_context(s))
                for u, s in zip(updates, sets, strict=True)
            }
    finally:
        for span in sets:
            span.end()


def _own_or_fresh(carrier: Mapping[str, str]) -> dict[str, str]:
    own = {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}
    return own if "traceparent" in own else fresh_carrier()


def trace_id_of(carrier: Mapping[str, Any] | None) -> str:
    """The 32-hex-digit trace id a carrier names, or "" when it names none."""
    context = trace.get_current_span(extract(carrier)).get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


__all__ = [
    "configure_tracing",
    "extract",
    "fresh_carrier",
    "headers_of",
    "inject",
    "recording",
    "trace_id_of",
    "traced_batch",
    "tracer",
]
