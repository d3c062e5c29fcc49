"""Drift analysis over canary runs: distances to the ideal and to a rolling baseline.

A canary (elsewhere) runs reference circuits with known ideal outputs on every backend and calls
:func:`record_canary_run` / :func:`record_calibration`. :func:`drift_report` compares the
*recent* window (default 1 h) with the *baseline* window before it (default 7 days), per backend
and template, entirely in SQL:

* ``tv_to_ideal`` / ``hellinger_to_ideal``: mean distance of each recent run to its ideal
  distribution, against the same metric over the baseline runs (z-score). Real hardware is never
  ideal, so an absolute distance only counts as drift when it is also anomalous for that backend.
* ``tv_to_baseline`` / ``hellinger_to_baseline``: pooled recent counts vs pooled baseline counts;
  catches a change of *shape* even when the distance to ideal barely moves.
* ``expectation_z``: shift of the mean observable (e.g. <ZZ> on Bell) in baseline standard
  deviations, floored at the shot-noise standard error sqrt((1 - e^2) / shots).

Each finding says why, including the calibration change (T1, T2, readout error) between windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.drift_sql import CALIBRATION_SQL, DRIFT_SQL


@dataclass(frozen=True, slots=True)
class CanaryRun:
    """One execution of a reference circuit: measured counts next to the ideal distribution."""

    run_id: str
    backend: str
    template: str
    calibration_id: str
    shots: int
    counts: dict[str, int]
    ideal: dict[str, float]
    run_at: datetime
    expectation: float | None = None
    ideal_expectation: float | None = None


@dataclass(frozen=True, slots=True)
class QubitCalibration:
    """Calibration of one qubit in a backend snapshot."""

    qubit: int
    t1_us: float
    t2_us: float
    readout_error: float


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """When a metric counts as drift.

    Attributes:
        tv: Total-variation distance above which a distribution has drifted.
        hellinger: Hellinger distance above which a distribution has drifted.
        z: Standard scores above which a shift is anomalous.
        min_baseline_runs: Fewer baseline runs than this means no baseline: absolute thresholds
            alone decide, and baseline comparisons are skipped.

    """

    tv: float = 0.05
    hellinger: float = 0.05
    z: float = 3.0
    min_baseline_runs: int = 3


@dataclass(frozen=True, slots=True)
class DriftFinding:
    """One metric of one backend/template beyond its threshold, with the reason in words."""

    backend: str
    template: str
    metric: str
    value: float
    baseline: float | None
    z: float | None
    reason: str


def ideal_ghz(num_qubits: int) -> dict[str, float]:
    """Ideal distribution of an n-qubit GHZ state (n=2 is the Bell state)."""
    return {"0" * num_qubits: 0.5, "1" * num_qubits: 0.5}


def record_canary_run(client: Client, run: CanaryRun) -> None:
    """Store one canary run; a retried call with the same ``run_id`` is dropped by the engine."""
    client.insert(
        "qloop.canary_runs",
        [[run.run_id, run.backend, run.template, run.calibration_id, run.shots,
          dict(run.counts), dict(run.ideal), run.expectation, run.ideal_expectation,
          run.run_at]],
        column_names=["run_id", "backend", "template", "calibration_id", "shots", "counts",
                      "ideal", "expectation", "ideal_expectation", "run_at"],
        settings={"insert_deduplication_token": f"qloop:canary:{run.run_id}"},
    )  # fmt: skip


def record_calibration(
    client: Client,
    backend: str,
    calibration_id: str,
    qubits: Sequence[QubitCalibration],
    captured_at: datetime,
) -> None:
    """Store a per-qubit calibration snapshot (repeats collapse in ReplacingMergeTree)."""
    client.insert(
        "qloop.calibrations",
        [[backend, calibration_id, q.qubit, q.t1_us, q.t2_us, q.readout_error, captured_at]
         for q in qubits],
        column_names=["backend", "calibration_id", "qubit", "t1_us", "t2_us", "readout_error",
                      "captured_at"],
    )  # fmt: skip


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) or math.isinf(f) else f


def _calibration_note(client: Client, backend: str, recent: list[str], base: list[str]) -> str:
    if not base or set(recent) == set(base):
        return "calibration unchanged" if base else "no baseline calibration"
    ids = sorted(set(recent) | set(base))
    rows = client.query(CALIBRATION_SQL, parameters={"backend": backend, "ids": ids}).result_rows
    stats = {str(r[0]): (float(r[1]), float(r[2]), float(r[3])) for r in rows}
    note = f"calibration changed {','.join(sorted(set(base)))} -> {','.join(sorted(set(recent)))}"
    before = [stats[c] for c in base if c in stats]
    after = [stats[c] for c in recent if c in stats]
    if before and after:
        b = [sum(x[i] for x in before) / len(before) for i in range(3)]
        a = [sum(x[i] for x in after) / len(after) for i in range(3)]
        note += (
            f" (mean T1 {b[0]:.1f}->{a[0]:.1f} us, T2 {b[1]:.1f}->{a[1]:.1f} us, "
            f"readout error {b[2]:.4f}->{a[2]:.4f})"
        )
    return note


def drift_report(
    client: Client,
    threshold: DriftThresholds | None = None,
    *,
    recent: timedelta = timedelta(hours=1),
    baseline: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> list[DriftFinding]:
    """Every backend/template metric that drifted in ``recent`` relative to ``baseline``."""
    th = threshold or DriftThresholds()
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    rows = client.query(
        DRIFT_SQL,
        parameters={
            "end": end,
            "recent_start": end - recent,
            "baseline_start": end - recent - baseline,
        },
    ).result_rows
    findings: list[DriftFinding] = []
    for row in rows:
        (backend, template, n_recent, n_base, cal_recent, cal_base, *metrics) = row
        has_base = int(n_base) >= th.min_baseline_runs
        cal = _calibration_note(client, str(backend), list(cal_recent), list(cal_base))
        window = f"{n_recent} recent run(s) vs {n_base} baseline run(s); {cal}"
        tv_i, tv_i_b, tv_i_z, he_i, he_i_b, he_i_z, tv_b, he_b, ex, ex_b, ex_z = map(_num, metrics)
        checks: list[tuple[str, float | None, float | None, float | None, float]] = [
            ("tv_to_ideal", tv_i, tv_i_b, tv_i_z, th.tv),
            ("hellinger_to_ideal", he_i, he_i_b, he_i_z, th.hellinger),
        ]
        for metric, value, base, z, limit in checks:
            if value is None or value <= limit:
                continue
            if has_base and (z is None or z <= th.z):
                continue  # far from ideal, but no more than usual for this backend
            why = (
                f"{metric} {value:.4f} > {limit} and {z:.1f} sigma above baseline {base:.4f}"
                if has_base and z is not None and base is not None
                else f"{metric} {value:.4f} > {limit} with no baseline yet"
            )
            findings.append(
                DriftFinding(backend, template, metric, value, base if has_base else None,
                             z if has_base else None, f"{why}; {window}")
            )  # fmt: skip
        if has_base:
            pooled = (
                ("tv_to_baseline", tv_b, th.tv),
                ("hellinger_to_baseline", he_b, th.hellinger),
            )
            for metric, value, limit in pooled:
                if value is not None and value > limit:
                    why = f"{metric}: pooled recent counts differ by {value:.4f} > {limit}"
                    findings.append(
                        DriftFinding(
                            backend, template, metric, value, 0.0, None, f"{why}; {window}"
                        )
                    )
            if ex is not None and ex_z is not None and abs(ex_z) > th.z:
                why = f"expectation {ex:.4f} vs baseline {ex_b:.4f}: |z| = {abs(ex_z):.1f} > {th.z}"
                findings.append(
                    DriftFinding(
                        backend, template, "expectation_z", ex, ex_b, ex_z, f"{why}; {window}"
                    )
                )
    return findings


__all__ = [
    "CanaryRun",
    "DriftFinding",
    "DriftThresholds",
    "QubitCalibration",
    "drift_report",
    "ideal_ghz",
    "record_calibration",
    "record_canary_run",
]
