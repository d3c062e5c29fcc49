"""Placement: a set may ask for a class of backend (``simulator``, ``hardware:ibm``) instead of one.

The class's members are tried as the operator listed them (``QLOOP_BACKEND_CLASSES``). A member
is a candidate when it can be built (allowed, credentials present), is not marked down and is
wide enough for the circuit. With a deadline, only candidates whose predicted wait ends before
it stay; among those the cheapest for the set's shots wins, then the shortest predicted wait.
When none can meet the deadline, the one with the shortest wait runs the set anyway (it may
still make it; the result says so). When every member is marked down, the first one is chosen,
so that the down-backend policy applies (a stand-in simulator for tenants that allow it,
``backend_unavailable`` otherwise).

The predicted wait of a backend is its recent seconds per submission (an exponential moving
average of what this worker measured) times the submissions ahead of the set: those running
here, plus the provider's own queue where it reports one (IBM's ``pending_jobs``).

A set that would miss its deadline on the device chosen (named, or the class member with the
shortest wait) goes to that device's stand-in simulator instead, when its tenant's degradation
policy allows it and the device has one: its backend becomes ``stand-in:<device>``
(:mod:`processors.degradation`) and its result comes back ``DEGRADED`` with the reason. Other
tenants' sets run on the device anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from processors.backends.base import BackendAdapter
from processors.degradation import DegradationPolicy, HasFallback
from processors.pending import PendingSet
from processors.stand_in import stand_in_name

#: Labels a placed set's result carries: the class it asked for, and why this member.
CLASS_LABEL = "qloop.backend_class"
REASON_LABEL = "qloop.placement"


class QueueModel:
    """Seconds per submission per backend, as an exponential moving average (thread-safe)."""

    def __init__(self, alpha: float = 0.2, initial_s: float = 1.0) -> None:
        self._alpha = alpha
        self._initial = initial_s
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, backend: str, seconds: float) -> None:
        """One submission on ``backend`` took ``seconds``."""
        with self._lock:
            old = self._seconds.get(backend)
            self._seconds[backend] = seconds if old is None else old + self._alpha * (seconds - old)

    def per_submission(self, backend: str) -> float:
        """The current estimate (``initial_s`` before anything was seen)."""
        with self._lock:
            return self._seconds.get(backend, self._initial)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member of a class that could run the set, with what it would cost and wait."""

    name: str
    cost: float
    wait_s: float


class Placement:
    """Resolves a class in ``update.backend`` to one backend (other names pass unchanged).

    Args:
        classes: Class name -> member backend names, in the operator's order of preference.
        backends: Builds an adapter by name (raises if it cannot: not allowed, no token).
        marked_down: Why a backend is marked down (None while it is up).
        model: Seconds per submission per backend.
        now: The wall clock (UTC), to compare with deadlines.
        default_shots: The shots of a set that names none (for its cost).
        degradation: The tenants whose late sets may run on a stand-in simulator.

    """

    def __init__(
        self,
        classes: Mapping[str, tuple[str, ...]],
        backends: Callable[[str], BackendAdapter],
        marked_down: Callable[[str], str | None],
        model: QueueModel,
        now: Callable[[], datetime],
        default_shots: int = 1024,
        degradation: DegradationPolicy | None = None,
    ) -> None:
        self.classes = {name: tuple(members) for name, members in classes.items()}
        self._degradation = degradation or DegradationPolicy()
        self._stands_in: dict[str, bool] = {}
        self._backends = backends
        self._marked_down = marked_down
        self.model = model
        self._now = now
        self._default_shots = default_shots

    def applies(self, pending: PendingSet) -> bool:
        """Whether :meth:`place` may change the set: a class, or a deadline it could miss."""
        u = pending.update
        if u.backend in self.classes:
            return True
        return u.deadline is not None and self._degradation.allows(u.tenant)

    def place(self, pending: PendingSet, running: Mapping[str, int]) -> PendingSet | str:
        """The set with its backend chosen, or why no member of its class can take it.

        ``running``: submissions in flight per backend in this worker.
        """
        update = pending.update
        members = self.classes.get(update.backend)
        if members is None:
            return self._in_time(pending, running)
        width = pending.template.num_qubits
        up: list[Candidate] = []
        down: list[str] = []
        refused: list[str] = []
        for name in members:
            try:
                adapter = self._backends(name)
            except Exception as exc:  # not allowed, unknown, no credentials: not a candidate
                refused.append(f"{name}: {type(exc).__name__}")
                continue
            if adapter.num_qubits < width:
                refused.append(f"{name}: {adapter.num_qubits} qubits")
                continue
            if self._marked_down(name) is not None:
                down.append(name)
                continue
            shots = update.shots or self._default_shots
            wait = self._wait(name, adapter, running)
            up.append(Candidate(name, adapter.price.per_shot * shots, wait))
        if not up and not down:
            return f"no backend of class {update.backend!r} can run it ({'; '.join(refused)})"
        if not up:
            return self._resolved(pending, down[0], f"every member is marked down; {down[0]}")
        fits = up
        if update.deadline is not None:
            left = (update.deadline - self._now()).total_seconds()
            fits = [c for c in up if c.wait_s <= left]
        if not fits:
            best = min(up, key=lambda c: c.wait_s)
            why = f"none meets the deadline; shortest predicted wait ({best.wait_s:.1f} s)"
            if self._may_stand_in(pending, best.name):
                return self._resolved(pending, stand_in_name(best.name), f"{why}; stand-in")
            return self._resolved(pending, best.name, why)
        best = min(fits, key=lambda c: (c.cost, c.wait_s))
        why = f"cheapest of {len(fits)} (cost {best.cost:g}, predicted wait {best.wait_s:.1f} s)"
        return self._resolved(pending, best.name, why)

    def _in_time(self, pending: PendingSet, running: Mapping[str, int]) -> PendingSet:
        """A named device, up, whose predicted wait misses the deadline: its stand-in."""
        update = pending.update
        if update.deadline is None or not self._may_stand_in(pending, update.backend):
            return pending
        if self._marked_down(update.backend) is not None:
            return pending  # the down-backend policy decides, at admission
        wait = self._wait(update.backend, self._backends(update.backend), running)
        left = (update.deadline - self._now()).total_seconds()
        if wait <= left:
            return pending
        why = f"predicted wait {wait:.1f} s, {max(left, 0.0):.1f} s to the deadline; stand-in"
        labels = {**update.labels, REASON_LABEL: why}
        backend = stand_in_name(update.backend)
        return replace(pending, update=replace(update, backend=backend, labels=labels))

    def _wait(self, name: str, adapter: BackendAdapter, running: Mapping[str, int]) -> float:
        """Predicted seconds until a set sent to ``name`` now would have run."""
        queued = getattr(adapter, "pending_jobs", None)  # the provider's own queue, if known
        ahead = running.get(name, 0) + (queued() if callable(queued) else 0)
        return self.model.per_submission(name) * (ahead + 1)

    def _may_stand_in(self, pending: PendingSet, device: str) -> bool:
        """The tenant accepts degraded results and ``device`` has a stand-in simulator."""
        if not self._degradation.allows(pending.update.tenant):
            return False
        known = self._stands_in.get(device)
        if known is None:
            try:
                adapter = self._backends(device)
            except Exception:  # not allowed, unknown: admission refuses it
                return False
            # Built once per device: a stand-in's noise model is made from its calibration.
            known = isinstance(adapter, HasFallback) and adapter.fallback() is not None
            self._stands_in[device] = known
        return known

    @staticmethod
    def _resolved(pending: PendingSet, backend: str, why: str) -> PendingSet:
        update = pending.update
        labels = {**update.labels, CLASS_LABEL: update.backend, REASON_LABEL: why}
        return replace(pending, update=replace(update, backend=backend, labels=labels))


__all__ = ["CLASS_LABEL", "REASON_LABEL", "Candidate", "Placement", "QueueModel"]
