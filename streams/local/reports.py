"""Read-backs for people: the SLI rows that ``qloop run`` and ``qloop sli`` show.

Plain dicts, so the same rows serve a rich table, JSON output and the run summary.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from streams.config import Settings


def sli_rows(settings: Settings, since: timedelta) -> list[dict[str, Any]]:
    """Evaluate the configured SLOs over ``since`` (as plain dicts for JSON and tables)."""
    from sinks.query import ReadOnlyClient
    from sinks.sli import SLO, Indicator, sli_report

    slos = [SLO(**{**s, "indicator": Indicator(s["indicator"])}) for s in settings.slos]
    rows = sli_report(ReadOnlyClient(settings.dsn), since, slos)  # type: ignore[arg-type]
    return [
        {
            "slo": r.slo,
            "backend": r.backend,
            "indicator": str(r.indicator),
            "objective": r.objective,
            "good": r.good,
            "total": r.total,
            "sli": r.sli,
            "burn_rate": r.burn_rate,
            "budget_remaining": r.budget_remaining,
            "met": r.met,
            "p50_ms": r.p50_ms,
            "p95_ms": r.p95_ms,
            "p99_ms": r.p99_ms,
        }
        for r in rows
    ]


__all__ = ["sli_rows"]
