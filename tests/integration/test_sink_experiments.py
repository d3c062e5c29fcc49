"""sinks.experiments on the real engine: each figure counts one experiment, and counts it once.

Two experiments go in through :class:`~sinks.ClickHouseSink`, as production data does; every
assertion is about the first, with numbers the second would change, so a query that lost its
WHERE fails. One result and one job are replayed under new Kafka offsets (as after an expired
deduplication window), so a figure that needs FINAL and lacks it counts them twice.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from sink_factories import (  # noqa: F401
    T0,
    ch,
    chdb_dsn,
    make_compile,
    make_dead_letter,
    make_job,
    make_result,
)

from schemas import JobResult, JobSubmitted, ResultStatus
from sinks import (
    ClickHouseSink,
    ExperimentJobs,
    experiment_jobs,
    experiment_summary,
    stored_events,
    stored_results,
)
from sinks.experiments import batch_sizes, compile_count

pytestmark = pytest.mark.integration

SINCE = T0 + timedelta(minutes=1)


def _job(experiment: str, i: int, results: list[JobResult], hit: bool) -> JobSubmitted:
    return dataclasses.replace(
        make_job(),
        job_id=f"job-{experiment}-{i}",
        event_ids=tuple(r.event_id for r in results),
        template_ids=(f"tpl-{experiment}",),
        num_parameter_sets=len(results),
        total_shots=1000 * len(results),
        compile_cache_hit=hit,
    )


def _experiment(
    sink: ClickHouseSink, offsets: dict[str, int], name: str, jobs: list[tuple[int, bool]]
) -> tuple[JobSubmitted, JobResult]:
    """Store one experiment: a job of ``size`` sets per entry (cache hit or not), its results.

    Returns its first job and first result, to replay.
    """

    def add(topic: str, record: object) -> None:
        offsets[topic] = offsets.get(topic, -1) + 1
        sink.add(topic, 0, offsets[topic], record)

    k = 0
    stored: list[tuple[JobSubmitted, JobResult]] = []
    for i, (size, hit) in enumerate(jobs):
        results = []
        for _ in range(size):
            result = make_result(k, event_id=f"ev-{name}-{k}")
            results.append(
                dataclasses.replace(
                    result,
                    experiment_id=name,
                    template_id=f"tpl-{name}",
                    job_id=f"job-{name}-{i}",
                )
            )
            k += 1
        job = _job(name, i, results, hit)
        stored.append((job, results[0]))
        add("qloop.jobs", job)
        for result in results:
            add("qloop.results", result)
    rejected = dataclasses.replace(
        make_result(k, event_id=f"ev-{name}-{k}", status=ResultStatus.REJECTED),
        experiment_id=name,
        job_id=None,  # rejected at admission: stored, never submitted
    )
    add("qloop.results", rejected)
    sink.flush()
    return stored[0]


def _load(ch: Client) -> tuple[datetime, datetime]:  # noqa: F811
    """Store experiments ``a`` then ``b``; return when ``a`` was done and ``b`` began."""
    offsets: dict[str, int] = {}
    sink = ClickHouseSink(ch)
    # a: 6 results (one rejected), jobs of 3 (compiled) and 2 (cache hit) sets.
    first_job, first_result = _experiment(sink, offsets, "a", [(3, False), (2, True)])
    compiles = [("tpl-a", T0), ("tpl-a", SINCE), ("tpl-a", T0 + timedelta(minutes=3))]
    compiles += [("tpl-b", T0 + timedelta(minutes=2))]
    for i, (template, at) in enumerate(compiles):
        record = dataclasses.replace(make_compile(i), template_id=template, compiled_at=at)
        sink.add("qloop.compilations", 0, i, record)
    for i, event_id in enumerate(["ev-dl-0", "ev-dl-1", None]):
        letter = dataclasses.replace(make_dead_letter(i), event_id=event_id)
        sink.add("qloop.dead_letters", 0, i, letter)
    sink.flush()
    replay = ClickHouseSink(ch)  # same records, new offset ranges: new blocks, not deduplicated
    replay.add("qloop.results", 1, 0, first_result)
    replay.add("qloop.jobs", 1, 0, first_job)
    replay.flush()
    a_done = datetime.now(UTC)
    time.sleep(0.05)
    b_began = datetime.now(UTC)
    # b: 6 results (one rejected), jobs of 4 and 1 sets, both cache hits.
    _experiment(sink, offsets, "b", [(4, True), (1, True)])
    return a_done, b_began


def test_figures_are_those_of_one_experiment(ch: Client, chdb_dsn: str) -> None:  # noqa: F811
    a_done, b_began = _load(ch)

    assert stored_events(chdb_dsn, "results", "a") == 6
    assert stored_events(chdb_dsn) == 12
    assert stored_events(chdb_dsn, "dead_letters") == 2

    progress = stored_results(chdb_dsn, "a")
    assert progress.events == 6
    assert progress.last_ingested_at is not None
    assert progress.last_ingested_at.tzinfo is not None
    assert progress.last_ingested_at <= a_done < b_began
    last_b = stored_results(chdb_dsn, "b").last_ingested_at
    assert last_b is not None and last_b >= b_began

    assert experiment_jobs(chdb_dsn, "a") == ExperimentJobs(jobs=2, jobs_with_cache_hit=1)
    assert batch_sizes(chdb_dsn, "a") == {2: 1, 3: 1}
    assert compile_count(chdb_dsn, ["tpl-a"], SINCE) == 2
    assert compile_count(chdb_dsn, ["tpl-a", "tpl-b"], SINCE) == 3
    assert compile_count(chdb_dsn, [], SINCE) == 0

    summary = experiment_summary(chdb_dsn, "a", ["tpl-a"], SINCE)
    assert summary.results_stored == 6
    assert summary.backend_submissions == 2
    assert (summary.jobs, summary.jobs_with_cache_hit) == (2, 1)
    assert summary.batch_sizes == {2: 1, 3: 1}
    assert summary.compile_count == 2
    assert summary.last_ingested_at == progress.last_ingested_at


def test_an_experiment_with_nothing_stored(ch: Client, chdb_dsn: str) -> None:  # noqa: F811
    _load(ch)
    since = datetime.now(UTC) + timedelta(hours=1)
    summary = experiment_summary(chdb_dsn, "never-ran", ["tpl-a"], since)
    assert (summary.results_stored, summary.backend_submissions, summary.jobs) == (0, 0, 0)
    assert summary.batch_sizes == {}
    assert summary.compile_count == 0
    assert summary.last_ingested_at is None
    assert stored_results(chdb_dsn, "never-ran").last_ingested_at is None


def test_tables_without_the_column_are_refused(chdb_dsn: str) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="no event_id"):
        stored_events(chdb_dsn, "jobs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no experiment_id"):
        stored_events(chdb_dsn, "dead_letters", "a")
