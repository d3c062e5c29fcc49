"""Drift queries on the real engine: a noise-model switch is flagged, an unchanged run is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from clickhouse_connect.driver.client import Client
from sink_factories import ch, chdb_dsn  # noqa: F401

from sinks.drift import (
    CanaryRun,
    DriftThresholds,
    QubitCalibration,
    drift_report,
    ideal_ghz,
    record_calibration,
    record_canary_run,
)

NOW = datetime.now(UTC).replace(microsecond=0)
KEYS = ["00", "01", "10", "11"]
SHOTS = 4000


def _run(rng: np.random.Generator, run_id: str, at: datetime, noise: float, cal: str) -> CanaryRun:
    """A Bell canary through a depolarising channel of strength ``noise``."""
    p = (1 - noise) * np.array([0.5, 0, 0, 0.5]) + noise * np.full(4, 0.25)
    counts = dict(zip(KEYS, (int(c) for c in rng.multinomial(SHOTS, p)), strict=True))
    zz = (counts["00"] + counts["11"] - counts["01"] - counts["10"]) / SHOTS
    return CanaryRun(run_id, "fake_backend", "bell", cal, SHOTS, counts, ideal_ghz(2), at, zz, 1.0)


def _baseline(ch: Client, rng: np.random.Generator) -> None:  # noqa: F811
    qubits = [QubitCalibration(0, 120, 90, 0.01), QubitCalibration(1, 110, 80, 0.012)]
    record_calibration(ch, "fake_backend", "cal-1", qubits, NOW)
    for i in range(8):
        record_canary_run(ch, _run(rng, f"b{i}", NOW - timedelta(hours=2 + i), 0.01, "cal-1"))


def test_noisy_run_is_flagged_with_a_reason(ch: Client) -> None:  # noqa: F811
    rng = np.random.default_rng(7)
    _baseline(ch, rng)
    worse = [QubitCalibration(0, 60, 40, 0.05), QubitCalibration(1, 55, 35, 0.06)]
    record_calibration(ch, "fake_backend", "cal-2", worse, NOW)
    record_canary_run(ch, _run(rng, "r1", NOW - timedelta(minutes=5), 0.3, "cal-2"))
    findings = drift_report(ch, DriftThresholds(), now=NOW)
    metrics = {f.metric for f in findings}
    assert {"tv_to_ideal", "tv_to_baseline", "expectation_z"} <= metrics
    tv = next(f for f in findings if f.metric == "tv_to_ideal")
    assert tv.backend == "fake_backend" and tv.template == "bell"
    assert tv.value > 0.1 and tv.z is not None and tv.z > 3
    assert "cal-1 -> cal-2" in tv.reason and "readout error" in tv.reason


def test_unchanged_run_is_not_flagged(ch: Client) -> None:  # noqa: F811
    rng = np.random.default_rng(8)
    _baseline(ch, rng)
    record_canary_run(ch, _run(rng, "r1", NOW - timedelta(minutes=5), 0.01, "cal-1"))
    assert drift_report(ch, DriftThresholds(), now=NOW) == []


def test_retried_canary_write_is_stored_once(ch: Client) -> None:  # noqa: F811
    run = _run(np.random.default_rng(1), "same-id", NOW, 0.0, "cal-1")
    record_canary_run(ch, run)
    record_canary_run(ch, run)
    assert ch.query("SELECT count() FROM qloop.canary_runs").result_rows[0][0] == 1
