"""Drift analysis over canary runs: distances to the ideal and to a rolling baseline.

The canary (``processors.canary``, published by ``streams.canary``) runs reference circuits with
known ideal outputs on every backend; the sink stores its ``CanaryRun`` and
``CalibrationSnapshot`` records in ``qloop.canary_runs`` / ``qloop.calibrations`` like any other
record (:mod:`sinks.rows`). :func:`drift_report` reads them back: it compares the
*recent* window (default 1 h) with the *baseline* window before it (default 7 days), per backend
and template, entirely in SQL, and decides in Python what counts as drift:

* Baseline-relative signals are the main ones (they need ``min_baseline_runs`` baseline runs):

  - ``tv_to_ideal`` / ``hellinger_to_ideal``: the mean distance of the recent runs to the ideal
    distribution rose by more than the threshold *and* by more than ``z`` baseline standard
    deviations (floored at shot noise). Noisy hardware is never ideal; only a change counts.
  - ``tv_to_baseline`` / ``hellinger_to_baseline``: pooled recent counts vs pooled baseline
    counts; catches a change of *shape* even when the distance to ideal barely moves.
  - ``expectation_z``: shift of the mean observable (``2 P(ideal support) - 1``, <ZZ> on Bell)
    in baseline standard deviations, floored at the shot-noise error (see :mod:`sinks.drift_sql`).

* Absolute distance to the ideal only counts where it means something: on *ideal backends*
  (noiseless simulators, ``DriftThresholds.ideal_backends``), which must reproduce the ideal
  distribution up to shot noise, and on any backend beyond ``max_tv_to_ideal``, where the circuit
  barely prepares the state at all. A noisy device without a baseline yet (its first runs) is
  therefore not flagged for being noisy: flagging fake or real hardware on every first run would
  only teach users to ignore the report.

Each finding says why, including the calibration change (mean T1, T2, readout error, and the
qubit whose calibration moved most) between the baseline and recent windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from functools import partial
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.drift_sql import CALIBRATION_SQL, DRIFT_SQL


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """When a metric counts as drift.

    Attributes:
        tv: Total-variation threshold: the least rise of the distance to ideal (or the least
            distance between pooled recent and baseline counts) that counts; on ideal backends,
            the most distance to ideal allowed.
        hellinger: The same for the Hellinger distance.
        z: Standard scores above which a shift is anomalous.
        min_baseline_runs: Fewer baseline runs than this means no baseline: baseline
            comparisons are skipped and only the absolute rules apply.
        ideal_backends: Globs (``*``, ``?``) of backends expected to reproduce the ideal
            distribution up to shot noise (noiseless simulators).
        max_tv_to_ideal: Distance to ideal flagged on every backend, baseline or not.

    """

    tv: float = 0.05
    hellinger: float = 0.05
    z: float = 3.0
    min_baseline_runs: int = 3
    ideal_backends: tuple[str, ...] = ("aer_simulator",)
    max_tv_to_ideal: float = 0.25


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


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) or math.isinf(f) else f


_Qubits = dict[int, tuple[float, float, float]]  # qubit -> (T1 us, T2 us, readout error)


def _mean_qubits(snapshots: list[_Qubits]) -> _Qubits:
    """Average per qubit over several calibrations (a window can span more than one)."""
    merged: dict[int, list[tuple[float, float, float]]] = {}
    for snap in snapshots:
        for qubit, values in snap.items():
            merged.setdefault(qubit, []).append(values)
    return {
        q: (
            sum(v[0] for v in vs) / len(vs),
            sum(v[1] for v in vs) / len(vs),
            sum(v[2] for v in vs) / len(vs),
        )
        for q, vs in merged.items()
    }


def _calibration_note(client: Client, backend: str, recent: list[str], base: list[str]) -> str:
    """Say whether and how the calibration changed between the baseline and recent windows."""
    if not base or set(recent) == set(base):
        return "calibration unchanged" if base else "no baseline calibration"
    ids = sorted(set(recent) | set(base))
    rows = client.query(CALIBRATION_SQL, parameters={"backend": backend, "ids": ids}).result_rows
    per_cal: dict[str, _Qubits] = {}
    for cal, qubit, t1, t2, readout in rows:
        per_cal.setdefault(str(cal), {})[int(qubit)] = (float(t1), float(t2), float(readout))
    note = f"calibration changed {','.join(sorted(set(base)))} -> {','.join(sorted(set(recent)))}"
    before = _mean_qubits([per_cal[c] for c in base if c in per_cal])
    after = _mean_qubits([per_cal[c] for c in recent if c in per_cal])
    common = sorted(set(before) & set(after))
    if not common:
        return note
    b = [sum(before[q][i] for q in common) / len(common) for i in range(3)]
    a = [sum(after[q][i] for q in common) / len(common) for i in range(3)]
    note += (
        f" (mean T1 {b[0]:.1f}->{a[0]:.1f} us, T2 {b[1]:.1f}->{a[1]:.1f} us, "
        f"readout error {b[2]:.4f}->{a[2]:.4f}"
    )

    def worsening(q: int) -> float:  # the largest relative degradation of any quantity
        (t1b, t2b, rb), (t1a, t2a, ra) = before[q], after[q]
        return max(t1b / max(t1a, 1e-9), t2b / max(t2a, 1e-9), ra / max(rb, 1e-9))

    worst = max(common, key=worsening)
    if worsening(worst) > 1.0:
        (t1b, t2b, rb), (t1a, t2a, ra) = before[worst], after[worst]
        note += (
            f"; worst qubit {worst}: T1 {t1b:.1f}->{t1a:.1f} us, T2 {t2b:.1f}->{t2a:.1f} us, "
            f"readout error {rb:.4f}->{ra:.4f}"
        )
    return note + ")"


def _is_ideal(backend: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(backend, p) for p in patterns)


def _row_findings(
    row: tuple[Any, ...], th: DriftThresholds, explain: Callable[[], str]
) -> list[DriftFinding]:
    """Apply the rules of the module docstring to one (backend, template) row of DRIFT_SQL."""
    backend, template, n_recent, n_base = str(row[0]), str(row[1]), int(row[2]), int(row[3])
    metrics = row[6:]
    has_base = n_base >= th.min_baseline_runs
    ideal = _is_ideal(backend, th.ideal_backends)
    tv_i, tv_i_b, tv_i_z, he_i, he_i_b, he_i_z, tv_b, he_b, ex, ex_b, ex_z = map(_num, metrics)
    found: list[tuple[str, float, float | None, float | None, str]] = []
    for metric, value, base, z, limit in (
        ("tv_to_ideal", tv_i, tv_i_b, tv_i_z, th.tv),
        ("hellinger_to_ideal", he_i, he_i_b, he_i_z, th.hellinger),
    ):
        if value is None:
            continue
        if ideal and value > limit:
            why = f"{metric} {value:.4f} > {limit} on {backend}, an ideal backend"
            found.append((metric, value, base if has_base else None, z if has_base else None, why))
        elif metric == "tv_to_ideal" and value > th.max_tv_to_ideal:
            why = f"{metric} {value:.4f} > {th.max_tv_to_ideal}: the state is barely prepared"
            found.append((metric, value, base if has_base else None, z if has_base else None, why))
        elif has_base and base is not None and z is not None:
            if value - base > limit and z > th.z:
                why = (
                    f"{metric} rose {base:.4f} -> {value:.4f} (+{value - base:.4f} > {limit}), "
                    f"{z:.1f} sigma above baseline"
                )
                found.append((metric, value, base, z, why))
    if has_base:
        for metric, value, limit in (
            ("tv_to_baseline", tv_b, th.tv),
            ("hellinger_to_baseline", he_b, th.hellinger),
        ):
            if value is not None and value > limit:
                why = f"{metric}: pooled recent counts differ by {value:.4f} > {limit}"
                found.append((metric, value, 0.0, None, why))
        if ex is not None and ex_b is not None and ex_z is not None and abs(ex_z) > th.z:
            moved = "fell" if ex < ex_b else "rose"
            why = f"expectation {moved} {ex_b:.4f} -> {ex:.4f}: |z| = {abs(ex_z):.1f} > {th.z}"
            found.append(("expectation_z", ex, ex_b, ex_z, why))
    if not found:
        return []
    context = f"{n_recent} recent run(s) vs {n_base} baseline run(s); {explain()}"
    return [
        DriftFinding(backend, template, metric, value, base, z, f"{why}; {context}")
        for metric, value, base, z, why in found
    ]


def drift_report(
    client: Client,
    threshold: DriftThresholds | None = None,
    *,
    recent: timedelta = timedelta(hours=1),
    baseline: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> list[DriftFinding]:
    """Every backend/template metric that drifted in ``recent`` relative to ``baseline``.

    The calibration lookup that explains a finding only runs for rows with findings.
    """
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
        explain = partial(_calibration_note, client, str(row[0]), list(row[4]), list(row[5]))
        findings += _row_findings(tuple(row), th, explain)
    return findings


__all__ = ["DriftFinding", "DriftThresholds", "drift_report"]
