"""Every ```sql block of docs/clickhouse.md runs as written through ``qloop query --format json``
on realistic data.

The data goes in the way production data does: results, jobs, compilations and dead letters
through :class:`~sinks.ClickHouseSink` (so the materialized SLI views fill themselves), and so
do canary runs and calibration snapshots. One result is replayed under a new Kafka offset range,
as after an expired deduplication window, so queries that forget ``FINAL`` or ``argMax`` count
it twice. Each documented query is recognised by its column names and its
numbers are checked against the same computation in Python.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sink_factories import make_compile, make_dead_letter, make_job, make_result

from processors.canary import ideal_ghz
from schemas import (
    CalibrationSnapshot,
    CanaryRun,
    JobResult,
    JobSubmitted,
    Primitive,
    QubitCalibration,
    ResultStatus,
    Timings,
)
from sinks import ClickHouseSink, apply_migrations, connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "clickhouse.md"
README = ROOT / "README.md"
SQL_BLOCK = re.compile(r"^```sql[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

Rows = list[dict[str, Any]]


def sql_blocks(markdown: str) -> list[str]:
    return [m.group(1).strip() for m in SQL_BLOCK.finditer(markdown)]


def readme_clickhouse_section(markdown: str) -> str:
    """The text from ``## ClickHouse`` to the next level-2 heading ('' if there is none)."""
    match = re.search(r"^## ClickHouse\b.*?(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else ""


def documented_queries() -> list[tuple[str, str]]:
    queries = [
        (f"docs/clickhouse.md#{i + 1}", q) for i, q in enumerate(sql_blocks(DOC.read_text()))
    ]
    section = readme_clickhouse_section(README.read_text())
    queries += [(f"README.md#{i + 1}", q) for i, q in enumerate(sql_blocks(section))]
    return queries


# --- realistic data ---------------------------------------------------------------------------

NOW = datetime.now(UTC).replace(second=0, microsecond=0)  # set again when the data is loaded
START = NOW - timedelta(minutes=40)  # inside every query's window (the tightest is 1 hour)
GROUND_ENERGY = -1.137


@dataclass
class Truth:
    """What was loaded, for the expectations below."""

    results: list[JobResult] = field(default_factory=list)
    replayed: list[JobResult] = field(default_factory=list)  # raw table: once; SLI views: twice
    jobs: list[JobSubmitted] = field(default_factory=list)
    dead_letters: int = 0
    canary: list[CanaryRun] = field(default_factory=list)
    t1_mean: dict[str, float] = field(default_factory=dict)


def _result(
    rng: np.random.Generator,
    experiment: str,
    it: int,
    k: int,
    backend: str,
    primitive: Primitive,
    status: ResultStatus = ResultStatus.SUCCEEDED,
) -> JobResult:
    base = make_result(backend=backend)
    e2e = float(rng.lognormal(math.log(300 if backend.startswith("aer") else 1500), 0.6))
    done = (
        START
        + timedelta(minutes=2 * it, seconds=5 * k)
        + timedelta(minutes=20 * (backend != "aer_simulator"))
    )
    energy = GROUND_ENERGY + 0.8 * math.exp(-it / 3) + float(rng.normal(0, 0.02))
    estimator = primitive is Primitive.ESTIMATOR
    return dataclasses.replace(
        base,
        event_id=f"{experiment}-{it}-{k}",
        experiment_id=experiment,
        iteration=it,
        primitive=primitive,
        status=status,
        job_id=f"job-{experiment}-{it}",
        parameters=tuple(float(x) for x in rng.normal(size=2)),
        timings=Timings(
            queue_ms=0.2 * e2e, compile_ms=0.1 * e2e, execute_ms=0.6 * e2e, end_to_end_ms=e2e
        ),
        produced_at=done - timedelta(milliseconds=e2e),
        completed_at=done,
        counts=None if estimator or status is not ResultStatus.SUCCEEDED else base.counts,
        expectation_values=(energy,) if estimator and status is ResultStatus.SUCCEEDED else None,
        standard_errors=(0.01,) if estimator and status is ResultStatus.SUCCEEDED else None,
        error_code="backend_error" if status is ResultStatus.FAILED else None,
        error_message="device went away" if status is ResultStatus.FAILED else None,
    )


def _load_sink_records(client: Any, truth: Truth) -> None:
    rng = np.random.default_rng(2024)
    sink = ClickHouseSink(client)
    offsets: dict[str, int] = {}

    def add(topic: str, record: Any) -> None:
        offsets[topic] = offsets.get(topic, -1) + 1
        sink.add(topic, 0, offsets[topic], record)

    plan = [("vqe-h2", "aer_simulator", Primitive.ESTIMATOR, 10, 4)]
    plan += [("qaoa-maxcut", "fake_manila", Primitive.SAMPLER, 5, 6)]
    for experiment, backend, primitive, iterations, sets in plan:
        for it in range(iterations):
            batch = [_result(rng, experiment, it, k, backend, primitive) for k in range(sets)]
            if experiment == "qaoa-maxcut" and it == 2:  # one failed set per failing batch
                batch[0] = _result(rng, experiment, it, 0, backend, primitive, ResultStatus.FAILED)
            job = dataclasses.replace(
                make_job(),
                job_id=f"job-{experiment}-{it}",
                backend=backend,
                primitive=primitive,
                event_ids=tuple(r.event_id for r in batch),
                num_parameter_sets=len(batch),
                total_shots=1000 * len(batch),
                compile_cache_hit=it > 0,
                queued_at=batch[0].produced_at,
                submitted_at=batch[0].produced_at + timedelta(milliseconds=3),
            )
            add("qloop.jobs", job)
            truth.jobs.append(job)
            for r in batch:
                add("qloop.results", r)
            truth.results += batch
    # Rejected at admission: a result without a job, not executed, not in the latency quantiles.
    rejected = _result(rng, "vqe-h2", 9, 99, "aer_simulator", Primitive.ESTIMATOR)
    rejected = dataclasses.replace(
        rejected, status=ResultStatus.REJECTED, job_id=None, expectation_values=None,
        error_code="shots_out_of_range", error_message="shots 0 not in [1, 100000]",
    )  # fmt: skip
    add("qloop.results", rejected)
    truth.results.append(rejected)
    for i in range(2):
        add("qloop.compilations", dataclasses.replace(make_compile(i), compiled_at=START))
    codes = [("deserialization_error", "decode", 120), ("unknown_template", "validate", 60)]
    codes += [("shots_out_of_range", "validate", 10), ("deserialization_error", "decode", 9)]
    for code, stage, minutes_ago in codes:
        letter = dataclasses.replace(
            make_dead_letter(offsets.get("qloop.dead_letters", -1) + 1),
            error_code=code, stage=stage, occurred_at=NOW - timedelta(minutes=minutes_ago),
        )  # fmt: skip
        add("qloop.dead_letters", letter)
        truth.dead_letters += 1
    sink.flush()
    # A replay after the deduplication window: same event, new offset range, new block.
    replay = ClickHouseSink(client)
    replay.add("qloop.results", 1, 0, truth.results[0])
    replay.flush()
    truth.replayed.append(truth.results[0])


def _load_canary(client: Any, truth: Truth) -> None:
    rng = np.random.default_rng(7)
    sink = ClickHouseSink(client)
    offsets = {"qloop.calibrations": 0, "qloop.canary-runs": 0}

    def store(topic: str, record: Any) -> None:
        sink.add(topic, 0, offsets[topic], record)
        offsets[topic] += 1

    calibrations = {
        "cal-a": [QubitCalibration(q, 150.0 - 5 * q, 90.0, 0.02) for q in range(3)],
        "cal-b": [QubitCalibration(q, 60.0 - 5 * q, 40.0, 0.06) for q in range(3)],
    }
    for cal, qubits in calibrations.items():
        for _ in range(2):  # the canary re-sends the snapshot every round: two messages
            snapshot = CalibrationSnapshot(
                "fake_manila", cal, tuple(qubits), NOW - timedelta(hours=3)
            )
            store("qloop.calibrations", snapshot)
        truth.t1_mean[cal] = sum(q.t1_us for q in qubits) / len(qubits)
    for hours_ago in (5, 4, 3, 2, 1, 0):
        for backend, noise, cal in (
            ("aer_simulator", 0.0, "none"),
            ("fake_manila", 0.05 if hours_ago > 2 else 0.2, "cal-a" if hours_ago > 2 else "cal-b"),
        ):
            p = (1 - noise) * np.array([0.5, 0, 0, 0.5]) + noise * np.full(4, 0.25)
            counts = dict(
                zip(["00", "01", "10", "11"], map(int, rng.multinomial(2000, p)), strict=True)
            )
            counts = {k: v for k, v in counts.items() if v}
            run = CanaryRun(
                f"{backend}-{hours_ago}", backend, "ghz2", cal, 2000, counts, ideal_ghz(2),
                NOW - timedelta(hours=hours_ago, minutes=-1),
                expectation=(counts.get("00", 0) + counts.get("11", 0)) / 1000 - 1,
                ideal_expectation=1.0,
            )  # fmt: skip
            store("qloop.canary-runs", run)
            truth.canary.append(run)
    sink.flush()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Truth]]:
    # The queries' windows end at now(): date the data from when it is loaded, not from when
    # the module was collected, which can be half an hour earlier in a full run.
    global NOW, START  # noqa: PLW0603
    NOW = datetime.now(UTC).replace(second=0, microsecond=0)
    START = NOW - timedelta(minutes=40)
    data_dir = tmp_path_factory.mktemp("readme-queries")
    client = connect(f"chdb://{data_dir / 'clickhouse'}")
    truth = Truth()
    try:
        apply_migrations(client)
        _load_sink_records(client, truth)
        _load_canary(client, truth)
    finally:
        client.close()  # releases the directory for the `qloop query` subprocesses
    yield data_dir, truth


def qloop_query(data_dir: Path, sql: str) -> Rows:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")}
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "query", "--format", "json", sql],
        env=env | {"QLOOP_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{sql}\n{proc.stdout}\n{proc.stderr}"
    rows: Rows = json.loads(proc.stdout)
    return rows


# --- what each documented query must return -------------------------------------------------


def _executed_in_views(truth: Truth) -> list[JobResult]:
    """What the SLI views counted: every inserted executed row, replays included."""
    done = {ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.DEGRADED}
    return [r for r in truth.results + truth.replayed if r.status in done]


def check_slo(rows: Rows, truth: Truth) -> None:
    aer = [
        r.timings.end_to_end_ms for r in _executed_in_views(truth) if r.backend == "aer_simulator"
    ]
    assert [r["backend"] for r in rows] == ["aer_simulator"]
    assert rows[0]["executed"] == len(aer)
    assert rows[0]["within_2s"] == sum(ms <= 2000 for ms in aer)
    assert rows[0]["sli"] == pytest.approx(round(rows[0]["within_2s"] / len(aer), 4))


def check_convergence(rows: Rows, truth: Truth) -> None:
    assert [(r["experiment_id"], r["iteration"]) for r in rows] == [
        ("vqe-h2", i) for i in range(10)
    ]
    assert all(r["parameter_sets"] == 4 for r in rows)  # the replayed result counts once
    for row in rows:
        energies = [
            r.expectation_values[0]
            for r in truth.results
            if r.experiment_id == "vqe-h2" and r.iteration == row["iteration"]
            and r.expectation_values
        ]  # fmt: skip
        assert row["best_energy"] == pytest.approx(min(energies), abs=1e-6)
        assert row["mean_energy"] == pytest.approx(float(np.mean(energies)), abs=1e-6)
    best = [r["best_so_far"] for r in rows]
    assert best == sorted(best, reverse=True) and best[-1] < GROUND_ENERGY + 0.1


def check_p95(rows: Rows, truth: Truth) -> None:
    expected: dict[tuple[str, str], list[float]] = {}
    for r in _executed_in_views(truth):
        minute = r.completed_at.replace(second=0, microsecond=0).strftime("%Y-%m-%d %H:%M:%S")
        expected.setdefault((minute, r.backend), []).append(r.timings.end_to_end_ms)
    got = {(str(r["minute"])[:19], r["backend"]): r for r in rows}
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key]["executed"] == len(values)
        assert got[key]["p95_end_to_end_ms"] == pytest.approx(np.percentile(values, 95), abs=0.051)
    assert {r["success_rate"] for r in rows if r["backend"] == "aer_simulator"} == {1.0}


def check_batches(rows: Rows, truth: Truth) -> None:
    sizes = {(j.backend, j.num_parameter_sets) for j in truth.jobs}
    assert {(r["backend"], r["batch_size"]) for r in rows} == sizes
    assert sum(r["jobs"] for r in rows) == len(truth.jobs)
    for backend in {b for b, _ in sizes}:
        mine = [r for r in rows if r["backend"] == backend]
        assert sum(r["pct_of_jobs"] for r in mine) == pytest.approx(100, abs=0.2)
        assert sum(r["pct_of_sets"] for r in mine) == pytest.approx(100, abs=0.2)


def check_dead_letters(rows: Rows, truth: Truth) -> None:
    assert sum(r["dead_letters"] for r in rows) == truth.dead_letters
    assert {r["error_code"] for r in rows} == {
        "deserialization_error",
        "unknown_template",
        "shots_out_of_range",
    }
    assert all(r["example"] for r in rows)


def check_drift(rows: Rows, truth: Truth) -> None:
    assert sum(r["runs"] for r in rows) == len(truth.canary)
    manila = [r for r in rows if r["backend"] == "fake_manila"]
    assert {r["calibration_id"] for r in manila} == {"cal-a", "cal-b"}
    for r in manila:
        assert r["mean_t1_us"] == pytest.approx(truth.t1_mean[r["calibration_id"]], abs=0.05)
    before = max(r["mean_tv_to_ideal"] for r in manila if r["calibration_id"] == "cal-a")
    after = min(r["mean_tv_to_ideal"] for r in manila if r["calibration_id"] == "cal-b")
    assert after > before  # the recalibration made the Bell state worse
    assert all(r["mean_tv_to_ideal"] < 0.02 for r in rows if r["backend"] == "aer_simulator")


CHECKS: dict[frozenset[str], Callable[[Rows, Truth], None]] = {
    frozenset({"backend", "executed", "within_2s", "sli", "burn_rate"}): check_slo,
    frozenset(
        {
            "experiment_id",
            "iteration",
            "parameter_sets",
            "best_energy",
            "mean_energy",
            "best_so_far",
        }
    ): check_convergence,
    frozenset(
        {"minute", "backend", "results", "executed", "success_rate", "p95_end_to_end_ms"}
    ): check_p95,
    frozenset(
        {"backend", "batch_size", "jobs", "pct_of_jobs", "pct_of_sets", "cache_hit_rate"}
    ): check_batches,
    frozenset(
        {"hour", "stage", "error_code", "dead_letters", "topics", "example"}
    ): check_dead_letters,
    frozenset(
        {
            "backend",
            "template",
            "hour",
            "calibration_id",
            "runs",
            "mean_tv_to_ideal",
            "mean_t1_us",
            "mean_t2_us",
            "mean_readout_error",
        }
    ): check_drift,
}


def test_docs_hold_the_five_analytics_queries() -> None:
    queries = sql_blocks(DOC.read_text())
    assert len(queries) >= 5
    # One topic, one page: the README points at the reference and holds no copy of its SQL.
    section = readme_clickhouse_section(README.read_text())
    assert "docs/clickhouse.md" in section
    assert sql_blocks(section) == []


def test_readme_section_extraction() -> None:
    readme = "# x\n## Other\n```sql\nSELECT 0\n```\n## ClickHouse\n```sql\nSELECT 1\n```\n## Next\n"
    assert sql_blocks(readme_clickhouse_section(readme)) == ["SELECT 1"]
    assert readme_clickhouse_section("# x\n## Other\n") == ""


@pytest.mark.parametrize(("where", "sql"), documented_queries(), ids=lambda v: str(v)[:40])
def test_documented_query_runs_as_written(loaded: tuple[Path, Truth], where: str, sql: str) -> None:
    data_dir, truth = loaded
    rows = qloop_query(data_dir, sql)
    assert rows, f"{where} returned no rows on data that implies some"
    columns = set(rows[0])
    assert all(set(r) == columns for r in rows)
    check = CHECKS.get(frozenset(columns))
    assert check is not None, f"{where}: no expectation for columns {sorted(columns)}"
    check(rows, truth)


DASHBOARDS = ROOT / "compose" / "grafana" / "dashboards"


def _panels() -> list[tuple[str, dict[str, object]]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            found.append((f"{path.name}: {panel['title']}", panel))
    return found


def _grafana_to_sql(sql: str) -> str:
    """The ClickHouse data source's macros, expanded for a window holding all the test data."""
    return re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 >= toDateTime('2000-01-01 00:00:00') AND \1 <= now() + INTERVAL 1 DAY",
        sql,
    )


@pytest.mark.parametrize(("where", "panel"), _panels(), ids=lambda v: str(v)[:50])
def test_every_dashboard_panel_runs_on_stored_data(
    loaded: tuple[Path, Truth], where: str, panel: dict[str, object]
) -> None:
    """ClickHouse panels run as the dashboard has them; Prometheus panels name real metrics."""
    (target,) = panel["targets"]  # type: ignore[misc]
    if "rawSql" in target:
        rows = qloop_query(loaded[0], _grafana_to_sql(target["rawSql"]))
        assert rows, f"{where} returned no rows on data that implies some"
    else:  # a Prometheus panel: every metric it names is one the worker or the sink exports
        known = set(re.findall(r'"(qloop_\w+)"', (ROOT / "streams" / "metrics.py").read_text()))
        names = set(re.findall(r"qloop_\w+", str(target["expr"])))
        assert names and names <= known, f"{where} names {names - known}"
