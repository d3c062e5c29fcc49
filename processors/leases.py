"""Slot leases: a provider's concurrency limit held by the whole worker group, not per worker.

A provider allows so many jobs at once (IBM Quantum's pending-job limit, a cloud quota). Each
worker has its own in-flight slots, so N workers would put N times the load on it. A *lease*
is a slot of the group's: before a submission runs, its worker asks for one in the shared log
(the ledger topic), and every reader decides the request in log order, as budget claims are
decided, so two workers asking for the last slot at once cannot both get it.

Interactive sets never wait behind a bulk backlog: a bulk request carries a ``cap`` below the
limit, so the last slot(s) are left for the interactive lane, whose requests may take any of
the ``limit``. A limit of 1 reserves nothing (bulk would never run).

A lease ends when its holder frees it, or ``ttl_s`` after it was taken or last renewed (the
holder crashed): expiry is judged against each record's own timestamp, so every reader agrees
on it. A holder renews its lease while its job runs, so a job that waits hours in a provider's
queue keeps its slot however short the TTL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """A request for one of ``limit`` slots of ``backend``, made at ``at`` (epoch seconds).

    ``cap``: granted only while fewer than this many are held (a bulk request's, which leaves
    the interactive lane's reserve free); None means the limit.
    """

    lease_id: str
    backend: str
    limit: int
    ttl_s: float
    at: float
    cap: int | None = None


def lane_cap(limit: int, interactive: bool, reserved: int) -> int:
    """How many held slots a request may find and still be granted.

    The interactive lane may take every slot; bulk leaves ``reserved`` of them free, but never
    all of them (a limit of 1 reserves nothing).
    """
    if interactive:
        return limit
    return max(1, limit - reserved)


class LeaseBook:
    """Decides lease requests in log order, deterministically (as budget claims are decided).

    Not thread-safe: the log's single reader applies records one at a time.
    """

    def __init__(self) -> None:
        #: backend -> lease id -> when it expires (epoch seconds).
        self._held: dict[str, dict[str, float]] = {}

    def take(self, request: LeaseRequest) -> bool:
        """Grant ``request`` if fewer than its limit are held at its time; return the verdict."""
        held = self._held.setdefault(request.backend, {})
        for lease_id in [k for k, expires in held.items() if expires <= request.at]:
            del held[lease_id]
        if len(held) >= (request.limit if request.cap is None else request.cap):
            return False
        held[request.lease_id] = request.at + request.ttl_s
        return True

    def renew(self, backend: str, lease_id: str, at: float, ttl_s: float) -> bool:
        """Extend a lease still held at ``at`` to ``at + ttl_s``; False if it had expired."""
        held = self._held.get(backend, {})
        expires = held.get(lease_id)
        if expires is None or expires <= at:
            held.pop(lease_id, None)
            return False
        held[lease_id] = at + ttl_s
        return True

    def free(self, backend: str, lease_id: str) -> None:
        """End a lease (a no-op for one refused, expired or already freed)."""
        self._held.get(backend, {}).pop(lease_id, None)

    def held(self, backend: str, now: float) -> int:
        """Leases of ``backend`` held and unexpired at ``now``."""
        return sum(1 for expires in self._held.get(backend, {}).values() if expires > now)


__all__ = ["LeaseBook", "LeaseRequest", "lane_cap"]
