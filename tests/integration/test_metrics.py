"""Prometheus /metrics of the worker and the sink after a real pipeline run."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from pipeline_support import sampler_circuit, stack_settings, wait_for_sink, wait_idle
from prometheus_client.parser import text_string_to_metric_families

from processors import make_template
from schemas import ResultStatus
from streams.client import QloopClient, new_update
from streams.local.broker import free_port
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration
SETS = 60


def scrape(port: int) -> dict[str, float]:
    """Every sample, by name and labels, e.g. ``qloop_batches_closed_total{reason=size}``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def lag(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(name))


@pytest.fixture
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path_factory.mktemp("metrics"),
        max_wait_ms=100,
        worker_metrics_port=free_port(),
        sink_metrics_port=free_port(),
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_metrics_after_a_real_run(stack: LocalStack) -> None:
    settings = stack.settings
    assert settings.worker_metrics_port and settings.sink_metrics_port
    template = make_template(sampler_circuit(3, prefix="m"), "metrics")
    rng = np.random.default_rng(4)
    updates = [
        new_update(template, rng.uniform(0, 3, len(template.parameter_names)),
                   experiment_id="metrics", iteration=i, shots=32)
        for i in range(SETS)
    ]  # fmt: skip
    with QloopClient(settings) as client:
        client.register_template(template)
        results = client.evaluate(updates, 120)
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    wait_idle(stack)
    wait_for_sink(stack, [u.event_id for u in updates])

    deadline = time.monotonic() + 60
    while True:  # lag returns to 0 once everything is committed
        worker, sink = scrape(settings.worker_metrics_port), scrape(settings.sink_metrics_port)
        settled = (
            lag(worker, "qloop_worker_consumer_lag") == 0
            and lag(sink, "qloop_sink_consumer_lag") == 0
        )
        if settled or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert lag(worker, "qloop_worker_consumer_lag") == 0
    assert lag(sink, "qloop_sink_consumer_lag") == 0
    assert any(k.startswith("qloop_worker_consumer_lag") for k in worker)  # measured, not absent

    assert worker["qloop_updates_received_total"] >= SETS
    assert worker["qloop_results_published_total"] >= SETS
    submissions = worker["qloop_submissions_total"]
    assert submissions >= 1
    assert worker["qloop_sets_per_submission_count"] == submissions
    assert worker["qloop_sets_per_submission_sum"] >= SETS
    assert worker["qloop_compile_cache_total{outcome=miss}"] >= 1
    closed = sum(v for k, v in worker.items() if k.startswith("qloop_batches_closed_total"))
    assert closed >= submissions
    assert sink["qloop_sink_rows_inserted_total{table=results}"] >= SETS
    assert sink["qloop_sink_insert_seconds_count"] >= 1
