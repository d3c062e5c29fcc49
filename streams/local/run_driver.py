"""``qloop run``: a built-in hybrid workload driven through the whole pipeline.

The workload's optimizer proposes every parameter set of an iteration at once; they go out
as ParameterUpdates, the worker batches and executes them, results come back on the result
topic and land in ClickHouse. At the end the summary is read back from ClickHouse, so what
the user sees is what is stored.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from processors.template_builder import make_template
from processors.workloads import (
    EvaluationError,
    EvaluationResult,
    IterationReport,
    ParameterSet,
    Workload,
    get_workload,
)
from processors.workloads.optimizer import DescentState
from schemas import CircuitTemplate, ExperimentCheckpoint, Primitive, ResultStatus
from sinks.experiments import experiment_summary, stored_events
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.kafka.checkpoints import latest_checkpoint
from streams.local.stack import LocalStack

Evaluator = Callable[[list[ParameterSet]], list[EvaluationResult]]


TENANT = "qloop-run"


class ResumeError(Exception):
    """The experiment cannot be started or resumed as asked; the message says why and what to do."""


def event_id_of(experiment_id: str, iteration: int, index: int) -> str:
    """The event id of set ``index`` of ``iteration``: the same on every attempt of that set.

    Deterministic ids are what make a resume free: a set the dead process already sent is
    sent again under the same id, and the ledger runs and charges it at most once.
    """
    return f"{experiment_id}/{iteration}/{index}"


def _evaluator(
    client: QloopClient,
    template: CircuitTemplate,
    primitive: Primitive,
    experiment_id: str,
    counter: list[int],
    timeout_s: float,
) -> Evaluator:
    def evaluate(param_sets: list[ParameterSet]) -> list[EvaluationResult]:
        counter[0] += 1
        updates = [
            new_update(
                template,
                [float(v) for v in params],
                experiment_id=experiment_id,
                iteration=counter[0],
                tenant=TENANT,
                primitive=primitive,
                precision=0.0 if primitive is Primitive.ESTIMATOR else None,
                shots=1024 if primitive is Primitive.SAMPLER else None,
                seed=counter[0] * 100_003 + i if primitive is Primitive.SAMPLER else None,
                event_id=event_id_of(experiment_id, counter[0], i),
            )
            for i, params in enumerate(param_sets)
        ]
        results = client.evaluate(updates, timeout_s=timeout_s)
        # A DEGRADED set ran on a stand-in simulator: its values are real, its status says so.
        usable = (ResultStatus.SUCCEEDED, ResultStatus.DEGRADED)
        failed = [r for r in results if r.status not in usable]
        if failed:
            first = failed[0]
            raise EvaluationError(
                f"{len(failed)} set(s) not executed: {first.status}: {first.error_message}"
            )
        return [EvaluationResult.from_job_result(r) for r in results]

    return evaluate


def _wait_stored(settings: Settings, stack: LocalStack, experiment_id: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stack.check()
        if stored_events(settings.dsn, "results", experiment_id) >= n:
            return
        time.sleep(0.25)


def new_experiment_id(workload: str) -> str:
    """A fresh experiment id for ``workload``."""
    return f"{workload}-{uuid.uuid4().hex[:10]}"


def _checkpointer(
    client: QloopClient, workload: Workload, experiment_id: str, template_ids: list[str]
) -> Callable[[DescentState], None]:
    optimizer, optimizer_settings = workload.optimizer()

    def write(state: DescentState) -> None:
        client.checkpoint(
            ExperimentCheckpoint(
                experiment_id=experiment_id,
                iteration=state.iteration,
                workload=workload.name,
                tenant=TENANT,
                optimizer=optimizer,
                optimizer_settings=optimizer_settings,
                template_ids=tuple(template_ids),
                state={
                    "x": state.x.tolist(),
                    "velocity": state.velocity.tolist(),
                    "centre": state.centre.tolist(),
                },
                parameter_sets=state.evaluations,
                recorded_at=datetime.now(UTC),
                seed=workload.seed,
                value=state.value if np.isfinite(state.value) else None,
                best_value=state.best_value if np.isfinite(state.best_value) else None,
                finished=state.finished,
            )
        )

    return write


def _state_of(checkpoint: ExperimentCheckpoint) -> DescentState:
    def vector(name: str) -> NDArray[np.float64]:
        return np.asarray(checkpoint.state[name], dtype=np.float64)

    return DescentState(
        iteration=checkpoint.iteration,
        x=vector("x"),
        velocity=vector("velocity"),
        centre=vector("centre"),
        value=math.inf if checkpoint.value is None else checkpoint.value,
        best_value=math.inf if checkpoint.best_value is None else checkpoint.best_value,
        evaluations=checkpoint.parameter_sets,
        finished=checkpoint.finished,
    )


def _starting_point(
    client: QloopClient, name: str, experiment_id: str, resume: bool
) -> DescentState | None:
    """The state to resume from (None: a fresh start), after checking the request makes sense."""
    latest = client.resume(experiment_id) if resume else None
    if resume and latest is None:
        raise ResumeError(
            f"experiment {experiment_id!r} has no checkpoint to resume from; "
            f"start it with: qloop run {name} --experiment {experiment_id}"
        )
    if latest is not None and latest.workload != name:
        raise ResumeError(
            f"experiment {experiment_id!r} runs workload {latest.workload!r}, not {name!r}"
        )
    if not resume and latest_checkpoint(client.settings, client.topics.experiments, experiment_id):
        raise ResumeError(
            f"experiment {experiment_id!r} already exists; continue it with: "
            f"qloop run {name} --experiment {experiment_id} --resume"
        )
    return None if latest is None else _state_of(latest)


def run_workload(
    settings: Settings,
    name: str,
    *,
    console: Console,
    timeout_s: float = 120.0,
    experiment_id: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run workload ``name`` end to end and return the summary (the ``--json`` object).

    With ``resume``, continue ``experiment_id`` from its last checkpoint: the optimizer state
    comes from the checkpoint, results of sets in flight when the loop died from the result
    topic, and only the sets no one sent yet are executed.

    Raises:
        ResumeError: ``resume`` without a checkpoint, or a new run on an existing id.

    """
    workload = get_workload(name)
    experiment_id = experiment_id or new_experiment_id(name)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    with console.status("starting broker, worker and sink …"):
        stack = LocalStack(settings).__enter__()
    try:
        with QloopClient(settings) as client:
            start_state = _starting_point(client, name, experiment_id, resume)
            template = make_template(workload.circuit(), name, workload.observable())
            client.register_template(template)
            counter = [0 if start_state is None else start_state.iteration]
            evaluate = _evaluator(
                client, template, workload.primitive, experiment_id, counter, timeout_s
            )
            sample = None
            sampled = workload.sampled_circuit()
            templates = [template]
            if sampled is not None:
                sample_template = make_template(sampled, f"{name}-sampled")
                client.register_template(sample_template)
                templates.append(sample_template)
                sample = _evaluator(
                    client, sample_template, Primitive.SAMPLER, experiment_id, counter, timeout_s
                )
            label = "energy (Ha)" if name == "vqe-h2" else "<C>"
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("iter {task.completed:>3.0f}"),
                TextColumn("{task.fields[value]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task(name, total=None, value="")

                def on_iteration(report: IterationReport) -> None:
                    progress.update(
                        task,
                        completed=report.iteration,
                        value=f"{label} {report.value:+.6f}  best {report.best:+.6f}  "
                        f"sets {report.evaluations}",
                    )

                checkpoint = _checkpointer(
                    client, workload, experiment_id, [t.template_id for t in templates]
                )
                if start_state is None:
                    checkpoint(DescentState.start(workload.initial_point()))
                summary = workload.run(
                    evaluate,
                    sample=sample,
                    on_iteration=on_iteration,
                    resume_from=start_state,
                    on_checkpoint=checkpoint,
                )
            _wait_stored(settings, stack, experiment_id, summary.parameter_sets)
            stored = experiment_summary(
                settings.dsn, experiment_id, [t.template_id for t in templates], started_at
            )
        from streams.local.reports import sli_rows

        sli = sli_rows(settings, timedelta(hours=1))
    finally:
        stack.close()
    out: dict[str, Any] = {
        "workload": name,
        "experiment_id": experiment_id,
        "iterations": summary.iterations,
        "parameter_sets": summary.parameter_sets,
        "results_stored": stored.results_stored,
        "backend_submissions": stored.backend_submissions,
        "compile_count": stored.compile_count,
        "compile_cache_hits": stored.jobs_with_cache_hit,
        "batch_sizes": {str(size): n for size, n in stored.batch_sizes.items()},
        "converged": summary.converged,
        "seconds": round(time.monotonic() - started, 2),
        "sli": sli,
    }
    if summary.approximation_ratio is not None:
        out["approximation_ratio"] = summary.approximation_ratio
        out["expected_cut"] = summary.value
        out["max_cut"] = summary.reference
        out["best_bitstring"] = summary.best_bitstring
    else:
        out["energy"] = summary.value
        out["reference_energy"] = summary.reference
        out["error"] = summary.error
    out["parameters"] = [float(v) for v in np.asarray(summary.parameters)]
    return out


__all__ = ["ResumeError", "event_id_of", "new_experiment_id", "run_workload"]
