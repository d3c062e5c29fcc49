"""Drift queries on the real engine: a noise-model switch is flagged, an unchanged run is not.

Canary records reach the tables the way production ones do: decoded from Kafka and written by
:class:`~sinks.ClickHouseSink` (block tokens per topic-partition offset range).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from clickhouse_connect.driver.client import Client
from sink_factories import ch, chdb_dsn  # noqa: F401

from processors.canary import ideal_ghz
from schemas import CalibrationSnapshot, CanaryRun, QubitCalibration
from sinks import ClickHouseSink
from sinks.drift import DriftThresholds, drift_report

NOW = datetime.now(UTC).replace(microsecond=0)
KEYS = ["00", "01", "10", "11"]
SHOTS = 4000
RUNS, CALIBRATIONS = "qloop.canary-runs", "qloop.calibrations"


class Store:
    """Adds records at increasing offsets of one partition per topic, as the sink worker does."""

    def __init__(self, client: Client) -> None:
        self.sink = ClickHouseSink(client)
        self.offsets = {RUNS: 0, CALIBRATIONS: 0}

    def __call__(self, *records: CanaryRun | CalibrationSnapshot) -> None:
        for record in records:
            topic = CALIBRATIONS if isinstance(record, CalibrationSnapshot) else RUNS
            self.sink.add(topic, 0, self.offsets[topic], record)
            self.offsets[topic] += 1
        self.sink.flush()


def _run(rng: np.random.Generator, run_id: str, at: datetime, noise: float, cal: str) -> CanaryRun:
    """A Bell canary through a depolarising channel of strength ``noise``."""
    p = (1 - noise) * np.array([0.5, 0, 0, 0.5]) + noise * np.full(4, 0.25)
    counts = dict(zip(KEYS, (int(c) for c in rng.multinomial(SHOTS, p)), strict=True))
    zz = (counts["00"] + counts["11"] - counts["01"] - counts["10"]) / SHOTS
    return CanaryRun(run_id, "fake_backend", "bell", cal, SHOTS, counts, ideal_ghz(2), at, zz, 1.0)


def _snapshot(cal: str, *qubits: tuple[float, float, float]) -> CalibrationSnapshot:
    return CalibrationSnapshot(
        "fake_backend", cal, tuple(QubitCalibration(q, *v) for q, v in enumerate(qubits)), NOW
    )


def _baseline(store: Store, rng: np.random.Generator) -> None:
    store(_snapshot("cal-1", (120, 90, 0.01), (110, 80, 0.012)))
    store(*(_run(rng, f"b{i}", NOW - timedelta(hours=2 + i), 0.01, "cal-1") for i in range(8)))


def test_noisy_run_is_flagged_with_a_reason(ch: Client) -> None:  # noqa: F811
    rng = np.random.default_rng(7)
    store = Store(ch)
    _baseline(store, rng)
    store(_snapshot("cal-2", (60, 40, 0.05), (55, 35, 0.06)))
    store(_run(rng, "r1", NOW - timedelta(minutes=5), 0.3, "cal-2"))
    findings = drift_report(ch, DriftThresholds(), now=NOW)
    metrics = {f.metric for f in findings}
    assert {"tv_to_ideal", "tv_to_baseline", "expectation_z"} <= metrics
    tv = next(f for f in findings if f.metric == "tv_to_ideal")
    assert tv.backend == "fake_backend" and tv.template == "bell"
    assert tv.value > 0.1 and tv.z is not None and tv.z > 3
    assert "cal-1 -> cal-2" in tv.reason and "readout error" in tv.reason
    assert "worst qubit 0: T1 120.0->60.0 us" in tv.reason


def test_unchanged_run_is_not_flagged(ch: Client) -> None:  # noqa: F811
    rng = np.random.default_rng(8)
    store = Store(ch)
    _baseline(store, rng)
    store(_run(rng, "r1", NOW - timedelta(minutes=5), 0.01, "cal-1"))
    assert drift_report(ch, DriftThresholds(), now=NOW) == []


def test_redelivered_canary_block_is_stored_once(ch: Client) -> None:  # noqa: F811
    """A sink that crashed before committing re-reads the same offsets: the tokens match."""
    run = _run(np.random.default_rng(1), "same-id", NOW, 0.0, "cal-1")
    snapshot = _snapshot("cal-1", (120, 90, 0.01), (110, 80, 0.012))
    for _ in range(2):  # the second pass is the restarted sink, re-forming the logged blocks
        Store(ch)(snapshot, run)
    assert ch.query("SELECT count() FROM qloop.canary_runs").result_rows[0][0] == 1
    # Not FINAL: the calibration block itself was dropped by its token (migration 004).
    assert ch.query("SELECT count() FROM qloop.calibrations").result_rows[0][0] == 2
