"""The benchmark's pure helpers and its two no-Kafka ways, on tiny inputs (no timing asserts)."""

from __future__ import annotations

import numpy as np
import pytest

from schemas import Primitive
from streams.bench.direct import LIMIT_OPTIONS, DirectRunner
from streams.bench.report import markdown_table, targets
from streams.bench.rss import PeakRss
from streams.bench.stats import extrapolate, latency_summary, median, percentile, ratio
from streams.bench.workloads import estimator_case, sampler_case


@pytest.mark.parametrize("q", [0, 10, 50, 95, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([4.0], 99) == 4.0


def test_latency_summary_keys_and_rounding() -> None:
    summary = latency_summary([float(v) for v in range(1, 101)])
    assert summary == {"p50": 50.5, "p95": 95.0, "p99": 99.0, "max": 100.0}


def test_median_ratio_extrapolate() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([]) == 0.0
    assert ratio(1.0, 3.0) == 0.333
    assert ratio(1.0, 0.0) == 0.0
    assert extrapolate(2.0, 20, 1000) == pytest.approx(100.0)
    assert extrapolate(2.0, 0, 1000) == 0.0


def test_workloads_shape() -> None:
    sampler = sampler_case(4, reps=1)
    assert sampler.primitive is Primitive.SAMPLER
    assert sampler.shots == 1024
    assert sampler.template.num_qubits == 4
    values = sampler.values(3, seed=1)
    assert values.shape == (3, sampler.circuit.num_parameters)
    assert np.array_equal(values, sampler.values(3, seed=1))
    estimator = estimator_case(4)
    assert estimator.shots is None
    assert estimator.observable is not None and len(estimator.observable) == 3
    assert estimator.template.observables is not None


def test_limit_and_naive_run_on_tiny_inputs() -> None:
    runner = DirectRunner()
    for workload in (sampler_case(3, reps=1), estimator_case(3)):
        values = workload.values(4, seed=2)
        for options in LIMIT_OPTIONS:
            assert runner.limit(workload, values, options) > 0
        assert runner.naive(workload, values[:2]) > 0


def test_limit_estimator_agrees_with_naive_estimator() -> None:
    # The limit's single save_expectation_value must compute what Aer's EstimatorV2 computes.
    workload = estimator_case(3)
    runner = DirectRunner()
    values = workload.values(3, seed=3)
    circuit = runner.compiled(workload)
    binds = [{p: values[:, j].tolist() for j, p in enumerate(circuit.parameters)}]
    result = runner.simulator.run([circuit], parameter_binds=binds, shots=1).result()
    limit_evs = [float(np.real(result.data(k)["ev"])) for k in range(3)]
    assert workload.observable is not None
    pub = (workload.circuit, workload.observable, values)
    reference = runner.estimator.run([pub]).result()[0].data.evs
    assert limit_evs == pytest.approx(list(reference), abs=1e-9)


def test_peak_rss_tracks_this_process() -> None:
    import os

    rss = PeakRss()
    rss.watch("me", os.getpid())
    rss.watch("nobody", None)
    peaks = rss.take()
    assert set(peaks) == {"me"} and peaks["me"] > 0
    assert rss.take()["me"] > 0  # a take resets, the next sample refills


def _entry(efficiency: float, speedup: float, worker_rss: float) -> dict[str, object]:
    return {
        "efficiency": efficiency,
        "efficiency_to_last_result": efficiency,
        "speedup_vs_naive": speedup,
        "sets_per_s": {"limit": 10.0, "qloop": 5.0, "naive": 1.0},
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        "backend_submissions": 2,
        "compile_cache_hits": 2,
        "naive_extrapolated_from": 20,
        "peak_rss_mib": {"worker": worker_rss, "bench": 1.0},
    }


def test_targets_and_markdown() -> None:
    out = {
        "workloads": {
            "sampler_8q": {"1000": _entry(0.95, 6.0, 300.0), "10000": _entry(0.9, 6.0, 500.0)},
            "estimator_8q": {"1000": _entry(0.5, 10.0, 300.0)},
        },
        "interactive_latency_ms": {"p50": 40.0, "p99": 90.0},
        "remote": {"speedup_vs_naive": 40.0, "sets_per_submission": 50.0},
    }
    checks = targets(out)
    assert checks["efficiency_sampler_8q_n1000>=0.8"]["met"] is True
    assert checks["efficiency_estimator_8q_n1000>=0.5"] == {"value": 0.5, "met": True}
    assert checks["speedup_estimator_8q>=12"]["met"] is False
    assert checks["interactive_p99<=100ms"]["met"] is True
    assert checks["remote_speedup/sets_per_submission>=0.5"]["value"] == 0.8
    assert checks["worker_rss_growth_1k_to_10k_mib<=100"]["met"] is False
    assert "pipeline_cpu_us_per_set_estimator_8q<=100" not in checks  # not measured: no check
    out["workloads"]["estimator_8q"]["1000"]["pipeline_cpu_us_per_set"] = 812.5
    assert targets(out)["pipeline_cpu_us_per_set_estimator_8q<=100"] == {
        "value": 812.5,
        "met": False,
    }
    table = markdown_table(out)
    assert table.count("\n") == 4  # header, rule, three rows
    assert "20.0*" not in table and "1.0*" in table  # extrapolated naive is starred


def test_plumbing_summary_counts_qloop_cpu_and_leaves_the_broker_beside_it() -> None:
    from streams.bench.plumbing import _summary

    rows = [
        {"stored_s": s, "results_s": s - 0.1, "worker_us": w, "client_and_sink_us": c,
         "broker_us": 900.0, "failed": 0}
        for s, w, c in ((2.0, 300.0, 200.0), (4.0, 700.0, 300.0), (2.5, 400.0, 100.0))
    ]  # fmt: skip
    out = _summary(1000, rows)
    assert out["sets_per_s"]["stored"] == 400.0  # the median run: 2.5 s
    assert out["cpu_us_per_set"] == {
        "worker": 400.0, "client_and_sink": 200.0, "qloop": 600.0, "broker": 900.0
    }  # fmt: skip
    assert out["sets_per_core_s"] == round(1e6 / 600, 1)


def test_the_codec_bench_times_real_results_by_outcome_count() -> None:
    from streams.bench.codec import measure

    out = measure(sizes=(1, 50), number=2)
    assert set(out) == {"1", "50"}
    assert out["50"]["job_result_bytes"] > out["1"]["job_result_bytes"]
    assert out["50"]["fastavro_arrays"]["bytes"] < out["50"]["fastavro_map"]["bytes"]
    assert all(v["job_result_decode_us"] > 0 for v in out.values())
