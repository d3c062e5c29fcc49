"""Admission of one closed batch: classify, compile and charge every set before it runs.

Each set of a batch ends admission as exactly one of: admitted (charged now, or already paid
by an earlier attempt), a final outcome that needs no backend (rejected, over budget), a dead
letter (idempotency conflict) or a duplicate (already done: no output). New sets are charged in
one claim per tenant; a claim log that records paid marks (the shared ledger topic) writes the
charge and the marks as one record, so a crash can never keep one without the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from processors.backends.base import BackendAdapter
from processors.batcher import Batch, Group
from processors.budget import BudgetLedger, ClaimItem, estimate_cost
from processors.capacity import check_compiled, check_shots, check_width
from processors.compile_cache import CompileCache, Compiled
from processors.dead_letters import make_dead_letter
from processors.errors import InvalidTemplateError
from processors.idempotency import IdempotencyLedger, Seen
from processors.pending import PendingSet
from processors.results import Outcome
from processors.submission import Admitted
from processors.validation import Limits, Rejection
from schemas import CompileRecord, DeadLetter, ErrorCode, Primitive, ResultStatus


def rejected(rejection: Rejection, status: ResultStatus = ResultStatus.REJECTED) -> Outcome:
    """A final outcome that needs no backend."""
    return Outcome(status=status, error_code=rejection.code, error_message=rejection.message)


@dataclass(slots=True)
class Admission:
    """What admission decided for one batch; ``outcomes`` maps positions in ``batch.sets``."""

    batch: Batch
    handed_at: datetime
    backend: BackendAdapter | None
    admitted: list[Admitted] = field(default_factory=list)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    compiles: list[CompileRecord] = field(default_factory=list)
    #: Set when the batch runs on a stand-in because its backend is down: the reason.
    degraded: str | None = None


@dataclass(slots=True)
class Admitter:
    """Classifies, compiles and charges the sets of a batch (see the module docstring)."""

    cache: CompileCache
    limits: Limits
    budget: BudgetLedger | None
    idempotency: IdempotencyLedger | None
    now: Callable[[], datetime]

    def admit(
        self,
        batch: Batch,
        backend: BackendAdapter | Outcome,
        refuse: Callable[[PendingSet], Outcome | None] | None = None,
    ) -> Admission:
        """Decide every set of ``batch``; ``backend`` is an outcome when it is unusable.

        ``refuse`` may decide a set before it is compiled or charged (a tenant that may not
        use the stand-in for a backend that is down).
        """
        adapter = None if isinstance(backend, Outcome) else backend
        admission = Admission(batch, self.now(), adapter)
        to_charge: dict[str, list[Admitted]] = {}  # tenant -> new sets, one claim each
        seen_here: dict[str, str] = {}
        position = -1  # index into batch.sets (a redelivered object may appear twice)
        for group in batch.groups.values():
            compiled: Compiled | Rejection | None = None
            for pending in group.sets:
                position += 1
                seen = self._seen(pending, seen_here)
                if seen is Seen.DUPLICATE:
                    admission.duplicates.append(pending.update.event_id)
                    continue
                if seen is Seen.CONFLICT:
                    admission.dead_letters.append(self._conflict(pending))
                    continue
                if adapter is None:
                    admission.outcomes[position] = backend  # type: ignore[assignment]
                    continue
                refusal = refuse(pending) if refuse is not None else None
                if refusal is not None:
                    admission.outcomes[position] = refusal
                    continue
                if compiled is None:
                    compiled = self._compile(group, adapter, batch.primitive)
                    if not isinstance(compiled, Rejection) and not compiled.hit:
                        admission.compiles.append(compiled.record)
                verdict = self._verdict(position, pending, group, adapter, compiled, batch)
                if isinstance(verdict, Outcome):
                    admission.outcomes[position] = verdict
                elif seen is Seen.NEW:
                    to_charge.setdefault(pending.update.tenant, []).append(verdict)
                else:
                    admission.admitted.append(verdict)  # paid before a crash: free re-run
        charged = self._charge(to_charge, admission.outcomes)
        if self.idempotency is not None and not (self.budget and self.budget.marks_paid):
            for item in charged:  # a claim log that marks paid has done it in the claim
                self.idempotency.mark(item.pending.update.event_id, item.pending.digest)
        admission.admitted = sorted(admission.admitted + charged, key=lambda a: a.position)
        return admission

    def _seen(self, pending: PendingSet, seen_here: dict[str, str]) -> Seen:
        event_id, digest = pending.update.event_id, pending.digest
        earlier = seen_here.get(event_id)
        if earlier is not None:  # the same id twice inside one batch
            return Seen.DUPLICATE if earlier == digest else Seen.CONFLICT
        seen_here[event_id] = digest
        return Seen.NEW if self.idempotency is None else self.idempotency.check(event_id, digest)

    def _charge(
        self, to_charge: dict[str, list[Admitted]], outcomes: dict[int, Outcome]
    ) -> list[Admitted]:
        """One claim per tenant; refused sets become ``BUDGET_EXCEEDED`` outcomes."""
        if self.budget is None:  # no budgets: every new set is admitted
            return [a for sets in to_charge.values() for a in sets]
        granted: list[Admitted] = []
        for tenant, sets in to_charge.items():
            items = [
                ClaimItem(a.pending.update.event_id, a.pending.digest, a.shots, a.cost)
                for a in sets
            ]
            verdicts = self.budget.admit(uuid.uuid4().hex, tenant, items)
            for item, ok in zip(sets, verdicts, strict=True):
                if ok:
                    granted.append(item)
                else:
                    outcomes[item.position] = rejected(
                        Rejection(ErrorCode.BUDGET_EXCEEDED, "tenant budget exhausted"),
                        ResultStatus.BUDGET_EXCEEDED,
                    )
        return granted

    def _conflict(self, pending: PendingSet) -> DeadLetter:
        return make_dead_letter(
            ErrorCode.IDEMPOTENCY_KEY_CONFLICT,
            "event id already executed with a different payload",
            stage="executor",
            source=pending.source,
            raw=pending.raw,
            occurred_at=self.now(),
            event_id=pending.update.event_id,
            tenant=pending.update.tenant,
        )

    def _compile(
        self, group: Group, backend: BackendAdapter, primitive: Primitive
    ) -> Compiled | Rejection:
        width = check_width(group.template, backend, self.limits)
        if width is not None:
            return width  # never transpile (or allocate) what cannot run
        try:
            compiled = self.cache.get(
                group.template, backend, strip_measurements=primitive is Primitive.ESTIMATOR
            )
        except InvalidTemplateError as exc:
            return Rejection(ErrorCode.INVALID_TEMPLATE, str(exc))
        except Exception as exc:  # transpiler errors: the circuit does not fit this target
            return Rejection(
                ErrorCode.INVALID_TEMPLATE, f"cannot compile for {backend.name}: {exc}"
            )
        return check_compiled(compiled.record, self.limits) or compiled

    def _verdict(
        self,
        position: int,
        pending: PendingSet,
        group: Group,
        backend: BackendAdapter,
        compiled: Compiled | Rejection,
        batch: Batch,
    ) -> Admitted | Outcome:
        if isinstance(compiled, Rejection):
            return rejected(compiled)
        shots = 0
        if batch.primitive is Primitive.SAMPLER:
            shots = group.shots if group.shots is not None else self.limits.default_shots
            too_many = check_shots(shots, backend, self.limits)
            if too_many is not None:
                return rejected(too_many)
        cost = estimate_cost(backend.price, shots, 1.0 / batch.size)
        return Admitted(position, pending, compiled, shots, cost)


__all__ = ["Admission", "Admitter", "rejected"]
