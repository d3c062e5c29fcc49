"""Timed runs through the qloop pipeline, each ended by its stored rows in ClickHouse."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import JobResult, ParameterUpdate, ResultStatus
from streams.bench.stats import latency_summary, percentile
from streams.bench.workloads import BenchCase, Values
from streams.client import QloopClient, new_update


@dataclass(frozen=True)
class QloopRun:
    """One timed pipeline run."""

    seconds_stored: float
    seconds_results: float
    latencies_ms: list[float]
    submissions: int
    cache_hits: int
    failed: int


def _updates(
    workload: BenchCase, values: Values, experiment: str, backend: str
) -> Iterator[ParameterUpdate]:
    # A generator: each update is stamped (produced_at) right before it is produced.
    for row in values:
        yield new_update(
            workload.template,
            row.tolist(),
            experiment_id=experiment,
            primitive=workload.primitive,
            shots=workload.shots,
            backend=backend,
        )


def run_qloop(
    client: QloopClient,
    workload: BenchCase,
    values: Values,
    *,
    dsn: str | None,
    timeout_s: float = 600.0,
    backend: str = "aer_simulator",
) -> QloopRun:
    """Produce every set, wait for the results (and, with ``dsn``, the stored rows)."""
    experiment = f"bench-{workload.name}-{uuid.uuid4().hex[:8]}"
    wall0 = datetime.now(UTC)
    started = time.perf_counter()
    futures = client.submit(_updates(workload, values, experiment, backend))
    results: list[JobResult] = [f.result(timeout_s) for f in futures.values()]
    seconds_results = time.perf_counter() - started
    seconds_stored = seconds_results
    submissions = len({r.job_id for r in results if r.job_id})
    cache_hits = -1
    if dsn is not None:
        from sinks.experiments import experiment_jobs, stored_results

        deadline = time.monotonic() + timeout_s
        stored = stored_results(dsn, experiment)
        while stored.events < len(values) and time.monotonic() < deadline:
            time.sleep(0.1)  # each query opens a client: poll gently, max(ingested_at) is exact
            stored = stored_results(dsn, experiment)
        if stored.last_ingested_at is not None and stored.events >= len(values):
            seconds_stored = (stored.last_ingested_at - wall0).total_seconds()
        for _ in range(40):  # the jobs rows may land one sink flush after the results
            jobs = experiment_jobs(dsn, experiment)
            cache_hits = jobs.jobs_with_cache_hit
            if jobs.jobs >= submissions:
                submissions = jobs.jobs
                break
            time.sleep(0.05)
    return QloopRun(
        seconds_stored=seconds_stored,
        seconds_results=seconds_results,
        latencies_ms=[r.timings.end_to_end_ms for r in results],
        submissions=submissions,
        cache_hits=cache_hits,
        failed=sum(1 for r in results if r.status is not ResultStatus.SUCCEEDED),
    )


def interactive_latency(
    client: QloopClient,
    workload: BenchCase,
    rate_per_s: float,
    duration_s: float,
    *,
    priority: int = 0,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Single sets at a steady rate: client-side produce-to-result and worker end-to-end.

    ``priority`` above 0 sends them in the interactive lane.
    """
    values = workload.values(int(rate_per_s * duration_s), seed=7)
    sent: list[float] = []
    received: dict[int, float] = {}
    results = []
    start = time.perf_counter()
    for i, row in enumerate(values):
        delay = start + i / rate_per_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent.append(time.perf_counter())
        (future,) = client.submit(
            [new_update(workload.template, row.tolist(), experiment_id="bench-interactive",
                        priority=priority)]
        ).values()  # fmt: skip

        def done(_f: object, index: int = i) -> None:
            received[index] = time.perf_counter()

        future.add_done_callback(done)
        results.append(future)
    finished = [f.result(timeout_s) for f in results]
    client_ms = [(received[i] - sent[i]) * 1000 for i in range(len(values))]
    return {
        "sets": len(values),
        "rate_per_s": rate_per_s,
        "client_ms": latency_summary(client_ms),
        "end_to_end_ms": latency_summary([r.timings.end_to_end_ms for r in finished]),
        "p50": round(percentile(client_ms, 50), 1),
        "p99": round(percentile(client_ms, 99), 1),
    }


__all__ = ["QloopRun", "interactive_latency", "run_qloop"]
