"""Per-tenant budget ledger: shots and estimated cost, never overspent.

Spending is kept in a ``MutableMapping`` so the stream layer can pass a changelog-backed table
and the ledger survives restarts. A debit is written *before* the submission it pays for: a
crash after the write loses budget (conservative) but can never spend more than the limit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from processors.backends.base import Price
from processors.errors import InvalidBudgetError


@dataclass(frozen=True, slots=True)
class Budget:
    """A tenant's limits; ``None`` leaves that dimension unlimited."""

    shots: float | None = None
    cost: float | None = None


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


class BudgetLedger:
    """Atomically debits tenants against their budgets.

    Args:
        store: Spent amounts, keys ``"<tenant>/shots"`` and ``"<tenant>/cost"``, each with a
            ``"@<writer>"`` suffix when ``writer`` is set.
        limits: Budget per tenant.
        default: Budget for tenants not in ``limits``; None means they are unlimited.
        writer: This process's counter suffix. Several workers sharing one store each add to
            their own counter and read the sum of all of them, so no worker overwrites
            another's spending (last-writer-wins on one shared key would under-count).

    Raises:
        InvalidBudgetError: a configured budget is malformed (refuse to start).

    """

    def __init__(
        self,
        store: MutableMapping[str, float],
        limits: Mapping[str, Budget],
        *,
        default: Budget | None = None,
        writer: str = "",
    ) -> None:
        for tenant, budget in list(limits.items()) + [("<default>", default or Budget())]:
            problem = check_budget(budget)
            if problem is not None:
                raise InvalidBudgetError(f"tenant {tenant}: {problem}")
        self._store = store
        self._limits = dict(limits)
        self._default = default
        self._suffix = f"@{writer}" if writer else ""
        self._lock = threading.Lock()

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

    def _total(self, key: str) -> float:
        return sum(
            float(v) for k, v in list(self._store.items()) if k == key or k.startswith(key + "@")
        )

    def spent(self, tenant: str) -> tuple[float, float]:
        """Return (shots, cost) spent so far by ``tenant``, every writer's counter summed."""
        return self._total(f"{tenant}/shots"), self._total(f"{tenant}/cost")

    def try_debit(self, tenant: str, shots: int, cost: float) -> bool:
        """Charge ``shots`` and ``cost`` if both fit; return whether it was charged.

        Nothing is written when the charge does not fit, so a refused set costs nothing.
        """
        if shots < 0 or not math.isfinite(cost) or cost < 0:
            raise ValueError("a debit must be non-negative and finite")
        with self._lock:
            budget = self._limits.get(tenant, self._default)
            spent_shots, spent_cost = self.spent(tenant)
            if budget is not None:
                if budget.shots is not None and spent_shots + shots > budget.shots:
                    return False
                if budget.cost is not None and spent_cost + cost > budget.cost + 1e-12:
                    return False
            # Shots first, then cost: a crash between the two under-counts cost for a set
            # that was never submitted, which cannot lead to overspending.
            own_shots, own_cost = f"{tenant}/shots{self._suffix}", f"{tenant}/cost{self._suffix}"
            self._store[own_shots] = float(self._store.get(own_shots, 0.0)) + shots
            self._store[own_cost] = float(self._store.get(own_cost, 0.0)) + cost
            return True


__all__ = ["Budget", "BudgetLedger", "check_budget", "estimate_cost"]
