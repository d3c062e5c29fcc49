"""``qloop run``: a built-in hybrid workload driven through the whole pipeline.

The workload's optimizer proposes every parameter set of an iteration at once; they go out
as ParameterUpdates, the worker batches and executes them, results come back on the result
topic and land in ClickHouse. At the end the summary is read back from ClickHouse, so what
the user sees is what is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from processors.template_builder import make_template
from processors.workloads import (
    EvaluationError,
    EvaluationResult,
    IterationReport,
    ParameterSet,
    get_workload,
)
from schemas import CircuitTemplate, Primitive, ResultStatus
from sinks.experiments import experiment_summary, stored_events
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.local.stack import LocalStack

Evaluator = Callable[[list[ParameterSet]], list[EvaluationResult]]


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
                tenant="qloop-run",
                primitive=primitive,
                precision=0.0 if primitive is Primitive.ESTIMATOR else None,
                shots=1024 if primitive is Primitive.SAMPLER else None,
                seed=counter[0] * 100_003 + i if primitive is Primitive.SAMPLER else None,
            )
            for i, params in enumerate(param_sets)
        ]
        results = client.evaluate(updates, timeout_s=timeout_s)
        failed = [r for r in results if r.status is not ResultStatus.SUCCEEDED]
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


def run_workload(
    settings: Settings, name: str, *, console: Console, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Run workload ``name`` end to end and return the summary (the ``--json`` object)."""
    workload = get_workload(name)
    experiment_id = f"{name}-{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    started_at = datetime.now(UTC)
    with console.status("starting broker, worker and sink …"):
        stack = LocalStack(settings).__enter__()
    try:
        with QloopClient(settings) as client:
            template = make_template(workload.circuit(), name, workload.observable())
            client.register_template(template)
            counter = [0]
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

                summary = workload.run(evaluate, sample=sample, on_iteration=on_iteration)
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


__all__ = ["run_workload"]
