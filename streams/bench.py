"""``qloop bench``: the pipeline against the raw simulator limit and the naive way.

Four ways evaluate the same parameter sets, interleaved, several repetitions, medians quoted:

- **limit**: Qiskit directly, no Kafka; each template transpiled once (outside the timing),
  all sets in one Aer call, with the fastest Aer run options of :data:`LIMIT_OPTIONS` (each is
  run every repetition and the fastest counts).
- **qloop**: the full pipeline on one :class:`~streams.runtime.LocalStack`, a fresh experiment
  id per repetition, timed from the first produce to the last stored row in ClickHouse
  (``max(ingested_at)`` of the experiment's rows); per-event latency is the result's
  ``timings.end_to_end_ms`` (produce to result event).
- **naive**: per set bind, transpile, run one job and wait. At large N a sample of sets is
  timed and the total extrapolated; the output says so (``naive_extrapolated_from``).
- **remote**: qloop against a worker whose backends pay a fixed per-submission overhead,
  versus the naive way paying it per job (sleep), N = 100.

Progress goes to stderr; :func:`run_bench` returns one JSON-able dict.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit import transpile
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimator
from rich.console import Console
from rich.table import Table

from processors.templates import make_template
from schemas import CircuitTemplate, JobResult, ParameterUpdate, Primitive, ResultStatus
from streams.client import QloopClient, new_update
from streams.config import Settings, load_settings

Values = npt.NDArray[np.float64]

#: Aer run options tried for the limit (measured on a 2-core box: runtime binding is the big win).
LIMIT_OPTIONS: tuple[dict[str, Any], ...] = (
    {"runtime_parameter_bind_enable": True},
    {"runtime_parameter_bind_enable": True, "max_parallel_experiments": 0},
)
#: Worker tuning used by the bench (throughput and interactive runs share one stack).
BENCH_TUNING: dict[str, int] = {"max_batch": 1024, "max_wait_ms": 20, "max_in_flight": 2}
SHOTS = 1024
SEED_TRANSPILER = 1234

console = Console(stderr=True, soft_wrap=True)


# --------------------------------------------------------------------------- pure helpers
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


# --------------------------------------------------------------------------- workloads
@dataclass(frozen=True)
class Workload:
    """A circuit, how it is evaluated, and its registered template."""

    name: str
    circuit: QuantumCircuit
    primitive: Primitive
    observable: SparsePauliOp | None = None
    template: CircuitTemplate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "template", make_template(self.circuit, f"bench-{self.name}", self.observable)
        )

    @property
    def shots(self) -> int | None:
        """Shots per set (None: exact estimator)."""
        return SHOTS if self.primitive is Primitive.SAMPLER else None

    def values(self, n: int, seed: int) -> Values:
        """``n`` random parameter sets in [0, 2 pi)."""
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 2 * np.pi, (n, self.circuit.num_parameters))


def sampler_workload(num_qubits: int, reps: int = 3) -> Workload:
    """Hardware-efficient ansatz (``efficient_su2``) plus ``measure_all``."""
    circuit = efficient_su2(num_qubits, reps=reps)
    circuit.measure_all()
    return Workload(f"sampler_{num_qubits}q", circuit, Primitive.SAMPLER)


def estimator_workload(num_qubits: int = 8) -> Workload:
    """``efficient_su2`` with a (num_qubits - 1)-term nearest-neighbour ZZ observable."""
    circuit = efficient_su2(num_qubits)
    terms = [
        ("I" * (num_qubits - i - 2) + "ZZ" + "I" * i, 1.0 / (i + 1)) for i in range(num_qubits - 1)
    ]
    return Workload(
        f"estimator_{num_qubits}q", circuit, Primitive.ESTIMATOR, SparsePauliOp.from_list(terms)
    )


# --------------------------------------------------------------------------- limit and naive
class DirectRunner:
    """The two no-Kafka ways: the limit (compile once, one call) and the naive loop."""

    def __init__(self) -> None:
        self.simulator = AerSimulator(method="automatic")
        self.estimator = AerEstimator(options={"backend_options": {"method": "automatic"}})
        self._compiled: dict[str, QuantumCircuit] = {}

    def compiled(self, workload: Workload) -> QuantumCircuit:
        """The transpiled circuit (estimator: with one exact ``save_expectation_value``)."""
        circuit = self._compiled.get(workload.name)
        if circuit is None:
            circuit = transpile(
                workload.circuit,
                self.simulator,
                optimization_level=1,
                seed_transpiler=SEED_TRANSPILER,
            )
            if workload.observable is not None:
                observable = workload.observable.apply_layout(circuit.layout)
                circuit = circuit.copy()
                circuit.save_expectation_value(observable, range(circuit.num_qubits), label="ev")
            self._compiled[workload.name] = circuit
        return circuit

    def limit(self, workload: Workload, values: Values, options: dict[str, Any]) -> float:
        """Seconds for one Aer call over all of ``values`` (results read out)."""
        circuit = self.compiled(workload)
        binds = [{p: values[:, j].tolist() for j, p in enumerate(circuit.parameters)}]
        started = time.perf_counter()
        result = self.simulator.run(
            [circuit], parameter_binds=binds, shots=workload.shots or 1, seed_simulator=1, **options
        ).result()
        if workload.primitive is Primitive.SAMPLER:
            out: list[Any] = [r.data.counts for r in result.results]
        else:
            out = [result.data(k)["ev"] for k in range(len(values))]
        elapsed = time.perf_counter() - started
        if len(out) != len(values) or not result.success:
            raise RuntimeError(f"limit run of {workload.name} returned {len(out)} results")
        return elapsed

    def naive(self, workload: Workload, values: Values, overhead_s: float = 0.0) -> float:
        """Seconds for the per-set loop: bind, transpile, run one job, wait (plus overhead)."""
        started = time.perf_counter()
        for row in values:
            bound = workload.circuit.assign_parameters(row)
            circuit = transpile(bound, self.simulator, optimization_level=1)
            if overhead_s:
                time.sleep(overhead_s)
            if workload.observable is None:
                self.simulator.run(circuit, shots=SHOTS).result().get_counts()
            else:
                pub = (circuit, workload.observable.apply_layout(circuit.layout))
                self.estimator.run([pub]).result()
        return time.perf_counter() - started


# --------------------------------------------------------------------------- memory
class PeakRss:
    """Samples the RSS of named processes every ``interval_s``; ``take`` returns and resets."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._psutil = psutil
        self._procs: dict[str, Any] = {}
        self._peaks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def watch(self, name: str, pid: int | None) -> None:
        """Start sampling ``pid`` under ``name`` (ignored when None or gone)."""
        if pid is None:
            return
        try:
            with self._lock:
                self._procs[name] = self._psutil.Process(pid)
        except self._psutil.Error:
            pass

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> None:
        """Take one sample of every watched process."""
        with self._lock:
            for name, proc in list(self._procs.items()):
                try:
                    rss = proc.memory_info().rss / 2**20
                except self._psutil.Error:
                    continue
                self._peaks[name] = max(self._peaks.get(name, 0.0), rss)

    def take(self) -> dict[str, float]:
        """Peak MiB per process since the last ``take``."""
        self.sample()
        with self._lock:
            peaks, self._peaks = self._peaks, {}
        return {k: round(v, 1) for k, v in peaks.items()}

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


# --------------------------------------------------------------------------- qloop runs
@dataclass(frozen=True)
class QloopRun:
    """One timed pipeline run."""

    seconds_stored: float
    seconds_results: float
    latencies_ms: list[float]
    submissions: int
    cache_hits: int
    failed: int


def _updates(workload: Workload, values: Values, experiment: str) -> Iterator[ParameterUpdate]:
    # A generator: each update is stamped (produced_at) right before it is produced.
    for row in values:
        yield new_update(
            workload.template,
            row.tolist(),
            experiment_id=experiment,
            primitive=workload.primitive,
            shots=workload.shots,
        )


def _stored(dsn: str, experiment: str) -> tuple[int, datetime | None]:
    from sinks.query import query

    _cols, rows = query(
        dsn,
        "SELECT uniqExact(event_id), max(ingested_at) FROM qloop.results "
        "WHERE experiment_id = {e:String}",
        {"e": experiment},
    )
    count, last = rows[0]
    if isinstance(last, datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return int(count), last if isinstance(last, datetime) else None


def _jobs(dsn: str, experiment: str) -> tuple[int, int]:
    from sinks.query import query

    _cols, rows = query(
        dsn,
        "SELECT uniqExact(job_id), uniqExactIf(job_id, compile_cache_hit) FROM qloop.jobs "
        "WHERE job_id IN (SELECT job_id FROM qloop.results WHERE experiment_id = {e:String})",
        {"e": experiment},
    )
    return int(rows[0][0]), int(rows[0][1])


def run_qloop(
    client: QloopClient,
    workload: Workload,
    values: Values,
    *,
    dsn: str | None,
    timeout_s: float = 600.0,
) -> QloopRun:
    """Produce every set, wait for the results (and, with ``dsn``, the stored rows)."""
    experiment = f"bench-{workload.name}-{uuid.uuid4().hex[:8]}"
    wall0 = datetime.now(UTC)
    started = time.perf_counter()
    futures = client.submit(_updates(workload, values, experiment))
    results: list[JobResult] = [f.result(timeout_s) for f in futures.values()]
    seconds_results = time.perf_counter() - started
    seconds_stored = seconds_results
    submissions = len({r.job_id for r in results if r.job_id})
    cache_hits = -1
    if dsn is not None:
        deadline = time.monotonic() + timeout_s
        count, last = _stored(dsn, experiment)
        while count < len(values) and time.monotonic() < deadline:
            time.sleep(0.1)  # each query opens a client: poll gently, max(ingested_at) is exact
            count, last = _stored(dsn, experiment)
        if last is not None and count >= len(values):
            seconds_stored = (last - wall0).total_seconds()
        for _ in range(40):  # the jobs rows may land one sink flush after the results
            stored_jobs, cache_hits = _jobs(dsn, experiment)
            if stored_jobs >= submissions:
                submissions = stored_jobs
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
    client: QloopClient, workload: Workload, rate_per_s: float, duration_s: float
) -> dict[str, Any]:
    """Single sets at a steady rate: client-side produce-to-result and worker end-to-end."""
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
            [new_update(workload.template, row.tolist(), experiment_id="bench-interactive")]
        ).values()

        def done(_f: object, index: int = i) -> None:
            received[index] = time.perf_counter()

        future.add_done_callback(done)
        results.append(future)
    finished = [f.result(30) for f in results]
    client_ms = [(received[i] - sent[i]) * 1000 for i in range(len(values))]
    return {
        "sets": len(values),
        "rate_per_s": rate_per_s,
        "client_ms": latency_summary(client_ms),
        "end_to_end_ms": latency_summary([r.timings.end_to_end_ms for r in finished]),
        "p50": round(percentile(client_ms, 50), 1),
        "p99": round(percentile(client_ms, 99), 1),
    }


# --------------------------------------------------------------------------- orchestration
def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, versions."""
    import psutil

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("qiskit", "qiskit-aer", "faust-streaming", "confluent-kafka", "chdb"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


@dataclass
class _Samples:
    limit: list[float] = field(default_factory=list)
    limit_best: list[str] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    runs: list[QloopRun] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)


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
    }


def _time_limit(runner: DirectRunner, w: Workload, values: Values, s: _Samples) -> None:
    timings = [runner.limit(w, values, opts) for opts in LIMIT_OPTIONS]
    best = min(range(len(timings)), key=timings.__getitem__)
    s.limit.append(timings[best])
    s.limit_best.append(",".join(f"{k}={v}" for k, v in LIMIT_OPTIONS[best].items()))


def _bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    from streams.broker import free_port

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
    from streams.runtime import LocalStack

    sizes = (1000,) if quick else (100, 1000, 10_000)
    reps = 3
    naive_cap = 20 if quick else 100
    configured = load_settings().backend_overhead_ms
    overhead_ms = configured if configured > 0 else 500.0
    workloads = [sampler_workload(8), sampler_workload(12), estimator_workload(8)]
    runner = DirectRunner()
    began = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="qloop-bench-"))
    settings = _bench_settings(data_dir / "main")
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
                            run = run_qloop(client, w, values, dsn=settings.dsn)
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
                small = sampler_workload(4, reps=1)
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


def _watch_children(rss: PeakRss, worker_pid: int | None) -> None:
    import psutil

    for child in psutil.Process().children(recursive=False):
        if child.pid != worker_pid:
            rss.watch(f"broker:{child.pid}", child.pid)


def _remote(
    base: Settings,
    data_dir: Path,
    workload: Workload,
    runner: DirectRunner,
    overhead_ms: float,
    quick: bool,
) -> dict[str, Any]:
    """Time qloop and the naive way at N = 100, every submission paying ``overhead_ms``."""
    from streams.runtime import LocalStack

    n, reps, sample = 100, 3, (3 if quick else 10)
    console.print(f"[bold]remote[/]: {overhead_ms:.0f} ms per submission, N={n}")
    settings = _bench_settings(
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


def targets(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, with the measured value and whether it is met."""
    w = out["workloads"]
    checks: dict[str, Any] = {}

    def check(name: str, value: float | None, ok: Callable[[float], bool]) -> None:
        if value is not None:
            checks[name] = {"value": value, "met": bool(ok(value))}

    s8 = w.get("sampler_8q", {}).get("1000")
    est = w.get("estimator_8q", {}).get("1000")
    check("efficiency_sampler_8q_n1000>=0.9", s8 and s8["efficiency"], lambda v: v >= 0.9)
    check("speedup_sampler_8q>=5", s8 and s8["speedup_vs_naive"], lambda v: v >= 5)
    check("speedup_estimator_8q>=12", est and est["speedup_vs_naive"], lambda v: v >= 12)
    remote = out.get("remote")
    if remote:
        check(
            "remote_speedup/sets_per_submission>=0.5",
            ratio(remote["speedup_vs_naive"], remote["sets_per_submission"]),
            lambda v: v >= 0.5,
        )
    inter = out.get("interactive_latency_ms")
    check("interactive_p99<=100ms", inter and inter["p99"], lambda v: v <= 100)
    small, large = w.get("sampler_8q", {}).get("1000"), w.get("sampler_8q", {}).get("10000")
    if small and large:
        growth = large["peak_rss_mib"].get("worker", 0) - small["peak_rss_mib"].get("worker", 0)
        check("worker_rss_growth_1k_to_10k_mib<=100", round(growth, 1), lambda v: v <= 100)
    return checks


def table_rows(out: dict[str, Any]) -> list[list[str]]:
    """Rows of the summary table (also used for BENCHMARKS.md)."""
    rows = []
    for name, by_n in out["workloads"].items():
        for n, e in by_n.items():
            sps, lat, rss = e["sets_per_s"], e["latency_ms"], e["peak_rss_mib"]
            naive = f"{sps['naive']}" + ("*" if e["naive_extrapolated_from"] else "")
            rows.append(
                [
                    name,
                    n,
                    f"{sps['limit']}",
                    f"{sps['qloop']}",
                    naive,
                    f"{e['efficiency']} ({e['efficiency_to_last_result']})",
                    f"{e['speedup_vs_naive']}",
                    f"{lat['p50']}/{lat['p95']}/{lat['p99']}",
                    f"{e['backend_submissions']} ({e['compile_cache_hits']} hits)",
                    "{:.0f}/{:.0f}".format(rss.get("worker", 0), rss.get("bench", 0)),
                ]
            )
    return rows


HEADERS = [
    "workload",
    "N",
    "limit sets/s",
    "qloop sets/s",
    "naive sets/s",
    "efficiency (to last result)",
    "speedup vs naive",
    "latency p50/p95/p99 ms",
    "submissions (cache hits)",
    "peak RSS MiB worker/bench",
]


def print_table(out: dict[str, Any]) -> None:
    """Print the summary as a rich table on stdout."""
    table = Table(*HEADERS, title="qloop bench (medians)")
    for row in table_rows(out):
        table.add_row(*row)
    stdout = Console()
    stdout.print(table)
    stdout.print("* naive extrapolated from a sample of sets")
    stdout.print(f"remote: {out.get('remote')}")
    stdout.print(f"interactive: {out.get('interactive_latency_ms')}")
    stdout.print(f"targets: {out.get('targets')}")


def markdown_table(out: dict[str, Any]) -> str:
    """The summary table as GitHub markdown."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(out)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m streams.bench [--quick] [--json] [--markdown FILE]`` (until the CLI has it)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m streams.bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    out = run_bench(args.quick, args.json)
    text = json.dumps(out, indent=2, default=str)
    if args.json:
        print(text)  # noqa: T201 - the command's output
    if args.save:
        args.save.write_text(text)


if __name__ == "__main__":
    main()


__all__ = [
    "DirectRunner",
    "PeakRss",
    "Workload",
    "estimator_workload",
    "extrapolate",
    "latency_summary",
    "markdown_table",
    "median",
    "percentile",
    "ratio",
    "run_bench",
    "run_qloop",
    "sampler_workload",
]
