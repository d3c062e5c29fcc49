"""Graceful degradation: what runs when a batch's backend is marked down or would be too late.

A device marked down (``qloop backends down``) is replaced, for the tenants whose policy allows
it, by a local simulator with that device's coupling map, basis gates and calibrated noise: the
results come back ``DEGRADED``, with the reason and the simulator that ran them, never silently
as if the device had. Sets of other tenants, and sets for a backend that has no stand-in (a
simulator), fail as ``backend_unavailable`` before anything is charged.

A set whose device is up but whose predicted wait would miss its deadline is sent to the same
stand-in by placement (:mod:`processors.placement`), for the tenants whose policy allows it: its
backend becomes ``stand-in:<device>`` (:mod:`processors.stand_in`), so it is batched apart from the
device's other sets, and its result is ``DEGRADED`` with why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from processors.backends.base import BackendAdapter
from processors.pending import PendingSet
from processors.results import Outcome
from schemas import ErrorCode, ResultStatus

NO_STAND_IN = "no simulator stands in for it"


@runtime_checkable
class HasFallback(Protocol):
    """An adapter that can name a local stand-in for itself (IBM devices, real or fake)."""

    def fallback(self) -> BackendAdapter | None:
        """A simulator with this backend's noise model (None: there is none)."""
        ...


@dataclass(frozen=True, slots=True)
class DegradationPolicy:
    """Which tenants may be served by a stand-in simulator; ``"*"`` means every tenant."""

    tenants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tenants: Collection[str]) -> DegradationPolicy:
        """The policy from configuration (``QLOOP_DEGRADE_TENANTS``)."""
        return cls(frozenset(tenants))

    def allows(self, tenant: str) -> bool:
        """Whether ``tenant`` accepts degraded results."""
        return "*" in self.tenants or tenant in self.tenants


@dataclass(frozen=True, slots=True)
class Degraded:
    """The plan for a batch whose backend is down: what runs, why, and whom it refuses."""

    adapter: BackendAdapter | None
    reason: str
    refuse: Callable[[PendingSet], Outcome | None]

    @property
    def message(self) -> str:
        """What every degraded result says."""
        ran = self.adapter.name if self.adapter is not None else "nothing"
        return f"{self.reason}; ran on {ran} with the device's noise model"


def unavailable(message: str) -> Outcome:
    """A final, uncharged outcome for a set whose backend is down."""
    return Outcome(
        status=ResultStatus.FAILED,
        error_code=ErrorCode.BACKEND_UNAVAILABLE,
        error_message=message,
    )


def plan(
    adapter: BackendAdapter, why: str, policy: DegradationPolicy, *, late: bool = False
) -> Degraded:
    """Decide how a batch for ``adapter``, marked down because ``why``, is served.

    ``late``: the device is up, but its predicted wait would miss the sets' deadlines.
    """
    if late:
        reason = f"{adapter.name} would miss the deadline: {why}"
    elif why:
        reason = f"{adapter.name} is marked down: {why}"
    else:
        reason = f"{adapter.name} is marked down"
    stand_in = adapter.fallback() if isinstance(adapter, HasFallback) else None
    if stand_in is None:  # every set fails alike: the caller turns the plan into one outcome
        return Degraded(None, reason, lambda _pending: None)
    refused = unavailable(f"{reason}; this tenant's policy does not allow a simulator fallback")
    return Degraded(
        stand_in,
        reason,
        lambda pending: None if policy.allows(pending.update.tenant) else refused,
    )


__all__ = [
    "NO_STAND_IN",
    "DegradationPolicy",
    "Degraded",
    "HasFallback",
    "plan",
    "unavailable",
]
