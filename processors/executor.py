"""Batch executor: admit, compile, submit once, and shape one outcome per parameter set.

Synchronous and CPU-bound: the stream layer calls :meth:`BatchExecutor.execute` from a bounded
thread pool. It never raises for bad input or backend failures; every set of a batch ends as
exactly one of: a result, a dead letter (idempotency conflict), or a duplicate (no output).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from processors.backends.base import BackendAdapter
from processors.batcher import Batch, Group
from processors.budget import BudgetLedger, ClaimItem, estimate_cost
from processors.capacity import check_compiled, check_shots, check_width
from processors.compile_cache import CompileCache, Compiled
from processors.dead_letters import make_dead_letter
from processors.errors import BackendNotAllowedError, InvalidTemplateError
from processors.idempotency import IdempotencyLedger, Seen, payload_digest
from processors.pending import PendingSet
from processors.results import Outcome, make_result
from processors.submission import Admitted, submit
from processors.validation import Limits, Rejection
from schemas import (
    CompileRecord,
    DeadLetter,
    ErrorCode,
    JobResult,
    JobSubmitted,
    Primitive,
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


def _rejected(rejection: Rejection, status: ResultStatus = ResultStatus.REJECTED) -> Outcome:
    return Outcome(status=status, error_code=rejection.code, error_message=rejection.message)


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
        complete_on_return: Mark executed ids ``done`` before returning. Set False when the
            caller marks them after its producer has acknowledged the results (closes the
            crash window between executing and producing).
        before_submit: Called after the ledgers are written and before the backend runs;
            the stream layer passes its journal's flush, so a debit is durable before it is
            spent. If it raises, nothing is submitted and the error propagates.
        admission_lock: Held from a batch's first ledger write through ``before_submit``
            (default: a private lock). Each claim is one self-contained record, so other
            ledger flushes (dead letters, done marks) need not wait for an admission.
        now: Wall clock (UTC).

    """

    def __init__(
        self,
        backends: Callable[[str], BackendAdapter],
        cache: CompileCache,
        *,
        limits: Limits | None = None,
        budget: BudgetLedger | None = None,
        idempotency: IdempotencyLedger | None = None,
        complete_on_return: bool = True,
        before_submit: Callable[[], None] | None = None,
        admission_lock: AbstractContextManager[object] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._backends = backends
        self._cache = cache
        self._limits = limits or Limits()
        self._budget = budget
        self._ledger = idempotency
        self._complete_on_return = complete_on_return
        self._before_submit = before_submit
        self._now = now
        self._admission = admission_lock or threading.Lock()

    def execute(self, batch: Batch) -> ExecutionOutcome:
        """Run ``batch`` as one backend submission and shape its outcomes."""
        handed_at = self._now()
        outcomes: dict[int, Outcome] = {}
        dead_letters: list[DeadLetter] = []
        duplicates: list[str] = []
        compiles: list[CompileRecord] = []
        backend_or_error = self._backend(batch.backend)
        seen_here: dict[str, str] = {}
        # One batch at a time through admission: its idempotency checks see every paid mark
        # of the batches admitted before it.
        with self._admission:
            admitted = self._admit_batch(
                batch, backend_or_error, seen_here, outcomes, dead_letters, duplicates, compiles
            )
        job = None
        if admitted and not isinstance(backend_or_error, Outcome):
            ids = [a.pending.update.event_id for a in admitted]
            job_id, seed = job_identity(batch.backend, ids)
            job, executed = submit(backend_or_error, batch, admitted, job_id, seed, self._now)
            outcomes.update(executed)
        else:
            job_id = None
        completed_at = self._now()
        results = []
        for index, pending in enumerate(batch.sets):
            outcome = outcomes.get(index)
            if outcome is None:
                continue
            executed_here = outcome.status in (ResultStatus.SUCCEEDED, ResultStatus.FAILED)
            results.append(
                make_result(
                    pending,
                    outcome,
                    job_id=job_id if executed_here else None,
                    handed_at=handed_at,
                    completed_at=completed_at,
                )
            )
            if self._ledger is not None and not executed_here:
                self._ledger.mark_done(pending.update, seen_here[pending.update.event_id])
        if self._ledger is not None and self._complete_on_return:
            self._ledger.complete(a.pending.update.event_id for a in admitted)
        return ExecutionOutcome(job, results, compiles, dead_letters, duplicates)

    def _admit_batch(
        self,
        batch: Batch,
        backend_or_error: BackendAdapter | Outcome,
        seen_here: dict[str, str],
        outcomes: dict[int, Outcome],
        dead_letters: list[DeadLetter],
        duplicates: list[str],
        compiles: list[CompileRecord],
    ) -> list[Admitted]:
        """Classify, charge and mark every set; make the ledger durable before returning."""
        admitted: list[Admitted] = []
        to_charge: dict[str, list[Admitted]] = {}  # tenant -> new sets, one claim each
        position = -1  # index into batch.sets (a redelivered object may appear twice)
        for group in batch.groups.values():
            compiled: Compiled | Rejection | None = None
            for pending in group.sets:
                position += 1
                index = position
                seen = self._seen(pending, seen_here)
                if seen is Seen.DUPLICATE:
                    duplicates.append(pending.update.event_id)
                    continue
                if seen is Seen.CONFLICT:
                    dead_letters.append(self._conflict(pending))
                    continue
                if isinstance(backend_or_error, Outcome):
                    outcomes[index] = backend_or_error
                    continue
                if compiled is None:
                    compiled = self._compile(group, backend_or_error, batch.primitive)
                    if not isinstance(compiled, Rejection) and not compiled.hit:
                        compiles.append(compiled.record)
                verdict = self._admit(index, pending, group, backend_or_error, compiled, batch)
                if isinstance(verdict, Outcome):
                    outcomes[index] = verdict
                elif seen is Seen.NEW:
                    to_charge.setdefault(pending.update.tenant, []).append(verdict)
                else:
                    admitted.append(verdict)  # already paid (crash before its result): free
        charged = self._charge(to_charge, seen_here, outcomes)
        # A claim log that records its granted sets as paid has marked them already.
        if self._ledger is not None and not (self._budget and self._budget.marks_paid):
            for item in charged:
                self._ledger.mark(item.pending.update, seen_here[item.pending.update.event_id])
        admitted = sorted(admitted + charged, key=lambda a: a.position)
        if admitted and self._before_submit is not None:
            self._before_submit()
        return admitted

    def _charge(
        self,
        to_charge: dict[str, list[Admitted]],
        digests: dict[str, str],
        outcomes: dict[int, Outcome],
    ) -> list[Admitted]:
        """One claim per tenant; refused sets become ``BUDGET_EXCEEDED`` results."""
        if self._budget is None:  # no budgets: every new set is admitted
            return [a for sets in to_charge.values() for a in sets]
        granted: list[Admitted] = []
        for tenant, sets in to_charge.items():
            items = [
                ClaimItem(
                    a.pending.update.event_id, digests[a.pending.update.event_id], a.shots, a.cost
                )
                for a in sets
            ]
            verdicts = self._budget.admit(uuid.uuid4().hex, tenant, items)
            for item, ok in zip(sets, verdicts, strict=True):
                if ok:
                    granted.append(item)
                else:
                    outcomes[item.position] = _rejected(
                        Rejection(ErrorCode.BUDGET_EXCEEDED, "tenant budget exhausted"),
                        ResultStatus.BUDGET_EXCEEDED,
                    )
        return granted

    def _backend(self, name: str) -> BackendAdapter | Outcome:
        try:
            return self._backends(name)
        except BackendNotAllowedError as exc:
            return _rejected(Rejection(ErrorCode.BACKEND_NOT_ALLOWED, str(exc)))
        except Exception as exc:  # ConfigurationError and anything else: never crash
            return Outcome(
                status=ResultStatus.FAILED,
                error_code=ErrorCode.BACKEND_ERROR,
                error_message=f"backend {name!r} unavailable: {type(exc).__name__}",
            )

    def _seen(self, pending: PendingSet, seen_here: dict[str, str]) -> Seen:
        update = pending.update
        digest = pending.digest or payload_digest(update)
        earlier = seen_here.get(update.event_id)
        if earlier is not None:  # the same id twice inside one batch
            return Seen.DUPLICATE if earlier == digest else Seen.CONFLICT
        seen_here[update.event_id] = digest
        return Seen.NEW if self._ledger is None else self._ledger.check(update, digest)

    def _conflict(self, pending: PendingSet) -> DeadLetter:
        return make_dead_letter(
            ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
            "event id already executed with a different payload",
            stage="executor",
            source=pending.source,
            raw=pending.raw,
            occurred_at=self._now(),
            event_id=pending.update.event_id,
            tenant=pending.update.tenant,
        )

    def _compile(
        self, group: Group, backend: BackendAdapter, primitive: Primitive
    ) -> Compiled | Rejection:
        width = check_width(group.template, backend, self._limits)
        if width is not None:
            return width  # never transpile (or allocate) what cannot run
        try:
            compiled = self._cache.get(
                group.template, backend, strip_measurements=primitive is Primitive.ESTIMATOR
            )
        except InvalidTemplateError as exc:
            return Rejection(ErrorCode.INVALID_TEMPLATE, str(exc))
        except Exception as exc:  # transpiler errors: the circuit does not fit this target
            return Rejection(
                ErrorCode.INVALID_TEMPLATE, f"cannot compile for {backend.name}: {exc}"
            )
        return check_compiled(compiled.record, self._limits) or compiled

    def _admit(
        self,
        position: int,
        pending: PendingSet,
        group: Group,
        backend: BackendAdapter,
        compiled: Compiled | Rejection,
        batch: Batch,
    ) -> Admitted | Outcome:
        if isinstance(compiled, Rejection):
            return _rejected(compiled)
        shots = 0
        if batch.primitive is Primitive.SAMPLER:
            shots = group.shots if group.shots is not None else self._limits.default_shots
            too_many = check_shots(shots, backend, self._limits)
            if too_many is not None:
                return _rejected(too_many)
        cost = estimate_cost(backend.price, shots, 1.0 / batch.size)
        return Admitted(position, pending, compiled, shots, cost)


__all__ = ["BatchExecutor", "ExecutionOutcome", "job_identity"]
