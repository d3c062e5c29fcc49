"""What ClickHouse holds for one experiment: stored results, its jobs, batch sizes, compilations.

``qloop run`` ends with these figures, ``qloop bench`` polls them to time a run to its last
stored row, and the local stack waits on them; one home keeps the three from drifting apart.
Every value is bound by the engine (``{name:Type}``), never formatted into the SQL, and every
function goes through :func:`sinks.query.query`, so it works whether or not another process owns
the embedded engine.

On FINAL: ``results`` and ``jobs`` are ReplacingMergeTrees whose sorting keys end with
``event_id`` and ``job_id``, so ``uniqExact`` of those ids and ``max(ingested_at)`` (the version
column) read the same with or without it, and the counts that waits poll several times a second
beside a busy sink skip it. Figures read from other columns of a row (a result's ``job_id``, a
job's cache-hit flag) or a plain ``count()`` use FINAL, so a replayed row counts once, as its
latest version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sinks.query import query

#: ``qloop`` tables with an ``event_id`` column (only ``results`` has an ``experiment_id``).
EventTable = Literal["results", "dead_letters"]

_EVENTS_SQL = "SELECT uniqExact(event_id) FROM qloop.{table:Identifier}"
_EXPERIMENT_EVENTS_SQL = """
SELECT uniqExact(event_id) FROM qloop.results WHERE experiment_id = {experiment_id:String}
"""
_PROGRESS_SQL = """
SELECT uniqExact(event_id), max(ingested_at)
FROM qloop.results
WHERE experiment_id = {experiment_id:String}
"""
# FINAL: a replayed event keeps one job_id, that of its latest ingest.
_RESULTS_SQL = """
SELECT uniqExact(event_id), uniqExact(job_id), max(ingested_at)
FROM qloop.results FINAL
WHERE experiment_id = {experiment_id:String}
"""
_JOBS_SQL = """
SELECT uniqExact(job_id), uniqExactIf(job_id, compile_cache_hit)
FROM qloop.jobs FINAL
WHERE job_id IN (SELECT job_id FROM qloop.results WHERE experiment_id = {experiment_id:String})
"""
_BATCH_SIZES_SQL = """
SELECT num_parameter_sets, count()
FROM qloop.jobs FINAL
WHERE job_id IN (SELECT job_id FROM qloop.results WHERE experiment_id = {experiment_id:String})
GROUP BY num_parameter_sets
ORDER BY num_parameter_sets
"""
_COMPILATIONS_SQL = """
SELECT count() FROM qloop.compilations
WHERE has({template_ids:Array(String)}, template_id) AND compiled_at >= {since:DateTime64(6)}
"""


@dataclass(frozen=True)
class StoredResults:
    """How far an experiment's results have landed.

    Attributes:
        events: Distinct result events stored.
        last_ingested_at: When the latest of them was stored (UTC); ``None`` before the first.

    """

    events: int
    last_ingested_at: datetime | None


@dataclass(frozen=True)
class ExperimentJobs:
    """The backend submissions that produced an experiment's stored results.

    Attributes:
        jobs: Distinct jobs stored in ``qloop.jobs``.
        jobs_with_cache_hit: Those whose circuits all came from the compile cache.

    """

    jobs: int
    jobs_with_cache_hit: int


@dataclass(frozen=True)
class ExperimentSummary:
    """Everything ``qloop run`` reports about an experiment, read back from ClickHouse.

    Attributes:
        results_stored: Distinct result events stored.
        backend_submissions: Distinct jobs named by those results.
        jobs: Distinct jobs stored in ``qloop.jobs`` for them (may trail by one sink flush).
        jobs_with_cache_hit: Those jobs that hit the compile cache.
        batch_sizes: Parameter sets per job -> number of jobs of that size, ascending.
        compile_count: Compilations of the given templates since the given time.
        last_ingested_at: When the latest result was stored (UTC); ``None`` before the first.

    """

    results_stored: int
    backend_submissions: int
    jobs: int
    jobs_with_cache_hit: int
    batch_sizes: dict[int, int] = field(default_factory=dict)
    compile_count: int = 0
    last_ingested_at: datetime | None = None


def stored_events(dsn: str, table: EventTable = "results", experiment_id: str | None = None) -> int:
    """Count the distinct events stored in ``qloop.<table>`` (of one experiment, if given).

    Distinct ``event_id`` rather than ``count()``: a redelivered row must not make a wait end
    early.

    Raises:
        ValueError: ``table`` has no ``event_id``, or ``experiment_id`` was given for a table
            without an ``experiment_id``.

    """
    if table not in get_args(EventTable):
        raise ValueError(f"qloop.{table} has no event_id column")
    if experiment_id is None:
        return _one_int(dsn, _EVENTS_SQL, {"table": table})
    if table != "results":
        raise ValueError(f"qloop.{table} has no experiment_id column")
    return _one_int(dsn, _EXPERIMENT_EVENTS_SQL, {"experiment_id": experiment_id})


def stored_results(dsn: str, experiment_id: str) -> StoredResults:
    """Read how many of the experiment's results are stored, and when the latest landed.

    The bench times a run to ``last_ingested_at`` rather than to when its poll saw the count,
    so the poll interval does not enter the measurement.
    """
    _cols, rows = query(dsn, _PROGRESS_SQL, {"experiment_id": experiment_id})
    events, last = rows[0]
    return StoredResults(int(events), _last(int(events), last))


def experiment_jobs(dsn: str, experiment_id: str) -> ExperimentJobs:
    """Count the stored jobs behind the experiment's stored results, and their cache hits."""
    _cols, rows = query(dsn, _JOBS_SQL, {"experiment_id": experiment_id})
    jobs, hits = rows[0]
    return ExperimentJobs(int(jobs), int(hits))


def batch_sizes(dsn: str, experiment_id: str) -> dict[int, int]:
    """Map parameter sets per job to how many of the experiment's jobs had that size."""
    _cols, rows = query(dsn, _BATCH_SIZES_SQL, {"experiment_id": experiment_id})
    return {int(size): int(n) for size, n in rows}


def compile_count(dsn: str, template_ids: Sequence[str], since: datetime) -> int:
    """Count compilations of ``template_ids`` from ``since`` on.

    A worker's compile cache is per process, so a fresh worker compiles each (template,
    backend) pair once: this is what a run paid for compilation. A naive ``since`` is UTC.
    """
    if since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    params = {"template_ids": list(template_ids), "since": since}
    return _one_int(dsn, _COMPILATIONS_SQL, params)


def experiment_summary(
    dsn: str, experiment_id: str, template_ids: Sequence[str], since: datetime
) -> ExperimentSummary:
    """Read everything ``qloop run`` reports about an experiment from ClickHouse.

    Args:
        dsn: As for :func:`sinks.connection.connect`.
        experiment_id: The experiment whose results, jobs and batch sizes are counted.
        template_ids: Templates whose compilations count (empty: ``compile_count`` is 0).
        since: Compilations before this (the run's start) belong to earlier runs.

    """
    _cols, rows = query(dsn, _RESULTS_SQL, {"experiment_id": experiment_id})
    events, submissions, last = rows[0]
    jobs = experiment_jobs(dsn, experiment_id)
    return ExperimentSummary(
        results_stored=int(events),
        backend_submissions=int(submissions),
        jobs=jobs.jobs,
        jobs_with_cache_hit=jobs.jobs_with_cache_hit,
        batch_sizes=batch_sizes(dsn, experiment_id),
        compile_count=compile_count(dsn, template_ids, since),
        last_ingested_at=_last(int(events), last),
    )


def _one_int(dsn: str, sql: str, params: dict[str, Any]) -> int:
    _cols, rows = query(dsn, sql, params)
    return int(rows[0][0])


def _last(events: int, value: Any) -> datetime | None:
    """``max(ingested_at)`` as an aware UTC datetime; ``None`` over no rows (it reads 1970)."""
    if events == 0 or not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


__all__ = [
    "EventTable",
    "ExperimentJobs",
    "ExperimentSummary",
    "StoredResults",
    "batch_sizes",
    "compile_count",
    "experiment_jobs",
    "experiment_summary",
    "stored_events",
    "stored_results",
]
