"""The drift canary: reference circuits with known ideal outputs, run on every backend.

Each round runs GHZ states (n=2 is the Bell state) on each configured backend, records the
measured distribution next to the ideal one, and snapshots the backend's calibration (T1, T2,
readout error per qubit) so drift queries can say *why* a distribution moved.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from processors.backends.base import BackendAdapter, SamplerTask
from processors.compile_cache import CompileCache
from processors.templates import make_template
from sinks.drift import (
    CanaryRun,
    QubitCalibration,
    ideal_ghz,
    record_calibration,
    record_canary_run,
)

log = logging.getLogger(__name__)


def ghz_circuit(num_qubits: int) -> QuantumCircuit:
    """H on qubit 0, a CX chain, measure all: ideal outcome 0…0 or 1…1, half each."""
    circuit = QuantumCircuit(num_qubits, name=f"ghz{num_qubits}")
    circuit.h(0)
    for q in range(num_qubits - 1):
        circuit.cx(q, q + 1)
    circuit.measure_all()
    return circuit


def calibration_snapshot(adapter: BackendAdapter) -> list[QubitCalibration]:
    """Per-qubit T1/T2 (µs) and readout error from the backend's target, when it has them."""
    target: Any = adapter.transpile_target
    target = getattr(target, "target", target)
    props = getattr(target, "qubit_properties", None)
    if not props:
        return []
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
    return snapshot


def run_canary_round(
    client: Any,
    adapters: Sequence[tuple[str, BackendAdapter]],
    *,
    sizes: Sequence[int] = (2, 3),
    shots: int = 2000,
    cache: CompileCache | None = None,
    now: datetime | None = None,
) -> list[CanaryRun]:
    """Run every reference circuit on every ``(label, adapter)`` and store the runs."""
    cache = cache or CompileCache()
    at = now or datetime.now(UTC)
    runs = []
    for label, adapter in adapters:
        calibration = adapter.calibration_id() or "none"
        snapshot = calibration_snapshot(adapter)
        if snapshot:
            record_calibration(client, label, calibration, snapshot, at)
        for n in sizes:
            if n > adapter.num_qubits:
                continue
            template = make_template(ghz_circuit(n), f"ghz{n}")
            compiled = cache.get(template, adapter)
            seed = int(hashlib.sha256(f"{label}{n}{at}".encode()).hexdigest()[:8], 16)
            task = SamplerTask(compiled.circuit, np.zeros((1, 0)), shots, (None,))
            counts = adapter.run_sampler([task], seed).counts[0][0]
            run = CanaryRun(
                run_id=uuid.uuid4().hex,
                backend=label,
                template=f"ghz{n}",
                calibration_id=calibration,
                shots=shots,
                counts=dict(counts),
                ideal=ideal_ghz(n),
                run_at=at,
            )
            record_canary_run(client, run)
            runs.append(run)
    return runs


def canary_loop(
    client: Any,
    adapters: Sequence[tuple[str, BackendAdapter]],
    interval_s: float,
    stop: threading.Event,
) -> None:
    """Run a round every ``interval_s`` until ``stop`` is set; failures are logged, not fatal."""
    while not stop.is_set():
        try:
            run_canary_round(client, adapters)
        except Exception:  # noqa: BLE001 - a canary must never take its host down
            log.exception("canary round failed")
        stop.wait(interval_s)


__all__ = ["calibration_snapshot", "canary_loop", "ghz_circuit", "run_canary_round"]
