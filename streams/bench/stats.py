"""Pure statistics of the benchmark: percentiles, medians, extrapolation and ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (and max) of ``values``, rounded to 0.1."""
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values, default=0.0), 1),
    }


def median(values: Sequence[float]) -> float:
    """Median, 0.0 for no values."""
    return float(statistics.median(values)) if values else 0.0


def extrapolate(sample_seconds: float, sample_n: int, n: int) -> float:
    """Seconds for ``n`` sets given ``sample_n`` sets took ``sample_seconds`` (linear)."""
    return sample_seconds / sample_n * n if sample_n else 0.0


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` rounded to 3 places; 0.0 when undefined."""
    return round(numerator / denominator, 3) if denominator > 0 else 0.0


__all__ = ["extrapolate", "latency_summary", "median", "percentile", "ratio"]
