"""``qloop canary`` + ``qloop drift`` end to end: canary subprocesses publish to the real broker,
the sink (a thread of this process, owning a real chDB directory) stores the records, and
``qloop drift --json`` subprocesses read them through the sink's query endpoint.

The issue's done-when: a drift injected by switching a fake backend's noise model is flagged by
``qloop drift``, and a run without the change is not. The noise model is switched with
``QLOOP_CANARY_NOISE_SCALE`` (errors x3, T1/T2 / 3 under a new calibration id, same label).

Baseline and recent runs are all written "now", so each test leaves a quiet gap after the
baseline rounds and asks ``qloop drift --recent <seconds since the middle of the gap>``: the
baseline falls before the window, the judged round inside it, with a second of slack either side
for process start-up. Each ``canary`` call waits until the sink has stored the round, so what
``drift`` judges never depends on the sink's batching.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks import EngineLockedError, SinkError, query
from streams.config import Settings
from streams.kafka.topics import TopicNames
from streams.sink.launch import run_configured_sink

pytestmark = pytest.mark.integration

GAP_S = 2.0
BASELINE_ROUNDS = 3  # DriftThresholds.min_baseline_runs
RUNS_PER_ROUND = 4  # ghz2 and ghz3 on aer_simulator and fake_manila


def stored(dsn: str) -> tuple[int, int, int]:
    """(canary runs, distinct calibration rows, calibrations that runs name but the table lacks).

    The runs and the snapshots travel on different topics, so the sink may store one before the
    other; a round is complete once the third number is 0. All 0s while the engine is not ready.
    """
    try:
        _, rows = query(
            dsn,
            "SELECT (SELECT count() FROM qloop.canary_runs),"
            " (SELECT count() FROM qloop.calibrations FINAL),"
            " (SELECT count() FROM (SELECT DISTINCT backend, calibration_id"
            "   FROM qloop.canary_runs WHERE calibration_id != 'none')"
            "  WHERE (backend, calibration_id) NOT IN"
            "   (SELECT backend, calibration_id FROM qloop.calibrations))",
        )
    except (SinkError, EngineLockedError):  # not migrated yet
        return (0, 0, 0)
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


def wait_for(predicate: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the sink"
        time.sleep(0.2)


class Qloop:
    """The real CLI, on the session broker, a fresh topic prefix and a throw-away data dir."""

    def __init__(self, settings: Settings) -> None:
        self.dsn = settings.dsn
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")}
        self.env |= {
            "QLOOP_DATA_DIR": str(settings.data_dir),
            "QLOOP_KAFKA_BOOTSTRAP": settings.bootstrap,
            "QLOOP_TOPIC_PREFIX": settings.topic_prefix,
            "QLOOP_CANARY_BACKENDS": '["aer_simulator", "fake_manila"]',
        }
        self.baseline_done = 0.0
        self.published = 0

    def __call__(self, *args: str, **env: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "streams", *args],
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, f"qloop {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def canary(self, **env: str) -> None:
        """One published round, then wait until the sink has stored all of it."""
        out = self("canary", **env)
        assert f"published {RUNS_PER_ROUND} canary run(s) and 1 calibration snapshot(s)" in out
        self.published += RUNS_PER_ROUND
        wait_for(lambda: stored(self.dsn)[0::2] == (self.published, 0))

    def baseline(self) -> None:
        for _ in range(BASELINE_ROUNDS):
            self.canary()
        self.baseline_done = time.time()
        time.sleep(GAP_S)

    def drift(self, **env: str) -> list[dict[str, Any]]:
        """Findings for the runs since the middle of the gap after the baseline."""
        recent = time.time() - self.baseline_done - GAP_S / 2
        findings: list[dict[str, Any]] = json.loads(
            self("drift", "--json", "--recent", f"{recent:.3f}s", **env)
        )
        return findings


@pytest.fixture
def qloop(
    settings_factory: Callable[..., Settings],
    topic_factory: Callable[..., TopicNames],
    tmp_path: Path,
) -> Iterator[Qloop]:
    """The CLI, with the configured sink running in a thread for the length of the test."""
    settings = settings_factory(
        data_dir=tmp_path / "data", topic_prefix=topic_factory().prefix, sink_batch_ms=100
    )
    stop = threading.Event()
    sink = threading.Thread(target=run_configured_sink, args=(settings, stop), daemon=True)
    sink.start()
    try:
        yield Qloop(settings)
    finally:
        stop.set()
        sink.join(60)
    assert not sink.is_alive()


def test_first_runs_of_a_noisy_fake_backend_are_not_drift(qloop: Qloop) -> None:
    qloop.canary()
    assert qloop.drift() == []  # fake_manila is far from ideal, but there is no baseline yet
    assert stored(qloop.dsn) == (RUNS_PER_ROUND, 5, 0)  # fake_manila's five qubits, once


def test_unchanged_round_is_not_flagged(qloop: Qloop) -> None:
    qloop.baseline()
    qloop.canary()
    assert qloop.drift() == []
    # Not vacuous: the window holds exactly the last round, compared with the whole baseline.
    strict = qloop.drift(QLOOP_DRIFT_TV_THRESHOLD="0")
    assert {(f["backend"], f["template"]) for f in strict if f["metric"] == "tv_to_baseline"} == {
        ("aer_simulator", "ghz2"),
        ("aer_simulator", "ghz3"),
        ("fake_manila", "ghz2"),
        ("fake_manila", "ghz3"),
    }
    assert all("1 recent run(s) vs 3 baseline run(s)" in f["reason"] for f in strict)


def test_switched_noise_model_is_flagged_with_the_calibration_change(qloop: Qloop) -> None:
    qloop.baseline()
    qloop.canary(QLOOP_CANARY_NOISE_SCALE="fake_manila=3")
    # The degraded calibration arrived as its own snapshot: five more qubit rows.
    assert stored(qloop.dsn) == ((BASELINE_ROUNDS + 1) * RUNS_PER_ROUND, 10, 0)
    findings = qloop.drift()
    assert {f["backend"] for f in findings} == {"fake_manila"}  # aer_simulator did not change
    by_metric = {(f["template"], f["metric"]): f for f in findings}
    for template in ("ghz2", "ghz3"):
        assert {"tv_to_baseline", "hellinger_to_ideal", "expectation_z"} <= {
            m for t, m in by_metric if t == template
        }
    tv = by_metric[("ghz2", "tv_to_ideal")]
    assert tv["value"] > tv["baseline"] + 0.05 and tv["z"] > 3
    ex = by_metric[("ghz2", "expectation_z")]
    assert ex["value"] < ex["baseline"] and ex["z"] < -3
    reason = tv["reason"]
    assert "1 recent run(s) vs 3 baseline run(s)" in reason
    assert "calibration changed" in reason and "+noise*3" in reason
    assert "mean T1" in reason and "readout error" in reason and "worst qubit" in reason
