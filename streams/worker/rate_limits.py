"""Per-tenant rate limits: sets per second and shots per minute, as token buckets.

A tenant over its rate waits where its sets enter the batcher: the agent that took the set
stops taking input from that partition, so the excess stays in Kafka as consumer lag and is
never refused for being early. A set whose deadline passes while it waits is dead-lettered as
``expired`` instead of run late. The buckets are aiolimiter's (a leaky bucket of ``burst_s``
seconds' worth of tokens), one per tenant and worker: with N workers a tenant's rate is at most
N times its limit, so set it per worker (the README says how to size it).

The wait is head-of-line: sets of other tenants behind a held set on the same partition wait
too. Multi-tenant mode, where each tenant has its own input topic, keeps tenants apart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiolimiter import AsyncLimiter

from processors.errors import ConfigurationError
from processors.intake import Intake
from processors.pending import PendingSet
from processors.validation import Rejection
from schemas import DeadLetter, ErrorCode

#: The key of the limit that applies to tenants without one of their own.
ANY_TENANT = "*"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A tenant's limits; ``None`` leaves that dimension unlimited."""

    sets_per_s: float | None = None
    shots_per_min: float | None = None
    #: Seconds' worth of tokens a tenant idle for a while may spend at once.
    burst_s: float = 1.0

    @classmethod
    def parse(cls, tenant: str, raw: Mapping[str, float]) -> RateLimit:
        """``{"sets_per_s": 20, "shots_per_min": 1e6, "burst_s": 1}`` -> a limit.

        Raises:
            ConfigurationError: an unknown key, or a value that is not a number > 0.

        """
        unknown = set(raw) - {"sets_per_s", "shots_per_min", "burst_s"}
        if unknown:
            raise ConfigurationError(f"rate limit of {tenant}: unknown keys {sorted(unknown)}")
        for key, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(
                    f"rate limit of {tenant}: {key} must be a number > 0, not {value!r}"
                )
        return cls(raw.get("sets_per_s"), raw.get("shots_per_min"), raw.get("burst_s", 1.0))


class RateLimitTooSmallError(ValueError):
    """A single set needs more than the tenant's whole bucket: it can never run."""


class TenantRateLimits:
    """One pair of buckets per tenant, created on first use."""

    def __init__(self, limits: Mapping[str, RateLimit]) -> None:
        self._limits = dict(limits)
        self._sets: dict[str, AsyncLimiter | None] = {}
        self._shots: dict[str, AsyncLimiter | None] = {}
        #: tenant -> seconds its sets waited for tokens (a metric).
        self.waited_s: dict[str, float] = {}

    @classmethod
    def of(cls, raw: Mapping[str, Mapping[str, float]]) -> TenantRateLimits | None:
        """From settings (``QLOOP_RATE_LIMITS``); None when no tenant is limited."""
        if not raw:
            return None
        return cls({tenant: RateLimit.parse(tenant, limit) for tenant, limit in raw.items()})

    def _buckets(self, tenant: str) -> tuple[AsyncLimiter | None, AsyncLimiter | None]:
        if tenant not in self._sets:
            limit = self._limits.get(tenant) or self._limits.get(ANY_TENANT) or RateLimit()
            per_s, per_min = limit.sets_per_s, limit.shots_per_min
            capacity = None if per_s is None else max(1.0, per_s * limit.burst_s)  # >= one set
            self._sets[tenant] = (
                None
                if per_s is None or capacity is None
                else AsyncLimiter(capacity, capacity / per_s)
            )
            self._shots[tenant] = None if per_min is None else AsyncLimiter(per_min, 60.0)
        return self._sets[tenant], self._shots[tenant]

    async def acquire(self, tenant: str, shots: int | None) -> float:
        """Wait until ``tenant`` may send one more set of ``shots``; return the seconds waited.

        Raises:
            RateLimitTooSmallError: the set alone needs more shots than a minute's bucket holds.

        """
        sets, shot_bucket = self._buckets(tenant)
        if sets is None and shot_bucket is None:
            return 0.0
        if shot_bucket is not None and shots and shots > shot_bucket.max_rate:
            raise RateLimitTooSmallError(
                f"{shots} shots exceed tenant {tenant}'s limit of "
                f"{shot_bucket.max_rate:g} shots per minute"
            )
        started = time.monotonic()
        if sets is not None:
            await sets.acquire()
        if shot_bucket is not None and shots:
            await shot_bucket.acquire(shots)
        waited = time.monotonic() - started
        self.waited_s[tenant] = self.waited_s.get(tenant, 0.0) + waited
        return waited

    async def admit(self, pending: PendingSet, intake: Intake) -> DeadLetter | None:
        """Wait for ``pending``'s tenant's tokens; a dead letter if it can never run, or late."""
        update = pending.update
        try:
            waited = await self.acquire(update.tenant, update.shots)
        except RateLimitTooSmallError as exc:
            refusal = Rejection(ErrorCode.SHOTS_OUT_OF_RANGE, str(exc))
            return intake.reject(refusal, "rate_limit", pending.source, pending.raw, update=update)
        if waited and update.deadline is not None and update.deadline < datetime.now(UTC):
            refusal = Rejection(
                ErrorCode.EXPIRED,
                f"deadline {update.deadline.isoformat()} passed while tenant {update.tenant} "
                f"was held to its rate limit ({waited:.1f} s)",
            )
            return intake.reject(refusal, "rate_limit", pending.source, pending.raw, update=update)
        return None


__all__ = ["ANY_TENANT", "RateLimit", "RateLimitTooSmallError", "TenantRateLimits"]
