"""The qloop client for upstream and downstream services.

Upstream: register templates and submit parameter sets (idempotent producer, ``acks=all``,
keyed by template id so one topology lands on one worker). Downstream: receive the results of
an experiment, matched by event id, with timeouts. :class:`QloopClient` blocks;
:class:`AsyncQloopClient` returns awaitables. Results are read from the partitions' ends as
they were when the client started, so start the client before submitting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from opentelemetry.trace import SpanKind

from schemas import (
    Approval,
    ApprovalStatus,
    CircuitTemplate,
    ExperimentCheckpoint,
    JobResult,
    ParameterUpdate,
    Primitive,
)
from streams.config import Settings
from streams.kafka import approvals
from streams.kafka.checkpoints import latest_checkpoint
from streams.kafka.clients import Publisher
from streams.kafka.result_listener import ResultListener
from streams.kafka.topics import TopicNames
from streams.tracing import configure_tracing, fresh_carrier, inject, recording, tracer

#: How far before its checkpoint a resumed client reads results: producer and broker clocks
#: (the record timestamp) may disagree with the checkpoint writer's clock by this much.
REWIND_MARGIN = timedelta(seconds=30)


class ResultTimeoutError(TimeoutError):
    """Some results did not arrive in time; ``missing`` lists their event ids."""

    def __init__(self, missing: Sequence[str], timeout_s: float) -> None:
        super().__init__(f"{len(missing)} result(s) missing after {timeout_s:.1f}s")
        self.missing = list(missing)


class QloopClient:
    """Blocking client: ``submit`` returns futures keyed by event id; ``evaluate`` waits."""

    def __init__(self, settings: Settings, topics: TopicNames | None = None) -> None:
        self.settings = settings
        self.topics = topics or TopicNames(settings.topic_prefix)
        self._updates, results = self.topics.updates, self.topics.results
        self._interactive: str | None = self.topics.updates_interactive
        if settings.tenant_topics:  # multi-tenant mode: the tenant's own topics, per its ACLs
            if not settings.tenant:
                raise ValueError("multi-tenant mode (QLOOP_TENANT_TOPICS) needs QLOOP_TENANT")
            self._updates = self.topics.tenant_updates(settings.tenant)
            self._interactive = None  # the tenant's one input; the lane is taken at hop 1
            results = self.topics.tenant_results(settings.tenant)
        configure_tracing()
        self._publisher = Publisher.from_settings(settings)
        self._listener = ResultListener(
            settings.librdkafka_config(), results, self._publisher.codec
        )

    def register_template(self, template: CircuitTemplate) -> str:
        """Publish ``template`` to the compacted topic and wait for the ack."""
        self._publisher.publish(self.topics.templates, template.template_id, template)
        self._publisher.flush()
        return template.template_id

    def submit(self, updates: Iterable[ParameterUpdate]) -> dict[str, Future[JobResult]]:
        """Produce every update (durably) and return a future per event id.

        An update with ``priority`` above 0 goes to the interactive lane's input topic, where
        it is never read behind a bulk backlog.
        """
        futures = {}
        spans = tracer()
        record = recording()
        for update in updates:
            futures[update.event_id] = self._listener.expect(update.event_id)
            # A trace per set: its context travels in the headers and in the payload (which the
            # worker's topology hop forwards unchanged); a caller's own context is kept. With
            # nothing to receive spans, only the context is made (streams.tracing).
            if not record:
                self._send(update, inject() or fresh_carrier())
                continue
            with spans.start_as_current_span("qloop.submit", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("qloop.event_id", update.event_id)
                self._send(update, inject())
        self._publisher.flush()
        return futures

    def _send(self, update: ParameterUpdate, carrier: dict[str, str]) -> None:
        if "traceparent" not in update.trace_context:
            update = replace(update, trace_context={**update.trace_context, **carrier})
        headers = {k: v for k, v in update.trace_context.items() if k in carrier}
        topic = self._updates
        if update.priority > 0 and self._interactive is not None:
            topic = self._interactive
        self._publisher.publish(topic, update.template_id, update, headers)

    def checkpoint(self, checkpoint: ExperimentCheckpoint) -> None:
        """Publish a loop's optimizer state (durably): what :meth:`resume` starts from.

        Call it after each iteration's results are in and before the next iteration's sets
        are submitted, with deterministic event ids per (experiment, iteration, set), so that
        a resumed loop re-sends exactly the ids it sent before and none is paid twice.
        """
        self._publisher.publish(self.topics.experiments, checkpoint.experiment_id, checkpoint)
        self._publisher.flush()

    def resume(self, experiment_id: str, timeout_s: float = 30.0) -> ExperimentCheckpoint | None:
        """Return the experiment's latest checkpoint (None if it has none) and catch up.

        Results produced since that checkpoint (sets the dead process had sent, finished while
        nobody listened) are delivered to this client's futures, so re-submitting those ids
        completes them without running anything again: the worker drops a done id as a
        duplicate, and its stored result is what comes back.
        """
        latest = latest_checkpoint(self.settings, self.topics.experiments, experiment_id, timeout_s)
        if latest is not None:
            self._listener.rewind(latest.recorded_at - REWIND_MARGIN, timeout_s)
        return latest

    def approval_requests(self, *, include_decided: bool = False) -> list[Approval]:
        """Sets waiting for a human yes (``include_decided``: every request, as decided)."""
        return approvals.requests(self.settings, include_decided=include_decided)

    def approve(self, request_id: str, reason: str | None = None) -> Approval:
        """Approve a waiting set as this client's principal (``QLOOP_APPROVERS`` applies)."""
        return approvals.decide(self.settings, request_id, ApprovalStatus.APPROVED, reason)

    def reject(self, request_id: str, reason: str | None = None) -> Approval:
        """Reject a waiting set: it ends as one REJECTED result, uncharged."""
        return approvals.decide(self.settings, request_id, ApprovalStatus.REJECTED, reason)

    def evaluate(
        self, updates: Sequence[ParameterUpdate], timeout_s: float = 120.0
    ) -> list[JobResult]:
        """Submit and wait for every result, in input order."""
        futures = self.submit(updates)
        deadline = time.monotonic() + timeout_s
        results = []
        for update in updates:
            try:
                results.append(
                    futures[update.event_id].result(max(0.0, deadline - time.monotonic()))
                )
            except TimeoutError:
                missing = [u.event_id for u in updates if not futures[u.event_id].done()]
                raise ResultTimeoutError(missing, timeout_s) from None
        return results

    def close(self) -> None:
        """Flush, stop listening and release the producer (no reconnects after this)."""
        try:
            self._publisher.flush()
        finally:
            self._listener.close()
            self._publisher.close()

    def __enter__(self) -> QloopClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncQloopClient:
    """asyncio form of :class:`QloopClient`: ``submit`` returns awaitables by event id."""

    def __init__(self, settings: Settings, topics: TopicNames | None = None) -> None:
        self._sync = QloopClient(settings, topics)

    async def register_template(self, template: CircuitTemplate) -> str:
        """Publish a template (in a thread: the ack wait blocks)."""
        return await asyncio.to_thread(self._sync.register_template, template)

    async def submit(
        self, updates: Iterable[ParameterUpdate]
    ) -> dict[str, asyncio.Future[JobResult]]:
        """Produce the updates; return an asyncio future per event id."""
        futures = await asyncio.to_thread(self._sync.submit, list(updates))
        return {k: asyncio.wrap_future(f) for k, f in futures.items()}

    async def evaluate(
        self, updates: Sequence[ParameterUpdate], timeout_s: float = 120.0
    ) -> list[JobResult]:
        """Submit and await every result, in input order."""
        futures = await self.submit(updates)
        try:
            async with asyncio.timeout(timeout_s):
                return [await futures[u.event_id] for u in updates]
        except TimeoutError:
            missing = [u.event_id for u in updates if not futures[u.event_id].done()]
            raise ResultTimeoutError(missing, timeout_s) from None

    async def checkpoint(self, checkpoint: ExperimentCheckpoint) -> None:
        """Publish a loop's optimizer state (see :meth:`QloopClient.checkpoint`)."""
        await asyncio.to_thread(self._sync.checkpoint, checkpoint)

    async def resume(self, experiment_id: str) -> ExperimentCheckpoint | None:
        """The latest checkpoint, results since it included (see :meth:`QloopClient.resume`)."""
        return await asyncio.to_thread(self._sync.resume, experiment_id)

    async def close(self) -> None:
        """Flush and stop listening."""
        await asyncio.to_thread(self._sync.close)


def new_update(
    template: CircuitTemplate,
    parameters: Sequence[float],
    *,
    experiment_id: str,
    iteration: int = 0,
    tenant: str = "default",
    primitive: Primitive = Primitive.SAMPLER,
    shots: int | None = None,
    precision: float | None = None,
    backend: str = "aer_simulator",
    seed: int | None = None,
    event_id: str | None = None,
    labels: dict[str, str] | None = None,
    priority: int = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ParameterUpdate:
    """Build a well-formed update for ``template`` (a fresh uuid event id by default).

    ``priority`` above 0 puts it in the interactive lane.
    """
    return ParameterUpdate(
        event_id=event_id or uuid.uuid4().hex,
        experiment_id=experiment_id,
        iteration=iteration,
        tenant=tenant,
        template_id=template.template_id,
        parameters=tuple(float(v) for v in parameters),
        primitive=primitive,
        produced_at=clock(),
        shots=shots,
        precision=precision,
        backend=backend,
        seed=seed,
        labels=labels or {},
        priority=priority,
    )


__all__ = ["AsyncQloopClient", "QloopClient", "ResultTimeoutError", "new_update"]
