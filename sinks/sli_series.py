"""Per-minute SLI time series and submission statistics, read from the SLI views.

Where :mod:`sinks.sli` answers "are we within our SLOs", this module returns the raw series a
dashboard or ``qloop sli`` table plots: one point per minute, backend and tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

_Q = tuple[float, float, float] | None


@dataclass(frozen=True, slots=True)
class SLIPoint:
    """One minute of one backend and tenant; quantiles are (p50, p95, p99) in ms or ``None``."""

    minute: datetime
    backend: str
    tenant: str
    results: int
    executed: int
    succeeded: int
    success_rate: float | None
    availability: float | None
    throughput_per_s: float
    cost: float
    shots: int
    queue_ms: _Q
    compile_ms: _Q
    execute_ms: _Q
    end_to_end_ms: _Q


@dataclass(frozen=True, slots=True)
class SubmissionStats:
    """Submissions of one backend over a window; ``retries`` = set submissions beyond the first."""

    backend: str
    jobs: int
    parameter_sets: int
    distinct_sets: int
    retries: int
    cache_hit_rate: float | None
    estimated_cost: float


def _q(values: list[float]) -> _Q:
    if not values or values[0] != values[0]:  # NaN: no executed results that minute
        return None
    return (float(values[0]), float(values[1]), float(values[2]))


def _utc(value: datetime) -> datetime:
    # chDB returns DateTime('UTC') values naive; they are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def sli_series(
    client: Client,
    since: timedelta,
    *,
    now: datetime | None = None,
    backend: str | None = None,
    tenant: str | None = None,
) -> list[SLIPoint]:
    """Per-minute points over ``[now - since, now]``, optionally for one backend and/or tenant."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    start = (end - since).replace(second=0, microsecond=0)
    rows = client.query(
        """
        SELECT minute, backend, tenant, sum(results), sum(executed), sum(succeeded),
               if(sum(executed) = 0, NULL, sum(succeeded) / sum(executed)),
               if(sum(executed) = 0, NULL, 1 - sum(backend_errors) / sum(executed)),
               sum(results) / 60, sum(cost), sum(shots),
               quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(queue_q),
               quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(compile_q),
               quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(execute_q),
               quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(end_to_end_q)
        FROM qloop.sli_results_minute
        WHERE minute >= {start:DateTime64(6)} AND minute <= {end:DateTime64(6)}
          AND ({backend:Nullable(String)} IS NULL OR backend = {backend:Nullable(String)})
          AND ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
        GROUP BY minute, backend, tenant
        ORDER BY minute, backend, tenant
        """,
        parameters={
            "start": start.replace(tzinfo=None),
            "end": end.replace(tzinfo=None),
            "backend": backend,
            "tenant": tenant,
        },
    ).result_rows
    return [
        SLIPoint(
            minute=_utc(r[0]),
            backend=str(r[1]),
            tenant=str(r[2]),
            results=int(r[3]),
            executed=int(r[4]),
            succeeded=int(r[5]),
            success_rate=None if r[6] is None else float(r[6]),
            availability=None if r[7] is None else float(r[7]),
            throughput_per_s=float(r[8]),
            cost=float(r[9]),
            shots=int(r[10]),
            queue_ms=_q(r[11]),
            compile_ms=_q(r[12]),
            execute_ms=_q(r[13]),
            end_to_end_ms=_q(r[14]),
        )
        for r in rows
    ]


def submission_stats(
    client: Client, since: timedelta, *, now: datetime | None = None
) -> list[SubmissionStats]:
    """Jobs, parameter sets, distinct sets and retries per backend over the window."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    start = (end - since).replace(second=0, microsecond=0)
    rows = client.query(
        """
        SELECT backend, sum(jobs), sum(parameter_sets), uniqExactMerge(distinct_sets),
               if(sum(jobs) = 0, NULL, sum(cache_hits) / sum(jobs)), sum(estimated_cost)
        FROM qloop.sli_jobs_minute
        WHERE minute >= {start:DateTime64(6)} AND minute <= {end:DateTime64(6)}
        GROUP BY backend ORDER BY backend
        """,
        parameters={"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)},
    ).result_rows
    return [
        SubmissionStats(
            backend=str(b),
            jobs=int(j),
            parameter_sets=int(p),
            distinct_sets=int(d),
            retries=max(0, int(p) - int(d)),
            cache_hit_rate=None if h is None else float(h),
            estimated_cost=float(c),
        )
        for b, j, p, d, h, c in rows
    ]


__all__ = ["SLIPoint", "SubmissionStats", "sli_series", "submission_stats"]
