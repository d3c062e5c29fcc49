"""Per-tenant budgets: shots and estimated cost, never overspent, by any number of workers.

Spending is a sequence of *claims*, one per tenant per batch, each listing the sets it wants to
pay for. Claims are decided by :class:`ClaimBook` in the order of one shared log (the
single-partition ledger topic in production): a set is granted if it fits what the claims
before it were granted, each set on its own. Every reader of the log computes the same
verdicts, so two workers admitting for one tenant at the same moment cannot both spend the
last of its budget: the claim that lands second is refused what no longer fits.

A claim is also the record that its granted sets are paid (see ``processors.idempotency``): it
is one record, so a crash can never keep a charge and lose its paid marks, or the reverse. A
claim carries the budget its writer applied, so readers with different configurations still
agree on every verdict.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from processors.backends.base import Price
from processors.errors import InvalidBudgetError


@dataclass(frozen=True, slots=True)
class Budget:
    """A tenant's limits; ``None`` leaves that dimension unlimited."""

    shots: float | None = None
    cost: float | None = None

    @property
    def unlimited(self) -> bool:
        """True when neither dimension is limited."""
        return self.shots is None and self.cost is None


def check_budget(budget: Budget) -> str | None:
    """Return why ``budget`` is malformed (negative, zero, NaN, infinite), or None."""
    for field_name, value in (("shots", budget.shots), ("cost", budget.cost)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{field_name} budget is not a number"
        if not math.isfinite(value) or value <= 0:
            return f"{field_name} budget must be a finite number > 0, got {value!r}"
    return None


def estimate_cost(price: Price, shots: int, share_of_job: float = 1.0) -> float:
    """Cost of ``shots`` plus ``share_of_job`` of the per-job fee."""
    return price.per_shot * shots + price.per_job * share_of_job


#: Sets per claim record: ~120 bytes each keeps a claim far below Kafka's 1 MB message limit.
CLAIM_MAX_ITEMS = 2000


@dataclass(frozen=True, slots=True)
class ClaimItem:
    """One set a claim wants to pay for; ``digest`` is its payload digest (idempotency)."""

    event_id: str
    digest: str
    shots: float
    cost: float


@dataclass(frozen=True, slots=True)
class SpendClaim:
    """A request to charge ``items`` to ``tenant`` under ``budget`` (the writer's view)."""

    claim_id: str
    tenant: str
    budget: Budget
    items: tuple[ClaimItem, ...]


class ClaimBook:
    """Decides claims in log order; deterministic, so every reader reaches the same verdicts.

    A log that forgets old claims (the ledger's time retention) carries *totals*: a tenant's
    spending through a log position, written now and then by any reader. A reader takes the
    latest totals as its base and adds the claims after their position, so a reader that
    starts where old claims are gone reaches the verdicts of one that saw every claim. To do
    that it keeps, per tenant, the claims since its last totals (a list the next totals cut
    short). Sums are made in log order, claim by claim, from the same base, so that every
    reader's floating-point spending is the same to the last bit.

    Not thread-safe: the log's single reader applies claims one at a time.
    """

    def __init__(self) -> None:
        #: tenant -> (through position, shots, cost): the latest totals applied.
        self._base: dict[str, tuple[int, float, float]] = {}
        #: tenant -> (shots, cost) granted by the claims after the base.
        self._since: dict[str, tuple[float, float]] = {}
        #: tenant -> [(position, shots, cost)] granted by each claim after the base.
        self._marks: dict[str, list[tuple[int, float, float]]] = {}

    def apply(self, claim: SpendClaim, position: int | None = None) -> tuple[bool, ...]:
        """Grant each item that fits the tenant's spending so far; return the verdicts.

        ``position``: the claim's place in the log (its offset), needed to apply totals later.
        """
        shots, cost = self.spent(claim.tenant)
        limit = claim.budget
        verdicts = []
        granted_shots = granted_cost = 0.0
        for item in claim.items:
            fits = (limit.shots is None or shots + item.shots <= limit.shots) and (
                limit.cost is None or cost + item.cost <= limit.cost + 1e-12
            )
            if fits:
                shots += item.shots
                cost += item.cost
                granted_shots += item.shots
                granted_cost += item.cost
            verdicts.append(fits)
        since = self._since.get(claim.tenant, (0.0, 0.0))
        self._since[claim.tenant] = (since[0] + granted_shots, since[1] + granted_cost)
        if position is not None:
            self._marks.setdefault(claim.tenant, []).append((position, granted_shots, granted_cost))
        return tuple(verdicts)

    def apply_totals(self, tenant: str, through: int, shots: float, cost: float) -> None:
        """Take ``tenant``'s spending through log position ``through`` as known.

        Totals older than ones already applied are ignored (two readers' totals may land out
        of order).
        """
        base = self._base.get(tenant)
        if base is not None and base[0] >= through:
            return
        later = [mark for mark in self._marks.get(tenant, []) if mark[0] > through]
        since_shots = since_cost = 0.0
        for _position, granted_shots, granted_cost in later:
            since_shots += granted_shots
            since_cost += granted_cost
        self._base[tenant] = (through, shots, cost)
        self._since[tenant] = (since_shots, since_cost)
        self._marks[tenant] = later

    def spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` so far."""
        since = self._since.get(tenant, (0.0, 0.0))
        base = self._base.get(tenant)
        if base is None:
            return since
        return (base[1] + since[0], base[2] + since[1])

    def tenants(self) -> list[str]:
        """Every tenant with spending known to this reader."""
        return sorted(set(self._since) | set(self._base))


class ClaimLog(Protocol):
    """Where claims are decided: in-process (:class:`LocalClaimLog`) or a shared log."""

    #: True when a granted claim also records its sets as paid (the caller need not mark).
    marks_paid: bool

    def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
        """Append ``claim`` and return its verdicts once they are final and durable."""
        ...

    def spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` so far."""
        ...


class LocalClaimLog:
    """Claims decided in this process only: one worker, or tests."""

    marks_paid = False

    def __init__(self) -> None:
        self._book = ClaimBook()
        self._lock = threading.Lock()

    def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
        """Decide ``claim`` at once."""
        with self._lock:
            return self._book.apply(claim)

    def spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` so far."""
        with self._lock:
            return self._book.spent(tenant)


class BudgetLedger:
    """Charges sets to tenants through a :class:`ClaimLog`.

    Args:
        limits: Budget per tenant.
        default: Budget for tenants not in ``limits``; None means they are unlimited.
        log: Where claims are decided; a :class:`LocalClaimLog` by default.

    Raises:
        InvalidBudgetError: a configured budget is malformed (refuse to start).

    """

    def __init__(
        self,
        limits: Mapping[str, Budget],
        *,
        default: Budget | None = None,
        log: ClaimLog | None = None,
    ) -> None:
        for tenant, budget in list(limits.items()) + [("<default>", default or Budget())]:
            problem = check_budget(budget)
            if problem is not None:
                raise InvalidBudgetError(f"tenant {tenant}: {problem}")
        self._limits = dict(limits)
        self._default = default or Budget()
        self._log: ClaimLog = log or LocalClaimLog()
        self._lock = threading.Lock()
        self._claims = 0

    @property
    def marks_paid(self) -> bool:
        """Whether a granted claim already records its sets as paid."""
        return self._log.marks_paid

    def set_budget(self, tenant: str, budget: Budget) -> None:
        """Install or replace a tenant's budget.

        Raises:
            InvalidBudgetError: the budget is malformed (dead-letter the change).

        """
        problem = check_budget(budget)
        if problem is not None:
            raise InvalidBudgetError(f"tenant {tenant}: {problem}")
        with self._lock:
            self._limits[tenant] = budget

    def budget_for(self, tenant: str) -> Budget:
        """The budget that applies to ``tenant`` (unlimited when none is configured)."""
        with self._lock:
            return self._limits.get(tenant, self._default)

    def spent(self, tenant: str) -> tuple[float, float]:
        """Return (shots, cost) granted to ``tenant`` so far, by every writer of the log."""
        return self._log.spent(tenant)

    def admit(self, claim_id: str, tenant: str, items: list[ClaimItem]) -> tuple[bool, ...]:
        """Charge each of ``items`` that fits; return which were charged (in order).

        Refused items cost nothing. ``claim_id`` must be unique (a replay of the same claim
        record is decided once).
        """
        for item in items:
            if item.shots < 0 or not math.isfinite(item.cost) or item.cost < 0:
                raise ValueError("a charge must be non-negative and finite")
        budget = self.budget_for(tenant)
        verdicts: list[bool] = []
        for start in range(0, len(items), CLAIM_MAX_ITEMS):  # each claim stands on its own
            chunk = tuple(items[start : start + CLAIM_MAX_ITEMS])
            suffix = f"-{start // CLAIM_MAX_ITEMS}" if len(items) > CLAIM_MAX_ITEMS else ""
            verdicts += self._log.submit(SpendClaim(claim_id + suffix, tenant, budget, chunk))
        return tuple(verdicts)

    def try_debit(self, tenant: str, shots: int, cost: float) -> bool:
        """Charge one anonymous set if it fits (a convenience for single charges)."""
        with self._lock:
            self._claims += 1
            claim_id = f"debit-{self._claims}"
        (granted,) = self.admit(claim_id, tenant, [ClaimItem(claim_id, "", shots, cost)])
        return granted


__all__ = [
    "Budget",
    "BudgetLedger",
    "ClaimBook",
    "ClaimItem",
    "ClaimLog",
    "LocalClaimLog",
    "SpendClaim",
    "check_budget",
    "estimate_cost",
]
