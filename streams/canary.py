"""The drift canary: reference circuits with known ideal outputs, run on every backend.

Each round runs GHZ states (n=2 is the Bell state) on each configured backend, records the
measured distribution next to the ideal one, the observable ``2 P(0…0 or 1…1) - 1`` (``<ZZ>`` on
Bell, ideally 1), and snapshots the backend's calibration (T1, T2, readout error per qubit) so
drift queries can say *why* a distribution moved. Every run gets its own id, execution time and
simulator seed, so repeated rounds build the rolling baseline that ``qloop drift`` compares with.

Noise injection (drills and tests): ``QLOOP_CANARY_NOISE_SCALE`` multiplies the noise of the
canary's backends while keeping their labels, which is what a degraded recalibration looks like.
It is one factor for every backend (``3``) or one per backend (``fake_manila=3,aer_simulator=2``).
Fake IBM backends get gate and readout errors times the factor and T1/T2 divided by it (so the
calibration snapshot shows the change) under a new calibration id; Aer simulators get the default
depolarising model times the factor. A factor of 1 (the default) changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from processors.backends.aer import AerAdapter, default_noise_model
from processors.backends.base import BackendAdapter, SamplerTask
from processors.backends.ibm import IBMRuntimeAdapter, fake_backend
from processors.compile_cache import CompileCache
from processors.errors import ConfigurationError
from processors.templates import make_template
from sinks.drift import (
    CanaryRun,
    QubitCalibration,
    ideal_ghz,
    record_calibration,
    record_canary_run,
)

log = logging.getLogger(__name__)

NOISE_SCALE_ENV = "QLOOP_CANARY_NOISE_SCALE"


def ghz_circuit(num_qubits: int) -> QuantumCircuit:
    """H on qubit 0, a CX chain, measure all: ideal outcome 0…0 or 1…1, half each."""
    circuit = QuantumCircuit(num_qubits, name=f"ghz{num_qubits}")
    circuit.h(0)
    for q in range(num_qubits - 1):
        circuit.cx(q, q + 1)
    circuit.measure_all()
    return circuit


def support_expectation(counts: Mapping[str, int], ideal: Mapping[str, float]) -> float:
    """``2 P(ideal support) - 1``: a +-1-valued observable, 1 on an ideal run (``<ZZ>`` on Bell)."""
    shots = sum(counts.values())
    inside = sum(c for k, c in counts.items() if ideal.get(k, 0.0) > 0.0)
    return 2.0 * inside / shots - 1.0 if shots else 0.0


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


def parse_noise_scale(text: str | None) -> dict[str, float]:
    """``"3"`` -> ``{"*": 3.0}``; ``"fake_manila=3,aer_simulator=2"`` -> per-backend factors.

    Raises:
        ConfigurationError: not a positive number or a comma-separated ``name=number`` list.

    """
    if not text or not text.strip():
        return {}
    scales: dict[str, float] = {}
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.rpartition("=")
            scales[name.strip() or "*"] = float(value)
    except ValueError:
        raise ConfigurationError(f"{NOISE_SCALE_ENV}={text!r}: expected 3 or name=3,…") from None
    if any(not s > 0 for s in scales.values()):
        raise ConfigurationError(f"{NOISE_SCALE_ENV}={text!r}: factors must be positive")
    return scales


class _ScaledFakeAdapter(IBMRuntimeAdapter):
    """A fake IBM backend whose calibration has been degraded by ``scale``."""

    def __init__(self, name: str, backend: Any, scale: float, **kwargs: Any) -> None:
        super().__init__(name, backend, **kwargs)
        self._scale = scale

    def target_id(self) -> str:
        """A distinct target, so the compile cache never mixes the two calibrations."""
        return f"{super().target_id()}:noise*{self._scale:g}"

    def calibration_id(self) -> str | None:
        """The device's calibration id, marked with the injected factor."""
        return f"{super().calibration_id()}+noise*{self._scale:g}"


def _scaled_fake_backend(short_name: str, scale: float) -> Any:
    """A fresh fake backend with errors * scale and T1/T2 / scale in its properties.

    Both the simulator's noise model and the target (hence the calibration snapshot) are built
    lazily from the properties, so editing them before first use changes both consistently.
    """
    backend = fake_backend(short_name)
    backend.properties()  # loads the properties dict from the snapshot file
    props: dict[str, Any] = backend._props_dict
    for qubit in props["qubits"]:
        for item in qubit:
            if item["name"] in ("T1", "T2"):
                item["value"] /= scale
            elif item["name"] in ("readout_error", "prob_meas0_prep1", "prob_meas1_prep0"):
                item["value"] = min(0.5, item["value"] * scale)
    for gate in props["gates"]:
        for item in gate["parameters"]:
            if item["name"] == "gate_error":
                item["value"] = min(0.75, item["value"] * scale)
    backend._target = None  # rebuilt from the edited properties on first use
    backend.sim = None
    return backend


def with_noise_scale(
    adapters: Sequence[tuple[str, BackendAdapter]], scales: Mapping[str, float]
) -> list[tuple[str, BackendAdapter]]:
    """Replace each adapter whose label has a factor != 1 by a noisier one under the same label."""
    out: list[tuple[str, BackendAdapter]] = []
    for label, adapter in adapters:
        scale = scales.get(label, scales.get("*", 1.0))
        if scale == 1.0:
            out.append((label, adapter))
        elif isinstance(adapter, AerAdapter):
            model = default_noise_model(min(0.75, 1e-3 * scale), min(0.9375, 1e-2 * scale))
            out.append((label, AerAdapter(label, noise_model=model, price=adapter.price)))
        elif isinstance(adapter, IBMRuntimeAdapter) and label.startswith("fake_"):
            backend = _scaled_fake_backend(label.removeprefix("fake_"), scale)
            out.append((label, _ScaledFakeAdapter(label, backend, scale, price=adapter.price)))
        else:
            log.warning("%s: cannot scale the noise of %r; left unchanged", NOISE_SCALE_ENV, label)
            out.append((label, adapter))
        if scale != 1.0:
            log.warning("canary %s: noise scaled by %g (%s)", label, scale, NOISE_SCALE_ENV)
    return out


def run_canary_round(
    client: Any,
    adapters: Sequence[tuple[str, BackendAdapter]],
    *,
    sizes: Sequence[int] = (2, 3),
    shots: int = 2000,
    cache: CompileCache | None = None,
    noise_scale: Mapping[str, float] | None = None,
) -> list[CanaryRun]:
    """Run every reference circuit on every ``(label, adapter)`` and store the runs.

    Each run gets a fresh id, its own execution time and a seed derived from its id, so rounds
    never collide. ``noise_scale`` None reads :data:`NOISE_SCALE_ENV` (see the module docstring).
    A failing backend is logged and skipped; the other backends still run.
    """
    cache = cache or CompileCache()
    if noise_scale is None:
        noise_scale = parse_noise_scale(os.environ.get(NOISE_SCALE_ENV))
    runs = []
    for label, adapter in with_noise_scale(adapters, noise_scale):
        try:
            runs.extend(_run_backend(client, label, adapter, sizes, shots, cache))
        except Exception:  # noqa: BLE001 - one broken backend must not hide the others
            log.exception("canary on %s failed", label)
    return runs


def _run_backend(
    client: Any,
    label: str,
    adapter: BackendAdapter,
    sizes: Sequence[int],
    shots: int,
    cache: CompileCache,
) -> list[CanaryRun]:
    calibration = adapter.calibration_id() or "none"
    snapshot = calibration_snapshot(adapter)
    if snapshot:
        record_calibration(client, label, calibration, snapshot, datetime.now(UTC))
    runs = []
    for n in sizes:
        if n > adapter.num_qubits:
            continue
        template = make_template(ghz_circuit(n), f"ghz{n}")
        compiled = cache.get(template, adapter)
        run_id = uuid.uuid4().hex
        task = SamplerTask(compiled.circuit, np.zeros((1, 0)), shots, (None,))
        run_at = datetime.now(UTC)
        counts = adapter.run_sampler([task], int(run_id[:7], 16)).counts[0][0]
        ideal = ideal_ghz(n)
        run = CanaryRun(
            run_id=run_id,
            backend=label,
            template=f"ghz{n}",
            calibration_id=calibration,
            shots=shots,
            counts=dict(counts),
            ideal=ideal,
            run_at=run_at,
            expectation=support_expectation(counts, ideal),
            ideal_expectation=1.0,
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
    """Run a round every ``interval_s`` until ``stop`` is set; failures are logged, not fatal.

    The noise override is resolved and the compile cache kept once for the whole loop, so each
    round only samples and writes.
    """
    cache = CompileCache()
    try:
        resolved = with_noise_scale(adapters, parse_noise_scale(os.environ.get(NOISE_SCALE_ENV)))
    except ConfigurationError:
        log.exception("canary disabled")
        return
    while not stop.is_set():
        try:
            run_canary_round(client, resolved, cache=cache, noise_scale={})
        except Exception:  # noqa: BLE001 - a canary must never take its host down
            log.exception("canary round failed")
        stop.wait(interval_s)


__all__ = [
    "NOISE_SCALE_ENV",
    "calibration_snapshot",
    "canary_loop",
    "ghz_circuit",
    "parse_noise_scale",
    "run_canary_round",
    "support_expectation",
    "with_noise_scale",
]
