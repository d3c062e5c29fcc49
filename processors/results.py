"""Result shaping: one JobResult per parameter set, with the reproducibility bundle."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from processors.pending import PendingSet
from processors.stand_in import asked_for
from schemas import ErrorCode, JobResult, Reproducibility, ResultStatus, Timings

CODE_VERSION_ENV = "QLOOP_CODE_VERSION"
_PACKAGES = ("qiskit", "qiskit-aer", "qiskit-ibm-runtime", "numpy", "scipy")


@cache
def package_versions() -> dict[str, str]:
    """Versions of every package that can change a result."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@cache
def code_version() -> str:
    """The code that produced a result, as precisely as the deployment allows.

    In order: ``$QLOOP_CODE_VERSION`` (set by a deployment that knows better); ``git describe
    --always --dirty --tags`` when qloop runs from a checkout; the installed distribution's
    version, with the URL and commit it was installed from when pip recorded them
    (``direct_url.json``). Read once per process: the code cannot change under a running worker.
    """
    env = os.environ.get(CODE_VERSION_ENV)
    if env:
        return env
    described = _git_describe(Path(__file__).resolve().parents[1])
    if described:
        return described
    try:
        dist = metadata.distribution("qloop")
    except metadata.PackageNotFoundError:
        return "unknown"
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    commit = origin.get("vcs_info", {}).get("commit_id")
    where = f"{origin['url']}@{commit}" if commit else origin.get("url")
    return f"qloop-{dist.version}" + (f" ({where})" if where else "")


def _git_describe(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argv
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--tags"],  # noqa: S607
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one set, before it becomes a record."""

    status: ResultStatus
    shots: int = 0
    counts: dict[str, int] | None = None
    expectation_values: tuple[float, ...] | None = None
    standard_errors: tuple[float, ...] | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    cost: float = 0.0
    seed_simulator: int | None = None
    compile_ms: float = 0.0
    execute_ms: float = 0.0
    transpiler_settings: dict[str, str] = field(default_factory=dict)
    seed_transpiler: int | None = None
    calibration_id: str | None = None
    noise_model_id: str | None = None
    compile_key: str | None = None
    #: The backend that actually ran the set, when it is not the one asked for (degraded).
    backend_name: str | None = None
    #: The provider's job id and queue time, where a cloud provider ran the set.
    provider_job_id: str | None = None
    provider_queue_ms: float | None = None


def make_result(
    pending: PendingSet,
    outcome: Outcome,
    *,
    job_id: str | None,
    handed_at: datetime,
    completed_at: datetime,
) -> JobResult:
    """Build the JobResult of ``pending``; timings are measured from ``produced_at``."""
    update = pending.update
    queue_ms = (handed_at - update.produced_at).total_seconds() * 1000.0
    end_to_end_ms = (completed_at - update.produced_at).total_seconds() * 1000.0
    return JobResult(
        event_id=update.event_id,
        experiment_id=update.experiment_id,
        iteration=update.iteration,
        tenant=update.tenant,
        template_id=update.template_id,
        topology_key=pending.template.topology_key,
        backend=asked_for(update.backend),
        primitive=update.primitive,
        status=outcome.status,
        parameters=update.parameters,
        shots=outcome.shots,
        timings=Timings(
            queue_ms=max(0.0, queue_ms),
            compile_ms=outcome.compile_ms,
            execute_ms=outcome.execute_ms,
            end_to_end_ms=max(0.0, end_to_end_ms),
            provider_queue_ms=outcome.provider_queue_ms,
        ),
        produced_at=update.produced_at,
        completed_at=completed_at,
        reproducibility=Reproducibility(
            package_versions=dict(package_versions()),
            code_version=code_version(),
            transpiler_settings=dict(outcome.transpiler_settings),
            backend_name=outcome.backend_name or asked_for(update.backend),
            seed_simulator=outcome.seed_simulator,
            seed_transpiler=outcome.seed_transpiler,
            calibration_id=outcome.calibration_id,
            noise_model_id=outcome.noise_model_id,
            compile_key=outcome.compile_key,
            precision=update.precision,
            provider_job_id=outcome.provider_job_id,
        ),
        job_id=job_id,
        counts=outcome.counts,
        expectation_values=outcome.expectation_values,
        standard_errors=outcome.standard_errors,
        error_code=None if outcome.error_code is None else str(outcome.error_code),
        error_message=outcome.error_message,
        cost=outcome.cost,
        labels=dict(update.labels),
    )


__all__ = ["CODE_VERSION_ENV", "Outcome", "code_version", "make_result", "package_versions"]
