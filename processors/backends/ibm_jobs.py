"""One IBM submission as provider jobs: plan, submit (or re-attach), wait, and read each set.

The order matters for money: every new job's id is handed to :class:`Tracking.remember` (the
ledger makes it durable) right after the provider accepts it and before anything waits on it.
A set whose job is already known (a retry, or a worker restarted while the job ran) is read
from that job, unless the provider says it failed; only the other sets are submitted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from processors.backends.base import (
    EstimatorTask,
    ProviderRun,
    SamplerTask,
    bitstring_counts,
    derive_seed,
)
from processors.backends.ibm_modes import ExecutionPolicy, ModeKeeper
from processors.backends.provider_jobs import (
    FAILED_STATES,
    JobRef,
    JobTimes,
    Kind,
    RuntimeGateway,
    Tracking,
)
from processors.errors import BackendError

log = logging.getLogger(__name__)

Task = SamplerTask | EstimatorTask
#: One planned job: its seed, its PUBs, and (task, set, pub, row) for every set in it.
Plan = tuple[int, list[Any], list[tuple[int, int, int, int]]]
Grid = tuple[tuple[Any, ...], ...]


def _sampler_plan(tasks: list[Any], slots: list[tuple[int, int]], seed: int) -> Iterator[Plan]:
    """One job per (shots, explicit seed); a parameter-free circuit gets a PUB per set.

    An (N, 0) value array is not read as N bindings by the runtime sampler (each would see a
    single shot), hence the PUB per set.
    """
    groups: dict[tuple[int, int | None], dict[int, list[int]]] = {}
    for ti, si in slots:
        groups.setdefault((tasks[ti].shots, tasks[ti].seeds[si]), {}).setdefault(ti, []).append(si)
    for index, ((shots, explicit), by_task) in enumerate(groups.items()):
        pubs: list[Any] = []
        rows: list[tuple[int, int, int, int]] = []
        for ti, sis in by_task.items():
            task = tasks[ti]
            if task.circuit.num_parameters == 0:
                for si in sis:
                    rows.append((ti, si, len(pubs), 0))
                    pubs.append((task.circuit, None, shots))
            else:
                rows.extend((ti, si, len(pubs), k) for k, si in enumerate(sis))
                pubs.append((task.circuit, task.values[sis], shots))
        yield (explicit if explicit is not None else derive_seed(seed, index)), pubs, rows


def _estimator_plan(tasks: list[Any], slots: list[tuple[int, int]], seed: int) -> Iterator[Plan]:
    """One job per explicit seed, one PUB per task; hardware has no exact mode (precision 0)."""
    groups: dict[int | None, dict[int, list[int]]] = {}
    for ti, si in slots:
        groups.setdefault(tasks[ti].seeds[si], {}).setdefault(ti, []).append(si)
    for index, (explicit, by_task) in enumerate(groups.items()):
        pubs: list[Any] = []
        rows: list[tuple[int, int, int, int]] = []
        for ti, sis in by_task.items():
            task = tasks[ti]
            rows.extend((ti, si, len(pubs), k) for k, si in enumerate(sis))
            pubs.append(
                (task.circuit, task.observable, task.values[sis])
                + ((task.precision,) if task.precision else ())
            )
        yield (explicit if explicit is not None else derive_seed(seed, index)), pubs, rows


def _read(kind: Kind, result: Any, ref: JobRef) -> Any:
    """One set's outcome from a job's result: its counts, or its (value, standard error)."""
    pub_result = result[ref.pub]
    if kind == "sampler":
        joined = pub_result.join_data()
        raw = joined.get_counts() if pub_result.data.shape == () else joined.get_counts(ref.row)
        return bitstring_counts(raw)
    evs = np.asarray(pub_result.data.evs, float).reshape(-1)
    stds = np.asarray(pub_result.data.stds, float).reshape(-1)
    at = 0 if evs.size == 1 else ref.row
    return float(evs[at]), float(stds[at])


class RuntimeJobs:
    """Runs submissions of one IBM backend as provider jobs, in its execution mode.

    Args:
        name: The backend's registry name (for messages).
        gateway: The service.
        policy: Execution mode and job limits.
        simulated: Seeds are meaningful only on a simulated device.
        calibration: The device's calibration id now (read when a job's result is taken).

    """

    def __init__(
        self,
        name: str,
        gateway: RuntimeGateway,
        policy: ExecutionPolicy,
        simulated: bool,
        calibration: Callable[[], str | None],
    ) -> None:
        self._name = name
        self._gateway = gateway
        self._policy = policy
        self._simulated = simulated
        self._calibration = calibration
        self._keeper = ModeKeeper(gateway, policy)
        self._durable = gateway.durable

    def run(
        self, kind: Kind, tasks: list[Any], seed: int, tracking: Tracking
    ) -> tuple[Grid, Grid, Grid | None]:
        """Every set's outcome, seed and provider run, per task; raise ``BackendError``."""
        shape = [len(t.seeds) for t in tasks]
        outcomes: list[list[Any]] = [[None] * n for n in shape]
        seeds: list[list[int | None]] = [[None] * n for n in shape]
        runs: list[list[ProviderRun | None]] = [[None] * n for n in shape]
        jobs: dict[str, list[tuple[int, int, JobRef]]] = {}
        fresh: list[tuple[int, int]] = []
        states: dict[str, bool] = {}
        for ti, n in enumerate(shape):
            for si in range(n):
                ref = tracking.known(ti, si) if self._durable else None
                if ref is not None and self._reusable(ref.job_id, states):
                    jobs.setdefault(ref.job_id, []).append((ti, si, ref))
                else:
                    fresh.append((ti, si))
        adopted = set(jobs)
        for job_id in jobs:
            log.info("%s: re-attaching to provider job %s", self._name, job_id)
            tracking.adopted(job_id)
        mode_id = self._keeper.acquire() if fresh else None
        try:
            plan = _sampler_plan if kind == "sampler" else _estimator_plan
            for job_seed, pubs, rows in plan(tasks, fresh, seed):
                job_id = self._submit(kind, pubs, job_seed, mode_id, tracking.tags)
                refs = [(ti, si, JobRef(job_id, p, r, job_seed)) for ti, si, p, r in rows]
                if self._durable:
                    tracking.remember(job_id, refs)
                jobs[job_id] = refs
            for job_id, refs in jobs.items():
                try:
                    finished = self._gateway.result(job_id)
                except Exception as exc:
                    raise BackendError(f"{self._name}: {kind} job failed: {exc}") from exc
                run = self._provider_run(job_id, finished.times)
                for ti, si, ref in refs:
                    outcomes[ti][si] = _read(kind, finished.result, ref)
                    seeds[ti][si] = ref.seed if self._simulated else None
                    runs[ti][si] = run
                if job_id in adopted:
                    self._close_foreign(job_id, finished.session_id)
        finally:
            if fresh:
                self._keeper.release()
        grid = tuple(tuple(row) for row in runs) if self._durable else None
        return tuple(map(tuple, outcomes)), tuple(map(tuple, seeds)), grid

    def _submit(
        self, kind: Kind, pubs: list[Any], seed: int, mode_id: str | None, tags: tuple[str, ...]
    ) -> str:
        try:
            return self._gateway.submit(
                kind,
                pubs,
                seed=seed if self._simulated else None,
                mode_id=mode_id,
                tags=tags,
                max_execution_s=self._policy.max_execution_s,
            )
        except Exception as exc:
            raise BackendError(f"{self._name}: {kind} job failed: {exc}") from exc

    def _reusable(self, job_id: str, states: dict[str, bool]) -> bool:
        """A known job is re-attached to unless the provider lost it or it failed."""
        if job_id not in states:
            try:
                states[job_id] = self._gateway.status(job_id) not in FAILED_STATES
            except LookupError:
                states[job_id] = False
        return states[job_id]

    def _provider_run(self, job_id: str, times: JobTimes | None) -> ProviderRun | None:
        if not self._durable:
            return None
        queue_ms = None if times is None else times.queue_ms
        execute_ms = None if times is None else times.execute_ms
        return ProviderRun(job_id, queue_ms, execute_ms, self._calibration())

    def _close_foreign(self, job_id: str, mode_id: str | None) -> None:
        """A re-attached job's session belonged to a worker that is gone: close it."""
        if mode_id is None or self._keeper.owns(mode_id):
            return
        try:
            self._gateway.close(mode_id)
            log.info("%s: closed %s, left open by a stopped worker", self._name, mode_id)
        except Exception:  # the provider closes it at its max time; never fail a result for it
            log.exception("%s: could not close the session of job %s", self._name, job_id)

    def close(self) -> None:
        """Close the open batch or session, if any."""
        self._keeper.close()


__all__ = ["RuntimeJobs"]
