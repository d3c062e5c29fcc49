"""``qloop canary`` + ``qloop drift`` end to end, as subprocesses on a real chDB directory.

The issue's done-when: a drift injected by switching a fake backend's noise model is flagged by
``qloop drift``, and a run without the change is not. The noise model is switched with
``QLOOP_CANARY_NOISE_SCALE`` (errors x3, T1/T2 / 3 under a new calibration id, same label).

Baseline and recent runs are all written "now", so each test leaves a quiet gap after the
baseline rounds and asks ``qloop drift --recent <seconds since the middle of the gap>``: the
baseline falls before the window, the judged round inside it, with a second of slack either side
for process start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

GAP_S = 2.0
BASELINE_ROUNDS = 3  # DriftThresholds.min_baseline_runs


class Qloop:
    """The real CLI in a throw-away data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")}
        self.env |= {
            "QLOOP_DATA_DIR": str(data_dir),
            "QLOOP_CANARY_BACKENDS": '["aer_simulator", "fake_manila"]',
        }
        self.baseline_done = 0.0

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
        assert "recorded 4 canary run(s)" in self("canary", **env)

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
def qloop(tmp_path: Path) -> Qloop:
    return Qloop(tmp_path / "data")


def test_first_runs_of_a_noisy_fake_backend_are_not_drift(qloop: Qloop) -> None:
    qloop.canary()
    assert qloop.drift() == []  # fake_manila is far from ideal, but there is no baseline yet


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
