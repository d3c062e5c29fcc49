"""``qloop bench --backend null``: what qloop itself costs per set, with nothing to simulate.

The sets of each bench case go through the whole local stack (client, broker, worker, sink,
ClickHouse) to the instant ``null`` backend (:mod:`processors.backends.null`). The figures:

- ``sets_per_s``: wall throughput, first produce to last stored row (and to last result);
- ``cpu_us_per_set``: CPU per set of the worker process, of this process (the client, its
  result listener and the sink thread with its embedded ClickHouse) and of the broker;
- ``sets_per_core_s``: sets per CPU-second of the qloop processes (worker and this one), the
  throughput one fully used core would give. The issue's target is 10,000. The broker's CPU
  is reported beside it, not in it: it is Kafka's, sized separately (README, sizing).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from streams.bench.pipeline_run import run_qloop
from streams.bench.report import machine_info
from streams.bench.stats import median
from streams.bench.workloads import estimator_case, sampler_case
from streams.client import QloopClient
from streams.config import Settings

console = Console(stderr=True, soft_wrap=True)
BACKEND = "null"
TARGET_SETS_PER_CORE_S = 10_000


class _Cpu:
    """CPU seconds of the worker, of this process and of the broker(s), since construction."""

    def __init__(self, worker_pid: int | None) -> None:
        me = psutil.Process()
        self._worker = psutil.Process(worker_pid) if worker_pid else None
        self._brokers = [c for c in me.children() if c.pid != worker_pid]
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        def cpu(p: psutil.Process | None) -> float:
            if p is None:
                return 0.0
            t = p.cpu_times()
            return float(t.user + t.system)

        return cpu(self._worker), time.process_time(), sum(cpu(b) for b in self._brokers)

    def spent(self) -> tuple[float, float, float]:
        now = self._now()
        return now[0] - self._start[0], now[1] - self._start[1], now[2] - self._start[2]


def run_plumbing(settings: Settings, quick: bool) -> dict[str, Any]:
    """Time each bench case against the null backend; return the JSON-able figures."""
    from streams.local.stack import LocalStack

    n = 5_000 if quick else 20_000
    reps = 3
    cases = [sampler_case(8), sampler_case(12), estimator_case(8)]
    began = time.perf_counter()
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": BACKEND,
        "quick": quick,
        "machine": machine_info(),
        "n": n,
        "workloads": {},
    }
    with LocalStack(settings) as stack, QloopClient(settings) as client:
        console.print(f"[bold]stack up[/] in {time.perf_counter() - began:.1f}s")
        for case in cases:
            client.register_template(case.template)
            run_qloop(client, case, case.values(200, seed=1), dsn=None, backend=BACKEND)
        for case in cases:
            rows: list[dict[str, float]] = []
            for rep in range(reps):
                cpu = _Cpu(stack.worker_pid)
                run = run_qloop(
                    client, case, case.values(n, seed=rep), dsn=settings.dsn, backend=BACKEND
                )
                worker_s, own_s, broker_s = cpu.spent()
                rows.append(
                    {
                        "stored_s": run.seconds_stored,
                        "results_s": run.seconds_results,
                        "worker_us": worker_s / n * 1e6,
                        "client_and_sink_us": own_s / n * 1e6,
                        "broker_us": broker_s / n * 1e6,
                        "failed": run.failed,
                    }
                )
                console.print(
                    f"{case.name} rep {rep + 1}/{reps}: {n / run.seconds_stored:,.0f} sets/s "
                    f"stored, qloop CPU {(worker_s + own_s) / n * 1e6:,.0f} us/set "
                    f"(broker {broker_s / n * 1e6:,.0f})"
                )
            out["workloads"][case.name] = _summary(n, rows)
    out["total_seconds"] = round(time.perf_counter() - began, 1)
    out["target_sets_per_core_s"] = TARGET_SETS_PER_CORE_S
    return out


def _summary(n: int, rows: list[dict[str, float]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return median([r[key] for r in rows])

    qloop_us = med("worker_us") + med("client_and_sink_us")
    return {
        "repetitions": len(rows),
        "sets_per_s": {
            "stored": round(n / med("stored_s"), 1),
            "results": round(n / med("results_s"), 1),
        },
        "cpu_us_per_set": {
            "worker": round(med("worker_us"), 1),
            "client_and_sink": round(med("client_and_sink_us"), 1),
            "qloop": round(qloop_us, 1),
            "broker": round(med("broker_us"), 1),
        },
        "sets_per_core_s": round(1e6 / qloop_us, 1) if qloop_us else None,
        "failed_sets": int(sum(r["failed"] for r in rows)),
    }


def plumbing_settings(data_dir: Path, base: Settings) -> Settings:
    """``base`` with the null backend allowed (it never is by default)."""
    allowed = (*base.allowed_backends, BACKEND)
    return base.model_copy(update={"allowed_backends": allowed, "data_dir": data_dir})


def bench_plumbing(quick: bool) -> dict[str, Any]:
    """Run :func:`run_plumbing` on a fresh local stack in a temporary directory."""
    from streams.bench.runner import bench_settings

    data_dir = Path(tempfile.mkdtemp(prefix="qloop-plumbing-"))
    try:
        base = bench_settings(data_dir / "main")
        return run_plumbing(plumbing_settings(data_dir / "main", base), quick)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


__all__ = ["BACKEND", "TARGET_SETS_PER_CORE_S", "bench_plumbing", "run_plumbing"]

if __name__ == "__main__":  # pragma: no cover - python -m streams.bench.plumbing [--quick]
    import json
    import sys

    print(json.dumps(bench_plumbing("--quick" in sys.argv), indent=2))  # noqa: T201
