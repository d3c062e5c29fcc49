"""The benchmark's orchestration: the interleaved repetitions and the remote comparison."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from streams.bench.direct import LIMIT_OPTIONS, DirectRunner
from streams.bench.pipeline_run import QloopRun, interactive_latency, run_qloop
from streams.bench.report import machine_info, print_table, targets
from streams.bench.rss import PeakRss
from streams.bench.stats import extrapolate, latency_summary, median, ratio
from streams.bench.workloads import BenchCase, Values, estimator_case, sampler_case
from streams.client import QloopClient
from streams.config import Settings, load_settings

#: Worker tuning used by the bench (throughput and interactive runs share one stack).
BENCH_TUNING: dict[str, int] = {"max_batch": 1024, "max_wait_ms": 20, "max_in_flight": 2}

console = Console(stderr=True, soft_wrap=True)


@dataclass
class _Samples:
    limit: list[float] = field(default_factory=list)
    limit_best: list[str] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    runs: list[QloopRun] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)
    #: CPU seconds the fastest direct run spent simulating, per repetition.
    limit_cpu: list[float] = field(default_factory=list)
    #: Microseconds of qloop CPU per set outside the simulator, per repetition.
    cpu_us: list[float] = field(default_factory=list)


def _entry(n: int, s: _Samples, naive_sample: int) -> dict[str, Any]:
    limit_s, naive_s = median(s.limit), median(s.naive)
    stored_s = median([r.seconds_stored for r in s.runs])
    results_s = median([r.seconds_results for r in s.runs])
    latencies = [x for r in s.runs for x in r.latencies_ms]
    submissions = int(median([r.submissions for r in s.runs]))
    return {
        "n": n,
        "repetitions": len(s.runs),
        "seconds": {
            "limit": round(limit_s, 3),
            "qloop": round(stored_s, 3),
            "qloop_to_last_result": round(results_s, 3),
            "naive": round(naive_s, 3),
        },
        "sets_per_s": {
            "limit": round(n / limit_s, 1) if limit_s else 0.0,
            "qloop": round(n / stored_s, 1) if stored_s else 0.0,
            "naive": round(n / naive_s, 1) if naive_s else 0.0,
        },
        "efficiency": ratio(limit_s, stored_s),
        "efficiency_to_last_result": ratio(limit_s, results_s),
        "speedup_vs_naive": ratio(naive_s, stored_s),
        "latency_ms": latency_summary(latencies),
        "backend_submissions": submissions,
        "sets_per_submission": ratio(n, submissions),
        "compile_cache_hits": int(median([r.cache_hits for r in s.runs])),
        "failed_sets": sum(r.failed for r in s.runs),
        "limit_options": max(set(s.limit_best), key=s.limit_best.count) if s.limit_best else "",
        "naive_extrapolated_from": naive_sample if naive_sample < n else None,
        "peak_rss_mib": s.rss,
        "pipeline_cpu_us_per_set": round(median(s.cpu_us), 1) if s.cpu_us else None,
    }


def _time_limit(runner: DirectRunner, w: BenchCase, values: Values, s: _Samples) -> None:
    timings, cpu = [], []
    for opts in LIMIT_OPTIONS:
        started = time.process_time()
        timings.append(runner.limit(w, values, opts))
        cpu.append(time.process_time() - started)
    best = min(range(len(timings)), key=timings.__getitem__)
    s.limit.append(timings[best])
    s.limit_cpu.append(cpu[best])
    s.limit_best.append(",".join(f"{k}={v}" for k, v in LIMIT_OPTIONS[best].items()))


def bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    from streams.local.broker import free_port

    base = {
        "data_dir": data_dir,
        "kafka_port": free_port(),
        "topic_prefix": f"qbench{uuid.uuid4().hex[:6]}.",
        **BENCH_TUNING,
    }
    return load_settings(**{**base, **overrides})


def run_bench(quick: bool, json_out: bool) -> dict[str, Any]:
    """Run the benchmark; progress on stderr; return the JSON-able figures.

    ``--quick``: N = 1,000 only, 3 repetitions, small naive samples (extrapolated). Without
    ``json_out`` a summary table is also printed to stdout. The remote overhead is
    ``QLOOP_BACKEND_OVERHEAD_MS`` when set above 0, else 500 ms.
    """
    from streams.local.stack import LocalStack

    sizes = (1000,) if quick else (100, 1000, 10_000)
    reps = 3
    naive_cap = 20 if quick else 100
    configured = load_settings().backend_overhead_ms
    overhead_ms = configured if configured > 0 else 500.0
    workloads = [sampler_case(8), sampler_case(12), estimator_case(8)]
    runner = DirectRunner()
    began = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="qloop-bench-"))
    settings = bench_settings(data_dir / "main")
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine_info(),
        "tuning": dict(BENCH_TUNING),
        "workloads": {w.name: {} for w in workloads},
    }
    try:
        with PeakRss() as rss, LocalStack(settings) as stack:
            rss.watch("bench", os.getpid())
            rss.watch("worker", stack.worker_pid)
            _watch_children(rss, stack.worker_pid)
            console.print(f"[bold]stack up[/] in {time.perf_counter() - began:.1f}s")
            with QloopClient(settings) as client:
                for w in workloads:
                    client.register_template(w.template)
                for w in workloads:  # warm-up: compile once per template, load Aer, JIT paths
                    run_qloop(client, w, w.values(50, seed=1), dsn=None)
                    runner.limit(w, w.values(50, seed=1), LIMIT_OPTIONS[0])
                    runner.naive(w, w.values(2, seed=1))
                rss.take()
                for n in sizes:
                    samples = {w.name: _Samples() for w in workloads}
                    naive_n = min(n, naive_cap)
                    for rep in range(reps):
                        for w in workloads:
                            values = w.values(n, seed=1000 * rep + n)
                            s = samples[w.name]
                            _time_limit(runner, w, values, s)
                            rss.take()
                            cpu = _QloopCpu(stack.worker_pid)
                            run = run_qloop(client, w, values, dsn=settings.dsn)
                            s.cpu_us.append(cpu.per_set_us(len(values), s.limit_cpu[-1]))
                            for name, peak in rss.take().items():
                                s.rss[name] = max(s.rss.get(name, 0.0), peak)
                            s.runs.append(run)
                            s.naive.append(
                                extrapolate(runner.naive(w, values[:naive_n]), naive_n, n)
                            )
                            console.print(
                                f"N={n} rep {rep + 1}/{reps} {w.name}: "
                                f"limit {s.limit[-1]:.2f}s qloop {run.seconds_stored:.2f}s "
                                f"(results {run.seconds_results:.2f}s, {run.submissions} subs) "
                                f"naive {s.naive[-1]:.2f}s"
                            )
                    for w in workloads:
                        out["workloads"][w.name][str(n)] = _entry(n, samples[w.name], naive_n)
                console.print("[bold]interactive latency[/] (4 qubits, 20 sets/s)")
                small = sampler_case(4, reps=1)
                client.register_template(small.template)
                interactive_latency(client, small, 20.0, 1.0)  # warm-up
                out["interactive_latency_ms"] = interactive_latency(client, small, 20.0, 4.0)
            out["remote"] = _remote(settings, data_dir, workloads[0], runner, overhead_ms, quick)
            out["remote"]["peak_rss_mib"] = rss.take()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    out["total_seconds"] = round(time.perf_counter() - began, 1)
    out["targets"] = targets(out)
    if not json_out:
        print_table(out)
    return out


class _QloopCpu:
    """CPU of the qloop processes across a run: the worker, and this one (client and sink).

    ``per_set_us`` subtracts what the simulator alone spent on the same sets (the direct run's
    CPU), so that the figure is qloop's plumbing: decode, validate, ledger, encode, insert.
    """

    def __init__(self, worker_pid: int | None) -> None:
        import psutil

        self._worker = psutil.Process(worker_pid) if worker_pid else None
        self._start = self._now()

    def _now(self) -> float:
        worker = 0.0
        if self._worker is not None:
            times = self._worker.cpu_times()
            worker = times.user + times.system
        return worker + time.process_time()

    def per_set_us(self, sets: int, simulator_cpu_s: float) -> float:
        """Microseconds of CPU per set outside the simulator, since construction."""
        spent = self._now() - self._start - simulator_cpu_s
        return round(max(0.0, spent) / sets * 1e6, 1)


def _watch_children(rss: PeakRss, worker_pid: int | None) -> None:
    import psutil

    for child in psutil.Process().children(recursive=False):
        if child.pid != worker_pid:
            rss.watch(f"broker:{child.pid}", child.pid)


def _remote(
    base: Settings,
    data_dir: Path,
    workload: BenchCase,
    runner: DirectRunner,
    overhead_ms: float,
    quick: bool,
) -> dict[str, Any]:
    """Time qloop and the naive way at N = 100, every submission paying ``overhead_ms``."""
    from streams.local.stack import LocalStack

    n, reps, sample = 100, 3, (3 if quick else 10)
    console.print(f"[bold]remote[/]: {overhead_ms:.0f} ms per submission, N={n}")
    settings = bench_settings(
        data_dir / "remote", kafka_bootstrap=base.bootstrap, backend_overhead_ms=overhead_ms
    )
    qloop_s: list[float] = []
    naive_s: list[float] = []
    subs: list[int] = []
    with LocalStack(settings, sink=False) as _stack, QloopClient(settings) as client:
        client.register_template(workload.template)
        run_qloop(client, workload, workload.values(10, seed=1), dsn=None)  # warm-up
        for rep in range(reps):
            values = workload.values(n, seed=rep)
            run = run_qloop(client, workload, values, dsn=None)
            qloop_s.append(run.seconds_results)
            subs.append(run.submissions)
            naive_s.append(
                extrapolate(runner.naive(workload, values[:sample], overhead_ms / 1000), sample, n)
            )
            console.print(
                f"remote rep {rep + 1}/{reps}: qloop {qloop_s[-1]:.2f}s "
                f"({run.submissions} subs) naive {naive_s[-1]:.1f}s"
            )
    q, nv = median(qloop_s), median(naive_s)
    return {
        "workload": workload.name,
        "n": n,
        "overhead_ms": overhead_ms,
        "seconds": {"qloop": round(q, 3), "naive": round(nv, 3)},
        "speedup_vs_naive": ratio(nv, q),
        "backend_submissions": int(median(subs)),
        "sets_per_submission": ratio(n, int(median(subs))),
        "naive_extrapolated_from": sample,
        "qloop_timed_to": "last result event (worker-only stack, no sink)",
    }


__all__ = ["BENCH_TUNING", "run_bench"]
