"""Jobs that live at the provider, not in the worker: references, tracking and the gateway seam.

A cloud provider (IBM Quantum) keeps a job after the process that submitted it dies, and bills
it whether or not anyone takes its result. So an adapter for such a provider hands every job
id to the caller (:class:`Tracking.remember`, made durable in the ledger) *before* it waits for
the result, and a later run of the same sets (a retry, or a restarted worker) asks
:class:`Tracking.known` first and re-attaches to the job instead of submitting it again.

:class:`RuntimeGateway` is the narrow seam between the IBM adapter and the service: the live
one speaks qiskit-ibm-runtime (:mod:`processors.backends.ibm_gateway`), the fake one keeps jobs
on disk so that they outlive a killed worker (:mod:`processors.backends.fake_service`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from processors.backends.base import EstimatorOutput, EstimatorTask, SamplerOutput, SamplerTask

Kind = Literal["sampler", "estimator"]
#: Job states as the runtime reports them; anything else is read as still running.
FAILED_STATES = frozenset({"ERROR", "CANCELLED", "CANCELED", "FAILED"})


@dataclass(frozen=True, slots=True)
class JobRef:
    """Where one set's result is: row ``row`` of PUB ``pub`` of the provider's job ``job_id``.

    ``seed`` is the simulator seed the job was submitted with (None on hardware): a result
    taken from a re-attached job still names the seed that replays it.
    """

    job_id: str
    pub: int
    row: int
    seed: int | None = None

    def encode(self) -> str:
        """The ledger's value for this reference (compact JSON)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> JobRef:
        """Read :meth:`encode`'s output back."""
        raw = json.loads(text)
        seed = raw.get("seed")
        return cls(str(raw["job_id"]), int(raw["pub"]), int(raw["row"]), seed)


@dataclass(frozen=True, slots=True)
class JobTimes:
    """The provider's own timestamps of a job: queued from ``created`` until ``running``."""

    created: datetime
    running: datetime
    finished: datetime

    @property
    def queue_ms(self) -> float:
        """Time in the provider's queue."""
        return max(0.0, (self.running - self.created).total_seconds() * 1000.0)

    @property
    def execute_ms(self) -> float:
        """Time the provider spent running the job."""
        return max(0.0, (self.finished - self.running).total_seconds() * 1000.0)


@dataclass(frozen=True, slots=True)
class Tracking:
    """How an adapter learns and reports where sets' results live.

    Attributes:
        known: ``(task, set)`` -> the job that already holds that set's result, if any.
        remember: Called with a new job id and its ``(task, set, ref)`` entries once the
            provider accepted the job, before waiting on it; returns once they are durable.
        tags: Labels the job carries at the provider (qloop's job and experiment ids).
        adopted: Called with each known job that is re-attached to (not submitted again).

    """

    known: Callable[[int, int], JobRef | None]
    remember: Callable[[str, Sequence[tuple[int, int, JobRef]]], None]
    tags: tuple[str, ...] = ()
    adopted: Callable[[str], None] = lambda _job_id: None


#: Tracking that knows nothing and remembers nothing (a plain, untracked run).
UNTRACKED = Tracking(known=lambda _t, _s: None, remember=lambda _j, _r: None)


@runtime_checkable
class TracksJobs(Protocol):
    """An adapter whose jobs outlive the worker and can be re-attached to."""

    def run_sampler_tracked(
        self, tasks: list[SamplerTask], seed: int, tracking: Tracking
    ) -> SamplerOutput:
        """As ``run_sampler``, reporting and reusing provider jobs through ``tracking``."""
        ...

    def run_estimator_tracked(
        self, tasks: list[EstimatorTask], seed: int, tracking: Tracking
    ) -> EstimatorOutput:
        """As ``run_estimator``, reporting and reusing provider jobs through ``tracking``."""
        ...


@dataclass(frozen=True, slots=True)
class FinishedJob:
    """A job at its end: its ``PrimitiveResult``, timestamps and session or batch.

    ``times`` is None where the service keeps no timestamps (local testing mode).
    """

    result: Any
    times: JobTimes | None
    session_id: str | None


class RuntimeGateway(Protocol):
    """The calls the IBM adapter makes to a runtime service (live or fake)."""

    @property
    def durable(self) -> bool:
        """Whether jobs outlive this process, so that they can be re-attached to."""
        ...

    def open(self, mode: str, max_time_s: float | None) -> str:
        """Open a ``session`` or ``batch``; return its id."""
        ...

    def close(self, mode_id: str) -> None:
        """Close a session or batch: no new jobs; running ones finish."""
        ...

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
        """Hand ``pubs`` to the provider as one job; return its id once accepted."""
        ...

    def status(self, job_id: str) -> str:
        """``QUEUED``, ``RUNNING``, ``DONE``, ``ERROR`` or ``CANCELLED``.

        Raises:
            LookupError: the service does not know the job (it cannot be re-attached to).

        """
        ...

    def result(self, job_id: str) -> FinishedJob:
        """Block until the job is done; its result, timestamps and session, or raise its error.

        The gateway may forget the job afterwards: each job's result is taken once per run.
        """
        ...


__all__ = [
    "FAILED_STATES",
    "UNTRACKED",
    "FinishedJob",
    "JobRef",
    "JobTimes",
    "Kind",
    "RuntimeGateway",
    "Tracking",
    "TracksJobs",
]
