"""The drift canary's circuits and noise logic: reference circuits with known ideal outputs.

Each round runs GHZ states (n=2 is the Bell state) on each given backend and returns, without
storing anything, one :class:`~schemas.CanaryRun` per circuit (the measured distribution next to
the ideal one, and the observable ``2 P(0…0 or 1…1) - 1``, ``<ZZ>`` on Bell, ideally 1) and one
:class:`~schemas.CalibrationSnapshot` per backend that has calibration data (T1, T2, readout
error per qubit), so drift queries can say *why* a distribution moved. Every run gets its own
id, execution time and simulator seed, so repeated rounds build the rolling baseline that
``qloop drift`` compares with. Publishing is the caller's business (``streams.canary``).

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
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from processors.backends.aer import AerAdapter, default_noise_model
from processors.backends.base import BackendAdapter, SamplerTask
from processors.backends.ibm import IBMRuntimeAdapter, fake_backend
from processors.calibration import calibration_snapshot
from processors.compile_cache import CompileCache
from processors.errors import ConfigurationError
from processors.template_builder import make_template
from schemas import CalibrationSnapshot, CanaryRun

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


def ideal_ghz(num_qubits: int) -> dict[str, float]:
    """Ideal distribution of an n-qubit GHZ state (n=2 is the Bell state)."""
    return {"0" * num_qubits: 0.5, "1" * num_qubits: 0.5}


def support_expectation(counts: Mapping[str, int], ideal: Mapping[str, float]) -> float:
    """``2 P(ideal support) - 1``: a +-1-valued observable, 1 on an ideal run (``<ZZ>`` on Bell)."""
    shots = sum(counts.values())
    inside = sum(c for k, c in counts.items() if ideal.get(k, 0.0) > 0.0)
    return 2.0 * inside / shots - 1.0 if shots else 0.0


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


class ScaledFakeAdapter(IBMRuntimeAdapter):
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
            out.append((label, ScaledFakeAdapter(label, backend, scale, price=adapter.price)))
        else:
            log.warning("%s: cannot scale the noise of %r; left unchanged", NOISE_SCALE_ENV, label)
            out.append((label, adapter))
        if scale != 1.0:
            log.warning("canary %s: noise scaled by %g (%s)", label, scale, NOISE_SCALE_ENV)
    return out


def run_canary_round(
    adapters: Sequence[tuple[str, BackendAdapter]],
    *,
    sizes: Sequence[int] = (2, 3),
    shots: int = 2000,
    cache: CompileCache | None = None,
    noise_scale: Mapping[str, float] | None = None,
) -> tuple[list[CanaryRun], list[CalibrationSnapshot]]:
    """Run every reference circuit on every ``(label, adapter)``; return the records, store none.

    Each run gets a fresh id, its own execution time and a seed derived from its id, so rounds
    never collide. ``noise_scale`` None reads :data:`NOISE_SCALE_ENV` (see the module docstring);
    a long-lived caller resolves it once with :func:`with_noise_scale` and passes ``{}``. A
    failing backend is logged and skipped: one broken backend must not hide the others.

    Raises:
        ConfigurationError: ``noise_scale`` is None and the variable cannot be parsed.

    """
    cache = cache or CompileCache()
    if noise_scale is None:
        noise_scale = parse_noise_scale(os.environ.get(NOISE_SCALE_ENV))
    runs: list[CanaryRun] = []
    snapshots: list[CalibrationSnapshot] = []
    for label, adapter in with_noise_scale(adapters, noise_scale):
        try:  # appends as it goes: what a backend did before failing is still returned
            _run_backend(label, adapter, sizes, shots, cache, runs, snapshots)
        except Exception:  # noqa: BLE001 - one broken backend must not hide the others
            log.exception("canary on %s failed", label)
    return runs, snapshots


def _run_backend(
    label: str,
    adapter: BackendAdapter,
    sizes: Sequence[int],
    shots: int,
    cache: CompileCache,
    runs: list[CanaryRun],
    snapshots: list[CalibrationSnapshot],
) -> None:
    calibration = adapter.calibration_id() or "none"
    qubits = calibration_snapshot(adapter)
    if qubits:  # simulators have no calibration to explain anything with
        snapshots.append(CalibrationSnapshot(label, calibration, qubits, datetime.now(UTC)))
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
        runs.append(
            CanaryRun(
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
        )


__all__ = [
    "NOISE_SCALE_ENV",
    "ScaledFakeAdapter",
    "calibration_snapshot",
    "ghz_circuit",
    "ideal_ghz",
    "parse_noise_scale",
    "run_canary_round",
    "support_expectation",
    "with_noise_scale",
]
