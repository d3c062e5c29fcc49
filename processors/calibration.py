"""A device's calibration as a record: per-qubit T1, T2 and readout error, with its id.

The drift canary sends one per round for the backends it watches, and the worker sends one for
each calibration a provider job ran on (the calibration in force at execution, which a result's
``calibration_id`` names), so every result on hardware can be joined to the qubits it ran on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processors.backends.base import BackendAdapter
from schemas import CalibrationSnapshot, QubitCalibration


def calibration_snapshot(adapter: BackendAdapter) -> tuple[QubitCalibration, ...]:
    """Per-qubit T1/T2 (µs) and readout error from the backend's target; empty without them."""
    target: Any = adapter.transpile_target
    target = getattr(target, "target", target)
    props = getattr(target, "qubit_properties", None)
    if not props:
        return ()
    snapshot = []
    for qubit, prop in enumerate(props):
        if prop is None:
            continue
        readout = 0.0
        try:
            readout = float(target["measure"][(qubit,)].error or 0.0)
        except (KeyError, TypeError, AttributeError):
            pass
        snapshot.append(
            QubitCalibration(
                qubit, float(prop.t1 or 0.0) * 1e6, float(prop.t2 or 0.0) * 1e6, readout
            )
        )
    return tuple(snapshot)


def snapshot_of(
    adapter: BackendAdapter, calibration_id: str, at: datetime
) -> CalibrationSnapshot | None:
    """The adapter's calibration as a record (None for a backend without calibration data)."""
    qubits = calibration_snapshot(adapter)
    return CalibrationSnapshot(adapter.name, calibration_id, qubits, at) if qubits else None


__all__ = ["calibration_snapshot", "snapshot_of"]
