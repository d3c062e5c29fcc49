"""IBM Quantum adapter: qiskit-ibm-runtime's client-side primitives.

With a fake backend (``qiskit_ibm_runtime.fake_provider``) the primitives run in local testing
mode: real calibration data, noisy Aer simulation, no network. With a real backend from
:class:`QiskitRuntimeService` the same code submits to IBM Quantum. The current API is
``executor_sampler.Sampler`` / ``executor_estimator.Estimator``; the top-level ``SamplerV2`` and
``EstimatorV2`` classes are deprecated since 0.50.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler

from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    Price,
    SamplerOutput,
    SamplerTask,
    bitstring_counts,
    derive_seed,
)
from processors.errors import BackendError, ConfigurationError

TOKEN_ENV = "QLOOP_IBM_TOKEN"  # noqa: S105 - the variable's name, not a token
INSTANCE_ENV = "QLOOP_IBM_INSTANCE"


class IBMRuntimeAdapter:
    """Runs submissions through qiskit-ibm-runtime primitives on one backend.

    Args:
        name: Registry name reported in results (e.g. ``fake_manila``).
        backend: A fake backend (local testing mode) or an ``IBMBackend``.
        price: Cost model for the budget ledger.
        simulated: True for fake backends; seeds are honoured only there.

    """

    def __init__(
        self, name: str, backend: Any, *, price: Price | None = None, simulated: bool = True
    ) -> None:
        self._name = name
        self._backend = backend
        self._price = price or Price()
        self.is_simulator = simulated
        config = getattr(backend, "configuration", None)
        shots = getattr(config(), "max_shots", None) if callable(config) else None
        self._max_shots = int(shots) if shots else 100_000

    def __repr__(self) -> str:
        return f"IBMRuntimeAdapter(name={self._name!r})"

    @property
    def name(self) -> str:
        """Registry name."""
        return self._name

    @property
    def num_qubits(self) -> int:
        """Device width."""
        return int(self._backend.num_qubits)

    @property
    def max_shots(self) -> int:
        """Device shots cap."""
        return self._max_shots

    @property
    def price(self) -> Price:
        """Cost model."""
        return self._price

    @property
    def transpile_target(self) -> object:
        """The backend (coupling map, basis gates, calibrated errors)."""
        return self._backend

    def target_id(self) -> str:
        """Backend name plus width: the coupling map and basis follow from the device."""
        return f"ibm:{self._backend.name}:{self._backend.num_qubits}"

    def calibration_id(self) -> str | None:
        """Return the calibration timestamp (a new calibration can change the best layout)."""
        try:
            stamp = self._backend.properties().last_update_date
        except Exception:  # backends without properties: hash the target instead
            stamp = hashlib.sha256(str(self._backend.target).encode()).hexdigest()[:16]
        return str(stamp)

    def fallback(self) -> BackendAdapter | None:
        """A local simulator with this device's coupling map, basis and calibrated noise."""
        from processors.backends.aer import AerAdapter

        return AerAdapter.standing_in_for(self._backend, self._name, self.noise_model_id())

    def noise_model_id(self) -> str | None:
        """The device and its calibration: a fake's noise model is built from exactly those."""
        return f"device:{self._backend.name}@{self.calibration_id()}"

    def _seeded(self, primitive: Any, seed: int | None) -> Any:
        if self.is_simulator and seed is not None:
            primitive.options.simulator.seed_simulator = seed
        return primitive

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """One sampler job per (shots, explicit seed) group; seeds recorded per job."""
        counts: list[list[dict[str, int]]] = [[{} for _ in t.seeds] for t in tasks]
        seeds: list[list[int | None]] = [[None for _ in t.seeds] for t in tasks]
        groups: dict[tuple[int, int | None], dict[int, list[int]]] = {}
        for ti, task in enumerate(tasks):
            for si, explicit in enumerate(task.seeds):
                groups.setdefault((task.shots, explicit), {}).setdefault(ti, []).append(si)
        for index, ((shots, explicit), by_task) in enumerate(groups.items()):
            job_seed = explicit if explicit is not None else derive_seed(seed, index)
            sampler = self._seeded(Sampler(mode=self._backend), job_seed)
            # A parameter-free circuit gets one PUB per set: an (N, 0) value array is not
            # read as N bindings by the runtime sampler (each would see a single shot).
            pubs: list[tuple[Any, Any, int]] = []
            slots: list[tuple[int, list[int]]] = []
            for ti, sis in by_task.items():
                if tasks[ti].circuit.num_parameters == 0:
                    for si in sis:
                        pubs.append((tasks[ti].circuit, None, shots))
                        slots.append((ti, [si]))
                else:
                    pubs.append((tasks[ti].circuit, tasks[ti].values[sis], shots))
                    slots.append((ti, sis))
            try:
                result = sampler.run(pubs).result()
                for pub_result, (ti, sis) in zip(result, slots, strict=True):
                    joined = pub_result.join_data()
                    for k, si in enumerate(sis):
                        raw = (
                            joined.get_counts()
                            if pub_result.data.shape == ()
                            else (joined.get_counts(k))
                        )
                        counts[ti][si] = bitstring_counts(raw)
                        seeds[ti][si] = job_seed if self.is_simulator else None
            except Exception as exc:
                raise BackendError(f"{self._name}: sampler job failed: {exc}") from exc
        return SamplerOutput(
            counts=tuple(tuple(c) for c in counts), seeds=tuple(tuple(s) for s in seeds)
        )

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """One estimator job per explicit-seed group, one PUB per task."""
        evs: list[list[float]] = [[0.0 for _ in t.seeds] for t in tasks]
        stds: list[list[float]] = [[0.0 for _ in t.seeds] for t in tasks]
        seeds: list[list[int | None]] = [[None for _ in t.seeds] for t in tasks]
        groups: dict[int | None, dict[int, list[int]]] = {}
        for ti, task in enumerate(tasks):
            for si, explicit in enumerate(task.seeds):
                groups.setdefault(explicit, {}).setdefault(ti, []).append(si)
        for index, (explicit, by_task) in enumerate(groups.items()):
            job_seed = explicit if explicit is not None else derive_seed(seed, index)
            estimator = self._seeded(Estimator(mode=self._backend), job_seed)
            # Hardware has no exact mode: precision 0/None means the primitive's default.
            pubs = [
                (tasks[ti].circuit, tasks[ti].observable, tasks[ti].values[sis])
                + ((tasks[ti].precision,) if tasks[ti].precision else ())
                for ti, sis in by_task.items()
            ]
            try:
                result = estimator.run(pubs).result()
                for pub_result, (ti, sis) in zip(result, by_task.items(), strict=True):
                    values = np.broadcast_to(np.asarray(pub_result.data.evs, float), (len(sis),))
                    errors = np.broadcast_to(np.asarray(pub_result.data.stds, float), (len(sis),))
                    for k, si in enumerate(sis):
                        evs[ti][si] = float(values[k])
                        stds[ti][si] = float(errors[k])
                        seeds[ti][si] = job_seed if self.is_simulator else None
            except Exception as exc:
                raise BackendError(f"{self._name}: estimator job failed: {exc}") from exc
        return EstimatorOutput(
            evs=tuple(tuple(v) for v in evs),
            stds=tuple(tuple(s) for s in stds),
            seeds=tuple(tuple(s) for s in seeds),
        )


def fake_backend(short_name: str) -> Any:
    """Instantiate ``fake_provider.Fake<Name>V2`` (or ``Fake<Name>``) for ``fake_<name>``.

    Raises:
        LookupError: no such fake backend.

    """
    from qiskit_ibm_runtime import fake_provider

    name = short_name.capitalize()
    # Newer fake devices (e.g. FakeBrisbane) are V2-only and carry no suffix.
    cls = getattr(fake_provider, f"Fake{name}V2", None) or getattr(
        fake_provider, f"Fake{name}", None
    )
    if cls is None:
        raise LookupError(f"no fake backend named {short_name!r}")
    return cls()


def runtime_backend(backend_name: str) -> Any:
    """Return a real IBM backend using credentials from the environment only.

    The token is read here and handed straight to the service; it is never stored on the
    adapter, logged, or put in an exception message.

    Raises:
        ConfigurationError: the token or instance is not configured.

    """
    token = os.environ.get(TOKEN_ENV)
    instance = os.environ.get(INSTANCE_ENV)
    if not token or not instance:
        raise ConfigurationError(f"{TOKEN_ENV} and {INSTANCE_ENV} must be set for {backend_name}")
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService(
            channel="ibm_quantum_platform", token=token, instance=instance
        )
        return service.backend(backend_name)
    except Exception as exc:
        # Deliberately not chained: third-party messages could echo request details.
        raise ConfigurationError(
            f"cannot open IBM backend {backend_name}: {type(exc).__name__}"
        ) from None


__all__ = ["INSTANCE_ENV", "TOKEN_ENV", "IBMRuntimeAdapter", "fake_backend", "runtime_backend"]
