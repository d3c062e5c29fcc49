"""`qloop dashboard` over a real run, loaded in headless Chromium: every chart drawn with data.

Chromium (Debian's ``chromium``, installed by ``make test``) runs the page's JavaScript and dumps
the DOM; a chart counts as drawn when plotly rendered data points in it, not when the HTML came
back. The screenshot is kept (``QLOOP_SCREENSHOT_DIR``, default the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pipeline_support import sampler_circuit, wait_for_sink, wait_until
from qiskit.quantum_info import SparsePauliOp

from processors import make_template
from schemas import Primitive, ResultStatus
from sinks import query
from streams.canary import canary_once
from streams.client import QloopClient, new_update
from streams.dashboard import serve
from streams.local.broker import free_port
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration
CHARTS = ("throughput", "latency", "batches", "drift", "budgets", "experiments")


def _count(stack: LocalStack, table: str) -> int:
    return int(query(stack.settings.dsn, f"SELECT count() FROM qloop.{table}")[1][0][0])  # noqa: S608


def test_the_page_draws_every_chart_with_the_runs_data(stack: LocalStack, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `make test` installs Debian's chromium"
    settings = stack.settings
    estimator = make_template(
        sampler_circuit(2, prefix="e").remove_final_measurements(inplace=False),
        "dash-estimator",
        SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)]),
    )
    sampler = make_template(sampler_circuit(2, prefix="s"), "dash-sampler")
    with QloopClient(settings) as client:
        client.register_template(estimator)
        client.register_template(sampler)
        for iteration in range(5):  # a small optimisation loop: one curve on the page
            updates = [
                new_update(estimator, [0.3 * iteration + 0.1 * k] * 4, experiment_id="dash-loop",
                           iteration=iteration, primitive=Primitive.ESTIMATOR)
                for k in range(3)
            ]  # fmt: skip
            updates.append(new_update(sampler, [0.2] * 4, experiment_id="dash-more", shots=64))
            results = client.evaluate(updates, 120)
            assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    canary_once(settings)
    producer = Producer({"bootstrap.servers": settings.bootstrap})
    producer.produce(stack.topics.updates, b"not avro")
    assert producer.flush(30) == 0
    wait_for_sink(stack, [r.event_id for r in results])
    wait_until(lambda: _count(stack, "canary_runs") > 0 and _count(stack, "dead_letters") > 0,
               120, "canary runs and a dead letter stored")  # fmt: skip
    time.sleep(1)

    port = free_port()
    server = serve(settings, port, timedelta(hours=1))
    shots = Path(os.environ.get("QLOOP_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        url = f"http://127.0.0.1:{port}/?refresh=0"  # a snapshot: no reload while it renders
        common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                  "--virtual-time-budget=10000", "--window-size=1400,2600"]  # fmt: skip
        dom = subprocess.run(
            [*common, "--dump-dom", url], capture_output=True, text=True, timeout=180
        ).stdout
        subprocess.run(
            [*common, f"--screenshot={shots / 'dashboard.png'}", url],
            capture_output=True, timeout=180, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert "<h1>qloop</h1>" in dom, dom[:500]
    for chart in CHARTS:
        start = dom.index(f'id="{chart}"')
        end = dom.find('class="chart"', start)
        segment = dom[start : end if end > 0 else len(dom)]
        assert "js-plotly-plot" in segment, f"{chart}: plotly did not render"
        assert 'class="point"' in segment, f"{chart}: no data points drawn"
    assert "dash-loop" in dom  # the experiment's convergence curve is labelled
    assert "deserialization_error" in dom  # the last dead letters table
    assert (shots / "dashboard.png").stat().st_size > 10_000
