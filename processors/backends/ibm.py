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
import time
from typing import Any

from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    Price,
    SamplerOutput,
    SamplerTask,
)
from processors.backends.ibm_gateway import LiveGateway
from processors.backends.ibm_jobs import RuntimeJobs
from processors.backends.ibm_modes import ExecutionPolicy
from processors.backends.provider_jobs import UNTRACKED, RuntimeGateway, Tracking
from processors.errors import ConfigurationError

TOKEN_ENV = "QLOOP_IBM_TOKEN"  # noqa: S105 - the variable's name, not a token
INSTANCE_ENV = "QLOOP_IBM_INSTANCE"


class IBMRuntimeAdapter:
    """Runs submissions through qiskit-ibm-runtime primitives on one backend.

    Args:
        name: Registry name reported in results (e.g. ``fake_manila``).
        backend: A fake backend (local testing mode) or an ``IBMBackend``.
        price: Cost model for the budget ledger.
        simulated: True for fake backends; seeds are honoured only there.
        gateway: How jobs reach the service (default: qiskit-ibm-runtime itself).
        policy: Execution mode (job, batch, session) and job limits.

    """

    def __init__(
        self,
        name: str,
        backend: Any,
        *,
        price: Price | None = None,
        simulated: bool = True,
        gateway: RuntimeGateway | None = None,
        policy: ExecutionPolicy | None = None,
    ) -> None:
        self._name = name
        self._backend = backend
        self._price = price or Price()
        self.is_simulator = simulated
        self.gateway = gateway or LiveGateway(backend, simulated=simulated)
        self._queued, self._queue_read_at = 0, -1e9
        self._jobs = RuntimeJobs(
            name, self.gateway, policy or ExecutionPolicy(), simulated, self.calibration_id
        )
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

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """One sampler job per (shots, explicit seed) group; seeds recorded per job."""
        return self.run_sampler_tracked(tasks, seed, UNTRACKED)

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """One estimator job per explicit-seed group, one PUB per task."""
        return self.run_estimator_tracked(tasks, seed, UNTRACKED)

    def run_sampler_tracked(
        self, tasks: list[SamplerTask], seed: int, tracking: Tracking
    ) -> SamplerOutput:
        """As :meth:`run_sampler`; jobs are reported to, and re-found through, ``tracking``."""
        values, seeds, provider = self._jobs.run("sampler", tasks, seed, tracking)
        return SamplerOutput(counts=values, seeds=seeds, provider=provider)

    def run_estimator_tracked(
        self, tasks: list[EstimatorTask], seed: int, tracking: Tracking
    ) -> EstimatorOutput:
        """As :meth:`run_estimator`; jobs are reported to, and re-found through, ``tracking``."""
        values, seeds, provider = self._jobs.run("estimator", tasks, seed, tracking)
        evs = tuple(tuple(v[0] for v in row) for row in values)
        stds = tuple(tuple(v[1] for v in row) for row in values)
        return EstimatorOutput(evs=evs, stds=stds, seeds=seeds, provider=provider)

    def pending_jobs(self) -> int:
        """Jobs in the device's queue at the provider (0 when it does not say), cached 30 s."""
        now = time.monotonic()
        if now - self._queue_read_at > 30.0:
            try:
                self._queued = int(self._backend.status().pending_jobs)
            except Exception:  # informative only: placement then counts this worker's jobs
                self._queued = 0
            self._queue_read_at = now
        return self._queued

    def close(self) -> None:
        """Close this backend's open batch or session (the worker is stopping)."""
        self._jobs.close()


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
