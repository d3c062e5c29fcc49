"""SLIs and SLOs over the per-minute views of migration 002.

Everything is computed in SQL from ``qloop.sli_results_minute`` / ``qloop.sli_jobs_minute``
(kept up to date by materialized views), so a report over 30 days reads 30 * 1440 small rows
per key, never the raw results. Indicators:

* ``success_rate``: SUCCEEDED / executed (SUCCEEDED + FAILED + DEGRADED). Rejections and budget
  refusals are the caller's doing and do not burn the service's budget.
* ``availability``: executed results not failed by a ``backend_error`` / executed.
* ``latency_<stage>``: share of executed results within ``threshold_ms``, exact from the
  histograms; thresholds must be bucket bounds (:data:`LATENCY_BUCKETS_MS`).

Burn rate = (1 - SLI) / (1 - objective): 1.0 spends the error budget exactly over the window,
above 1 spends it faster (alert on e.g. > 14.4 over 1 h for a 30-day budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.retry import RetryPolicy, with_retry

# Must equal the `bounds` array of migration 002 (a unit test checks it).
LATENCY_BUCKETS_MS: tuple[int, ...] = (
    1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 5000, 7500,
    10000, 15000, 20000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000, 4294967295,
)  # fmt: skip


class Indicator(StrEnum):
    """What an SLO measures."""

    SUCCESS_RATE = "success_rate"
    AVAILABILITY = "availability"
    LATENCY_QUEUE = "latency_queue"
    LATENCY_COMPILE = "latency_compile"
    LATENCY_EXECUTE = "latency_execute"
    LATENCY_END_TO_END = "latency_end_to_end"


# Column prefixes per latency indicator: fixed identifiers, never user input.
_LATENCY_COLUMN = {
    Indicator.LATENCY_QUEUE: "queue",
    Indicator.LATENCY_COMPILE: "compile",
    Indicator.LATENCY_EXECUTE: "execute",
    Indicator.LATENCY_END_TO_END: "end_to_end",
}


@dataclass(frozen=True, slots=True)
class SLO:
    """A service-level objective, e.g. ``SLO("sim-e2e", "aer_*", LATENCY_END_TO_END, 0.99, 2000)``.

    Attributes:
        name: Label for reports.
        backend_pattern: Glob over backend names (``*`` any run, ``?`` one character).
        indicator: What is measured.
        objective: Target share of good events, 0 < objective < 1 (0.999 = "three nines").
        threshold_ms: Latency bound for latency indicators; must be in LATENCY_BUCKETS_MS.
        tenant_pattern: Glob over tenants.

    """

    name: str
    backend_pattern: str
    indicator: Indicator
    objective: float
    threshold_ms: int | None = None
    tenant_pattern: str = "*"

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise ValueError(f"SLO {self.name}: objective must be in (0, 1), got {self.objective}")
        if self.indicator in _LATENCY_COLUMN:
            if self.threshold_ms not in LATENCY_BUCKETS_MS:
                raise ValueError(
                    f"SLO {self.name}: threshold_ms must be a histogram bucket bound "
                    f"({', '.join(map(str, LATENCY_BUCKETS_MS[:-1]))}), got {self.threshold_ms}"
                )
        elif self.threshold_ms is not None:
            raise ValueError(f"SLO {self.name}: threshold_ms only applies to latency indicators")


@dataclass(frozen=True, slots=True)
class SLIRow:
    """One SLO evaluated for one backend over the report window.

    ``sli``, ``burn_rate`` and ``met`` are ``None`` when the window holds no events.
    ``budget_remaining`` is 1 - burn_rate (negative once the budget is overspent).
    """

    slo: str
    backend: str
    indicator: Indicator
    objective: float
    good: int
    total: int
    sli: float | None
    burn_rate: float | None
    budget_remaining: float | None
    met: bool | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    window_start: datetime
    window_end: datetime


def glob_to_like(pattern: str) -> str:
    """Translate a glob (``*``, ``?``) into a LIKE pattern, escaping LIKE's own wildcards."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _good_total(indicator: Indicator) -> tuple[str, str, str]:
    """Return SQL for (good, total, quantiles): fixed expressions, values stay bound."""
    if indicator is Indicator.SUCCESS_RATE:
        return (
            "sum(succeeded)",
            "sum(executed)",
            "quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(end_to_end_q)",
        )
    if indicator is Indicator.AVAILABILITY:
        return (
            "sum(executed) - sum(backend_errors)",
            "sum(executed)",
            "quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(end_to_end_q)",
        )
    col = _LATENCY_COLUMN[indicator]
    return (
        f"arraySum(mapValues(mapFilter((k, v) -> k <= {{threshold:UInt32}}, sumMap({col}_h))))",
        f"arraySum(mapValues(sumMap({col}_h)))",
        f"quantilesExactInclusiveMerge(0.5, 0.95, 0.99)({col}_q)",
    )  # fmt: skip


def sli_report(
    client: Client,
    since: timedelta,
    slos: list[SLO],
    *,
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
) -> list[SLIRow]:
    """Evaluate every SLO per matching backend over ``[now - since, now]``.

    The window is aligned down to whole minutes (the views' resolution). Burn rate and
    attainment are computed in SQL with the objective bound as a parameter.
    """
    end = (now or datetime.now(UTC)).astimezone(UTC)
    start = (end - since).replace(second=0, microsecond=0)
    out: list[SLIRow] = []
    for slo in slos:
        good, total, quantiles = _good_total(slo.indicator)
        sql = f"""
            SELECT backend, good, total,
                   if(total = 0, NULL, good / total) AS sli,
                   if(total = 0, NULL, (1 - good / total) / (1 - {{objective:Float64}})) AS burn,
                   q
            FROM (
                SELECT backend, toUInt64({good}) AS good, toUInt64({total}) AS total,
                       {quantiles} AS q
                FROM qloop.sli_results_minute
                WHERE minute >= {{start:DateTime64(6)}} AND minute <= {{end:DateTime64(6)}}
                  AND backend LIKE {{backend:String}} AND tenant LIKE {{tenant:String}}
                GROUP BY backend
            )
            ORDER BY backend"""  # noqa: S608 -- identifiers from a fixed table; values are bound
        params: dict[str, Any] = {
            "objective": slo.objective,
            "start": start.replace(tzinfo=None),
            "end": end.replace(tzinfo=None),
            "backend": glob_to_like(slo.backend_pattern),
            "tenant": glob_to_like(slo.tenant_pattern),
            "threshold": slo.threshold_ms or 0,
        }
        result = with_retry(
            lambda sql=sql, params=params: client.query(sql, parameters=params),  # type: ignore[misc]
            f"SLI query for {slo.name}",
            retry or RetryPolicy(),
        )
        for backend, good_n, total_n, sli, burn, q in result.result_rows:
            has_q = total_n > 0 and q and q[0] == q[0]  # NaN != NaN: no executed results
            out.append(
                SLIRow(
                    slo=slo.name,
                    backend=str(backend),
                    indicator=slo.indicator,
                    objective=slo.objective,
                    good=int(good_n),
                    total=int(total_n),
                    sli=None if sli is None else float(sli),
                    burn_rate=None if burn is None else float(burn),
                    budget_remaining=None if burn is None else 1.0 - float(burn),
                    met=None if sli is None else float(sli) >= slo.objective,
                    p50_ms=float(q[0]) if has_q else None,
                    p95_ms=float(q[1]) if has_q else None,
                    p99_ms=float(q[2]) if has_q else None,
                    window_start=start,
                    window_end=end,
                )
            )
    return out


__all__ = ["LATENCY_BUCKETS_MS", "SLIRow", "SLO", "Indicator", "glob_to_like", "sli_report"]
