"""The qloop client for upstream and downstream services.

Upstream: register templates and submit parameter sets (idempotent producer, ``acks=all``,
keyed by template id so one topology lands on one worker). Downstream: receive the results of
an experiment, matched by event id, with timeouts. :class:`QloopClient` blocks;
:class:`AsyncQloopClient` returns awaitables. Results are read from the partitions' ends as
they were when the client started, so start the client before submitting.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from opentelemetry.trace import SpanKind

from schemas import (
    Approval,
    ApprovalStatus,
    CircuitTemplate,
    ContractError,
    ExperimentCheckpoint,
    JobResult,
    ParameterUpdate,
    Primitive,
)
from streams.config import Settings
from streams.kafka import approvals
from streams.kafka.checkpoints import latest_checkpoint
from streams.kafka.clients import Publisher
from streams.kafka.topics import TopicNames
from streams.tracing import configure_tracing, inject, tracer

#: How far before its checkpoint a resumed client reads results: producer and broker clocks
#: (the record timestamp) may disagree with the checkpoint writer's clock by this much.
REWIND_MARGIN = timedelta(seconds=30)


class ResultTimeoutError(TimeoutError):
    """Some results did not arrive in time; ``missing`` lists their event ids."""

    def __init__(self, missing: Sequence[str], timeout_s: float) -> None:
        super().__init__(f"{len(missing)} result(s) missing after {timeout_s:.1f}s")
        self.missing = list(missing)


class _ResultListener:
    """Tails the result topic and completes the future registered for each event id."""

    def __init__(self, conf: dict[str, Any], topic: str, publisher: Publisher) -> None:
        self._consumer = Consumer(
            {**conf, "group.id": f"qloop-client-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        meta = self._consumer.list_topics(topic, timeout=30).topics[topic]
        self._assignment = [TopicPartition(topic, p, OFFSET_END) for p in meta.partitions]
        self._consumer.assign(self._assignment)
        self._codec = publisher.codec
        self._futures: dict[str, Future[JobResult]] = {}
        self._early: dict[str, JobResult] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rewind: tuple[datetime, threading.Event] | None = None
        self._thread = threading.Thread(target=self._run, name="qloop-results", daemon=True)
        self._thread.start()

    def expect(self, event_id: str) -> Future[JobResult]:
        with self._lock:
            future = self._futures.get(event_id)
            if future is None:
                future = self._futures[event_id] = Future()
                early = self._early.pop(event_id, None)
                if early is not None:
                    future.set_result(early)
            return future

    def rewind(self, since: datetime, timeout_s: float = 30.0) -> None:
        """Also deliver results produced since ``since`` (a resumed loop's in-flight sets)."""
        done = threading.Event()
        self._rewind = (since, done)
        if not done.wait(timeout_s):
            raise TimeoutError(f"the result listener did not rewind within {timeout_s:.0f}s")

    def _seek(self, since: datetime, done: threading.Event) -> None:
        millis = int(since.timestamp() * 1000)
        wanted = [TopicPartition(tp.topic, tp.partition, millis) for tp in self._assignment]
        found = self._consumer.offsets_for_times(wanted, timeout=30)
        # A partition with nothing at or after ``since`` answers -1: stay at its end.
        self._consumer.assign(
            [tp if tp.offset >= 0 else TopicPartition(tp.topic, tp.partition, OFFSET_END)
             for tp in found]
        )  # fmt: skip
        done.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._rewind is not None:
                request, self._rewind = self._rewind, None
                self._seek(*request)
            # Wait for one message, then drain what is already fetched without waiting:
            # consume(n, timeout) alone would hold the first result until n arrive or the
            # timeout passes, adding up to that timeout to every interactive round trip.
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            for msg in [first, *self._consumer.consume(999, 0)]:
                if msg.error() is not None:
                    continue
                try:
                    result = self._codec.decode(JobResult, msg.value() or b"")
                except ContractError:
                    continue
                with self._lock:
                    future = self._futures.pop(result.event_id, None)
                    if future is None:
                        if len(self._early) < 100_000:
                            self._early[result.event_id] = result
                    elif not future.done():
                        future.set_result(result)
        self._consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class QloopClient:
    """Blocking client: ``submit`` returns futures keyed by event id; ``evaluate`` waits."""

    def __init__(self, settings: Settings, topics: TopicNames | None = None) -> None:
        self.settings = settings
        self.topics = topics or TopicNames(settings.topic_prefix)
        self._updates, results = self.topics.updates, self.topics.results
        if settings.tenant_topics:  # multi-tenant mode: the tenant's own topics, per its ACLs
            if not settings.tenant:
                raise ValueError("multi-tenant mode (QLOOP_TENANT_TOPICS) needs QLOOP_TENANT")
            self._updates = self.topics.tenant_updates(settings.tenant)
            results = self.topics.tenant_results(settings.tenant)
        configure_tracing()
        self._publisher = Publisher.from_settings(settings)
        self._listener = _ResultListener(settings.librdkafka_config(), results, self._publisher)

    def register_template(self, template: CircuitTemplate) -> str:
        """Publish ``template`` to the compacted topic and wait for the ack."""
        self._publisher.publish(self.topics.templates, template.template_id, template)
        self._publisher.flush()
        return template.template_id

    def submit(self, updates: Iterable[ParameterUpdate]) -> dict[str, Future[JobResult]]:
        """Produce every update (durably) and return a future per event id."""
        futures = {}
        spans = tracer()
        for update in updates:
            futures[update.event_id] = self._listener.expect(update.event_id)
            # A trace per set: its context travels in the headers and in the payload (which the
            # worker's topology hop forwards unchanged); a caller's own context is kept.
            with spans.start_as_current_span("qloop.submit", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("qloop.event_id", update.event_id)
                carrier = inject()
                if "traceparent" not in update.trace_context:
                    update = replace(update, trace_context={**update.trace_context, **carrier})
                headers = {k: v for k, v in update.trace_context.items() if k in carrier}
                self._publisher.publish(self._updates, update.template_id, update, headers)
        self._publisher.flush()
        return futures

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
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ParameterUpdate:
    """Build a well-formed update for ``template`` (a fresh uuid event id by default)."""
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
    )


__all__ = ["AsyncQloopClient", "QloopClient", "ResultTimeoutError", "new_update"]
