"""Batch executor: admit, compile, submit once, and shape one outcome per parameter set.

Synchronous and CPU-bound: the stream layer calls it from a bounded thread pool, in two steps
so that the ledger can make the charges durable in between (see
``streams.ledger.checkpoint``): :meth:`BatchExecutor.admit` decides and charges every set,
:meth:`BatchExecutor.run` submits the admitted sets as one backend job and shapes the results.
Neither raises for bad input or backend failures; every set of a batch ends as exactly one of:
a result, a dead letter (idempotency conflict), or a duplicate (no output).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from processors.admission import Admission, Admitter, rejected
from processors.backends.base import BackendAdapter, express_lane
from processors.batcher import Batch, Lane
from processors.budget import BudgetLedger
from processors.calibration import snapshot_of
from processors.compile_cache import CompileCache
from processors.degradation import NO_STAND_IN, DegradationPolicy, plan, unavailable
from processors.errors import BackendNotAllowedError
from processors.idempotency import IdempotencyLedger
from processors.job_book import ProviderJobBook
from processors.pending import PendingSet
from processors.results import Outcome, make_result
from processors.retries import RetryPolicy
from processors.stand_in import stood_in_for
from processors.submission import submit
from processors.validation import Limits, Rejection
from schemas import (
    CalibrationSnapshot,
    CompileRecord,
    DeadLetter,
    ErrorCode,
    JobResult,
    JobSubmitted,
    ResultStatus,
)


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """Everything one batch produced.

    ``len(results) + len(dead_letters) + len(duplicates) == batch.size`` always.
    """

    job: JobSubmitted | None
    results: list[JobResult]
    compiles: list[CompileRecord]
    dead_letters: list[DeadLetter]
    duplicates: list[str] = field(default_factory=list)
    #: The device calibrations provider jobs ran on, the first time this worker sees each.
    calibrations: list[CalibrationSnapshot] = field(default_factory=list)


def job_identity(backend: str, event_ids: list[str]) -> tuple[str, int]:
    """Deterministic job id and base seed for a submission of ``event_ids``.

    Derived from content so a replayed batch gets the same seed, hence the same results.
    """
    digest = hashlib.sha256("\n".join([backend, *sorted(event_ids)]).encode()).hexdigest()
    return f"job-{digest[:24]}", int(digest[24:32], 16) % (2**31 - 1)


class BatchExecutor:
    """Executes closed batches against backends from a registry.

    Args:
        backends: Returns the adapter for a backend name (e.g. ``BackendRegistry.get``).
        cache: Shared compile cache.
        limits: Capacity limits and the default shots.
        budget: Budget ledger; None disables budgets.
        idempotency: Idempotency ledger; None disables de-duplication.
        now: Wall clock (UTC).
        marked_down: Why a backend is marked down (None while it is up); None: never down.
        degradation: Which tenants a stand-in simulator may serve while their backend is down.
        retries: Retries of transient backend failures; None never retries.
        approval: The approval gate's verdict on a set (None: run it; else its outcome).
        provider_jobs: Where provider jobs are remembered (re-attached to, never re-submitted).

    """

    def __init__(
        self,
        backends: Callable[[str], BackendAdapter],
        cache: CompileCache,
        *,
        limits: Limits | None = None,
        budget: BudgetLedger | None = None,
        idempotency: IdempotencyLedger | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        marked_down: Callable[[str], str | None] | None = None,
        degradation: DegradationPolicy | None = None,
        retries: RetryPolicy | None = None,
        approval: Callable[[PendingSet], Outcome | None] | None = None,
        provider_jobs: ProviderJobBook | None = None,
    ) -> None:
        self._provider_jobs = provider_jobs
        self._snapshotted: set[tuple[str, str]] = set()
        self._retries = retries
        self._approval = approval
        self._backends = backends
        self._marked_down = marked_down
        self._degradation = degradation or DegradationPolicy()
        self._ledger = idempotency
        self._now = now
        # Held through one batch's admission and the ``durable`` call that follows it, so a
        # batch's idempotency checks see every paid mark of the batches admitted before it.
        # One per lane, so an interactive batch never waits for a bulk batch's admission and
        # flush. Lanes cannot race on one event id: the lane is the payload's priority, and the
        # pipeline lets only one copy of an id be batched at a time (a second is a conflict).
        self._admission = {lane: threading.Lock() for lane in Lane}
        self._admitter = Admitter(cache, limits or Limits(), budget, idempotency, now)
        #: Hits, misses and compile seconds of the shared compile cache (for metrics).
        self.cache_stats = cache.stats

    def admit(self, batch: Batch, durable: Callable[[], None] | None = None) -> Admission:
        """Classify, compile and charge every set; then call ``durable`` if any was admitted.

        ``durable`` makes the charges and paid marks durable (the journal's flush). It runs
        before this returns, under the admission lock; if it raises, nothing may be submitted
        and the error propagates.
        """
        device = stood_in_for(batch.backend)  # sent to a stand-in by placement: it was late
        name = device or batch.backend
        backend = self._backend(name)
        degraded = None
        why = None if self._marked_down is None else self._marked_down(name)
        if not isinstance(backend, Outcome) and (why is not None or device is not None):
            late = why is None
            degraded = plan(backend, LATE if why is None else why, self._degradation, late=late)
            backend = degraded.adapter or unavailable(f"{degraded.reason}; {NO_STAND_IN}")
        refusals = [r for r in (self._approval,) if r is not None]
        if degraded is not None:
            refusals.append(degraded.refuse)

        def refuse(pending: PendingSet) -> Outcome | None:
            for check in refusals:
                outcome = check(pending)
                if outcome is not None:
                    return outcome
            return None

        with self._admission[batch.lane]:
            admission = self._admitter.admit(batch, backend, refuse if refusals else None)
            if degraded is not None and degraded.adapter is not None:
                admission.degraded = degraded.message
            if admission.admitted and durable is not None:
                durable()
        return admission

    def run(
        self,
        admission: Admission,
        on_submitted: Callable[[JobSubmitted], None] | None = None,
    ) -> ExecutionOutcome:
        """Submit the admitted sets as one job and shape one result per decided set.

        ``on_submitted`` is told of the job as it is handed to the backend (before it runs).
        """
        batch, outcomes = admission.batch, dict(admission.outcomes)
        job = job_id = None
        if admission.admitted and admission.backend is not None:
            ids = [a.pending.update.event_id for a in admission.admitted]
            job_id, seed = job_identity(batch.backend, ids)
            with express_lane(batch.lane is Lane.INTERACTIVE):
                job, executed = submit(
                    admission.backend,
                    batch,
                    admission.admitted,
                    job_id,
                    seed,
                    self._now,
                    on_submitted,
                    self._retries,
                    self._provider_jobs,
                )
            if admission.degraded is not None:
                executed = {
                    i: _degraded(o, admission.degraded, admission.backend.name)
                    for i, o in executed.items()
                }
            outcomes.update(executed)
        completed_at = self._now()
        calibrations = self._new_calibrations(admission, outcomes)
        results = []
        ran = {a.position for a in admission.admitted}
        for index, pending in enumerate(batch.sets):
            outcome = outcomes.get(index)
            if outcome is None:
                continue
            executed_here = index in ran
            results.append(
                make_result(
                    pending,
                    outcome,
                    job_id=job_id if executed_here else None,
                    handed_at=admission.handed_at,
                    completed_at=completed_at,
                )
            )
            if self._ledger is not None and not executed_here:
                self._ledger.mark_done(pending.update.event_id, pending.digest)
        return ExecutionOutcome(
            job,
            results,
            admission.compiles,
            admission.dead_letters,
            admission.duplicates,
            calibrations,
        )

    def _new_calibrations(
        self, admission: Admission, outcomes: dict[int, Outcome]
    ) -> list[CalibrationSnapshot]:
        """Snapshot each calibration a provider job ran on, once per worker and calibration."""
        backend = admission.backend
        if backend is None:
            return []
        seen = {
            o.calibration_id
            for o in outcomes.values()
            if o.provider_job_id is not None and o.calibration_id is not None
        }
        out = []
        for calibration in sorted(seen):
            key = (backend.name, calibration)
            if key in self._snapshotted:
                continue
            self._snapshotted.add(key)
            snapshot = snapshot_of(backend, calibration, self._now())
            if snapshot is not None:
                out.append(snapshot)
        return out

    def execute(self, batch: Batch) -> ExecutionOutcome:
        """Admit, run and mark done in one call (no separate durability step: tests, bench)."""
        admission = self.admit(batch)
        outcome = self.run(admission)
        if self._ledger is not None:
            self._ledger.complete(a.pending.update.event_id for a in admission.admitted)
        return outcome

    def _backend(self, name: str) -> BackendAdapter | Outcome:
        try:
            return self._backends(name)
        except BackendNotAllowedError as exc:
            return rejected(Rejection(ErrorCode.BACKEND_NOT_ALLOWED, str(exc)))
        except Exception as exc:  # ConfigurationError and anything else: never crash
            return Outcome(
                status=ResultStatus.FAILED,
                error_code=ErrorCode.BACKEND_ERROR,
                error_message=f"backend {name!r} unavailable: {type(exc).__name__}",
            )


#: Why a ``stand-in:<device>`` batch did not run on the device (each set's placement label
#: has its own figures: predicted wait and time left).
LATE = "its predicted wait was longer than the time left before the sets' deadlines"


def _degraded(outcome: Outcome, message: str, ran_on: str) -> Outcome:
    """A stand-in's success is DEGRADED, with why and where it ran; a failure stays FAILED."""
    if outcome.status is not ResultStatus.SUCCEEDED:
        return replace(outcome, backend_name=ran_on)
    return replace(
        outcome,
        status=ResultStatus.DEGRADED,
        error_code=ErrorCode.BACKEND_UNAVAILABLE,
        error_message=message,
        backend_name=ran_on,
    )


__all__ = ["BatchExecutor", "ExecutionOutcome", "job_identity"]
