"""One backend submission for a batch: build the PUBs, run them, map outputs back to sets."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    FloatArray,
    ProviderRun,
    SamplerOutput,
    SamplerTask,
)
from processors.backends.provider_jobs import JobRef, Tracking, TracksJobs
from processors.batcher import Batch
from processors.compile_cache import Compiled
from processors.job_book import ProviderJobBook
from processors.pending import PendingSet
from processors.results import Outcome
from processors.retries import RetryPolicy, call_with_retries, is_transient
from processors.stand_in import asked_for
from processors.templates import observable_of
from schemas import CircuitTemplate, ErrorCode, JobSubmitted, Primitive, ResultStatus

T = TypeVar("T")

#: One attempt and no retry.
NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A set that passed every check and is paid for; ``position`` indexes ``batch.sets``."""

    position: int
    pending: PendingSet
    compiled: Compiled
    shots: int
    cost: float


def bind_order(
    names: tuple[str, ...], circuit: QuantumCircuit, rows: Sequence[Sequence[float]]
) -> FloatArray:
    """Parameter rows (in ``names`` order) reordered to ``circuit``'s parameters, by name.

    Qiskit sorts a circuit's parameters; templates list them in declaration order. The worker
    and a replay bind through this one function, so a replay binds exactly as the run did.
    """
    position = {name: i for i, name in enumerate(names)}
    order = [position[p.name] for p in circuit.parameters]
    values = np.asarray(rows, dtype=np.float64)
    return values.reshape(len(rows), len(names))[:, order]


def laid_out(template: CircuitTemplate, circuit: QuantumCircuit) -> SparsePauliOp:
    """The template's observable on the compiled circuit's physical qubits."""
    observable = observable_of(template)
    if observable is None:  # validation guarantees one; keep mypy and the contract honest
        raise ValueError(f"estimator template {template.template_id} has no observable")
    layout = circuit.layout
    return observable if layout is None else observable.apply_layout(layout)


def _columns(admitted: list[Admitted]) -> FloatArray:
    first = admitted[0]
    rows = [a.pending.update.parameters for a in admitted]
    return bind_order(first.pending.template.parameter_names, first.compiled.circuit, rows)


def _tasks(batch: Batch, admitted: list[Admitted]) -> list[list[Admitted]]:
    """Split the admitted sets into PUBs: one per (compiled circuit, shots, precision)."""
    pubs: dict[tuple[str, int, float | None], list[Admitted]] = {}
    for item in admitted:
        key = (item.compiled.record.compile_key, item.shots, item.pending.update.precision)
        pubs.setdefault(key, []).append(item)
    return list(pubs.values())


def _observable(item: Admitted) -> SparsePauliOp:
    return laid_out(item.pending.template, item.compiled.circuit)


def submit(
    backend: BackendAdapter,
    batch: Batch,
    admitted: list[Admitted],
    job_id: str,
    seed: int,
    now: Callable[[], datetime],
    on_submitted: Callable[[JobSubmitted], None] | None = None,
    retries: RetryPolicy | None = None,
    jobs: ProviderJobBook | None = None,
) -> tuple[JobSubmitted, dict[int, Outcome]]:
    """Run ``admitted`` as one submission; return the JobSubmitted and an outcome per set.

    ``on_submitted`` receives the JobSubmitted as the batch is handed to the backend, before it
    runs, so consumers can see submitted-but-unfinished work (and queue time as the gap between
    the job and its results), and again before every retry of a transient failure, with the
    attempt number (``retries``: how many and how long; None never retries).
    """
    pubs = _tasks(batch, admitted)
    submitted_at = now()
    job = JobSubmitted(
        job_id=job_id,
        backend=asked_for(batch.backend),
        primitive=batch.primitive,
        event_ids=tuple(a.pending.update.event_id for a in admitted),
        template_ids=tuple(dict.fromkeys(a.pending.update.template_id for a in admitted)),
        topology_keys=tuple(dict.fromkeys(a.pending.template.topology_key for a in admitted)),
        tenants=tuple(dict.fromkeys(a.pending.update.tenant for a in admitted)),
        num_parameter_sets=len(admitted),
        total_shots=sum(a.shots for a in admitted),
        compile_cache_hit=all(a.compiled.hit for a in admitted),
        queued_at=min(a.pending.received_at for a in admitted),
        submitted_at=submitted_at,
        estimated_cost=sum(a.cost for a in admitted),
    )
    if on_submitted is not None:
        on_submitted(job)
    attempt = [1]

    def retrying(error_attempt: int, _error: BaseException) -> None:
        attempt[0] = error_attempt
        if on_submitted is not None:
            on_submitted(replace(job, attempt=error_attempt, submitted_at=now()))

    def run(call: Callable[[], T]) -> T:
        return call_with_retries(call, retries or NO_RETRY, retrying)

    def announce(announced: JobSubmitted) -> None:
        if on_submitted is not None:
            on_submitted(replace(announced, submitted_at=now()))

    sample, estimate = backend.run_sampler, backend.run_estimator
    if jobs is not None and isinstance(backend, TracksJobs):
        tracked, tracking = backend, _tracking(job, pubs, jobs, announce, attempt)

        def sample(tasks: list[SamplerTask], seed: int) -> SamplerOutput:
            return tracked.run_sampler_tracked(tasks, seed, tracking)

        def estimate(tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
            return tracked.run_estimator_tracked(tasks, seed, tracking)

    started = time.perf_counter()
    outcomes: dict[int, Outcome] = {}
    try:
        per_set: Callable[[int, int], dict[str, Any]]
        if batch.primitive is Primitive.SAMPLER:
            sampler_tasks = [
                SamplerTask(
                    pub[0].compiled.circuit,
                    _columns(pub),
                    pub[0].shots,
                    tuple(a.pending.update.seed for a in pub),
                )
                for pub in pubs
            ]
            sampled = run(lambda: sample(sampler_tasks, seed))
            seeds, provider = sampled.seeds, sampled.provider

            def per_set(p: int, k: int) -> dict[str, Any]:
                return {"counts": sampled.counts[p][k]}

        else:
            estimator_tasks = [
                EstimatorTask(
                    pub[0].compiled.circuit,
                    _observable(pub[0]),
                    _columns(pub),
                    pub[0].pending.update.precision,
                    tuple(a.pending.update.seed for a in pub),
                )
                for pub in pubs
            ]
            estimated = run(lambda: estimate(estimator_tasks, seed))
            seeds, provider = estimated.seeds, estimated.provider

            def per_set(p: int, k: int) -> dict[str, Any]:
                return {"evs": (estimated.evs[p][k],), "stds": (estimated.stds[p][k],)}

        execute_ms = (time.perf_counter() - started) * 1000.0
        noise = backend.noise_model_id()
        for p, pub in enumerate(pubs):
            for k, item in enumerate(pub):
                outcomes[item.position] = _outcome(
                    item,
                    ResultStatus.SUCCEEDED,
                    execute_ms,
                    seed=seeds[p][k],
                    noise=noise,
                    provider=None if provider is None else provider[p][k],
                    **per_set(p, k),
                )
    except Exception as exc:  # BackendError and anything an adapter let slip: never crash
        execute_ms = (time.perf_counter() - started) * 1000.0
        kind = "transient" if is_transient(exc) else "permanent"
        tries = f"{kind} failure, attempt {attempt[0]}" if attempt[0] > 1 else f"{kind} failure"
        message = f"{type(exc).__name__} ({tries}): {exc}"[:1000]
        for item in admitted:
            outcomes[item.position] = _outcome(item, ResultStatus.FAILED, execute_ms, error=message)
    return job, outcomes


def _outcome(
    item: Admitted,
    status: ResultStatus,
    execute_ms: float,
    *,
    seed: int | None = None,
    noise: str | None = None,
    counts: dict[str, int] | None = None,
    evs: tuple[float, ...] | None = None,
    stds: tuple[float, ...] | None = None,
    error: str | None = None,
    provider: ProviderRun | None = None,
) -> Outcome:
    record = item.compiled.record
    settings = dict(record.transpiler_settings)
    calibration = record.calibration_id
    if provider is not None:  # the provider's own clock, and the calibration it ran on
        execute_ms = provider.execute_ms if provider.execute_ms is not None else execute_ms
        calibration = provider.calibration_id or calibration
    return Outcome(
        status=status,
        shots=item.shots if status is ResultStatus.SUCCEEDED else 0,
        counts=counts,
        expectation_values=evs,
        standard_errors=stds,
        error_code=None if error is None else ErrorCode.BACKEND_ERROR,
        error_message=error,
        cost=item.cost,
        seed_simulator=seed,
        compile_ms=0.0 if item.compiled.hit else record.duration_ms,
        execute_ms=execute_ms,
        transpiler_settings=settings,
        seed_transpiler=int(settings["seed_transpiler"]),
        calibration_id=calibration,
        noise_model_id=noise,
        compile_key=record.compile_key,
        provider_job_id=None if provider is None else provider.job_id,
        provider_queue_ms=None if provider is None else provider.queue_ms,
    )


def _tracking(
    job: JobSubmitted,
    pubs: list[list[Admitted]],
    jobs: ProviderJobBook,
    announce: Callable[[JobSubmitted], None],
    attempt: list[int],
) -> Tracking:
    """Map the adapter's (task, set) positions to event ids, for the job book and tags."""
    event_of = {
        (p, k): item.pending.update.event_id
        for p, pub in enumerate(pubs)
        for k, item in enumerate(pub)
    }
    accepted: list[str] = []

    def adopted(provider_job_id: str) -> None:
        if provider_job_id not in accepted:
            accepted.append(provider_job_id)
            announce(replace(job, attempt=attempt[0], provider_job_ids=tuple(accepted)))

    def remember(provider_job_id: str, refs: Sequence[tuple[int, int, JobRef]]) -> None:
        jobs.remember({event_of[(t, s)]: ref for t, s, ref in refs})
        adopted(provider_job_id)

    experiments = dict.fromkeys(item.pending.update.experiment_id for pub in pubs for item in pub)
    tags = ("qloop", f"qloop-job:{job.job_id}", *(f"qloop-experiment:{e}" for e in experiments))
    return Tracking(
        known=lambda t, s: jobs.find(event_of[(t, s)]),
        remember=remember,
        tags=tags,
        adopted=adopted,
    )


__all__ = ["Admitted", "bind_order", "laid_out", "submit"]
