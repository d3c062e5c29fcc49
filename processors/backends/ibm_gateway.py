"""The live runtime gateway: qiskit-ibm-runtime's primitives, sessions and batches.

With a fake backend the runtime runs in local testing mode: jobs are threads of this process,
so they cannot be re-attached to after a restart (``durable`` is False). With an
``IBMBackend`` jobs run at IBM Quantum and :meth:`LiveGateway.status` and
:meth:`LiveGateway.result` find them by id through the backend's service.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

from qiskit_ibm_runtime import Batch, Session
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler

from processors.backends.provider_jobs import FinishedJob, JobTimes, Kind


def _state(job: Any) -> str:
    status = job.status()
    return str(getattr(status, "name", status)).upper()


class LiveGateway:
    """:class:`~processors.backends.provider_jobs.RuntimeGateway` on qiskit-ibm-runtime.

    Args:
        backend: A fake backend (local testing mode) or an ``IBMBackend``.
        simulated: Seeds are set only on simulated backends.

    """

    def __init__(self, backend: Any, *, simulated: bool) -> None:
        self._backend = backend
        self._simulated = simulated
        self._service = None if simulated else getattr(backend, "service", None)
        self._jobs: dict[str, Any] = {}
        self._modes: dict[str, Session | Batch] = {}
        self._lock = threading.Lock()

    @property
    def durable(self) -> bool:
        """Whether jobs outlive this process (only at the real service)."""
        return self._service is not None

    def open(self, mode: str, max_time_s: float | None) -> str:
        """Open a session or batch on the backend."""
        kind = Session if mode == "session" else Batch
        handle = kind(
            backend=self._backend, max_time=None if max_time_s is None else int(max_time_s)
        )
        # Local testing mode has no session ids: name it here so it can still be closed.
        key = handle.session_id or f"local-{mode}-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._modes[key] = handle
        return key

    def close(self, mode_id: str) -> None:
        """Close a session or batch opened here, or (at the service) one found by id."""
        with self._lock:
            handle = self._modes.pop(mode_id, None)
        if handle is None and self._service is not None:
            handle = Session.from_id(mode_id, self._service)
        if handle is not None:
            handle.close()

    def submit(
        self,
        kind: Kind,
        pubs: list[Any],
        *,
        seed: int | None,
        mode_id: str | None,
        tags: tuple[str, ...],
        max_execution_s: int | None,
    ) -> str:
        """Run ``pubs`` through the Executor-based primitive in the requested mode."""
        with self._lock:
            mode: Any = self._modes.get(mode_id) if mode_id is not None else None
        primitive: Any = (Sampler if kind == "sampler" else Estimator)(mode=mode or self._backend)
        if self._simulated and seed is not None:
            primitive.options.simulator.seed_simulator = seed
        if max_execution_s is not None:
            primitive.options.max_execution_time = max_execution_s
        primitive.options.environment.job_tags = list(tags)
        job = primitive.run(pubs)
        job_id = str(job.job_id())
        with self._lock:
            self._jobs[job_id] = job
        return job_id

    def _job(self, job_id: str) -> Any:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        if self._service is None:
            raise LookupError(f"job {job_id} is not known here (local testing mode)")
        job = self._service.job(job_id)
        with self._lock:
            self._jobs[job_id] = job
        return job

    def status(self, job_id: str) -> str:
        """The job's state, as the runtime names it."""
        return _state(self._job(job_id))

    def result(self, job_id: str) -> FinishedJob:
        """Wait for the job; its result, its metrics' timestamps and its session. Forgets it."""
        job = self._job(job_id)
        try:
            result = job.result()
            if self._service is None:  # local testing mode keeps no timestamps or sessions
                return FinishedJob(result, None, None)
            return FinishedJob(result, _times(job), getattr(job, "session_id", None))
        finally:
            with self._lock:
                self._jobs.pop(job_id, None)


def _times(job: Any) -> JobTimes | None:
    """``created``/``running``/``finished`` from a service job's metrics."""
    try:
        stamps = job.metrics()["timestamps"]
        keys = ("created", "running", "finished")
        return JobTimes(*(datetime.fromisoformat(stamps[k]) for k in keys))
    except Exception:  # metrics are informative; a result never fails for lack of them
        return None


__all__ = ["LiveGateway"]
