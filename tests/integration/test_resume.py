"""A hybrid loop survives a crash: kill -9 after iteration 5, resume, same answer, paid once.

Then ``qloop lineage`` on the finished experiment lists every job and compilation behind its
final energy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from sinks.query import query
from streams.config import Settings
from streams.kafka.checkpoints import latest_checkpoint
from streams.kafka.topics import TopicNames

pytestmark = pytest.mark.integration

CHEMICAL_ACCURACY_HA = 1.6e-3
SETS_PER_ITERATION = 13  # VQE-H2: the centre and 12 parameter shifts


def _env(data_dir: Path, bootstrap: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")}
    return env | {
        "QLOOP_DATA_DIR": str(data_dir),
        "QLOOP_KAFKA_BOOTSTRAP": bootstrap,
        "QLOOP_TOPIC_PREFIX": prefix,
    }


def _qloop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip


def _kill_after_iteration(
    env: dict[str, str], settings: Settings, experiment: str, iteration: int
) -> None:
    """Start ``qloop run`` and SIGKILL it and its worker once ``iteration`` is checkpointed."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "streams", "run", "vqe-h2", "--experiment", experiment],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    topic = TopicNames(settings.topic_prefix).experiments
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "qloop run ended before it could be killed"
            latest = None
            try:
                latest = latest_checkpoint(settings, topic, experiment, timeout_s=10)
            except Exception:  # noqa: BLE001 - the topic may not exist yet
                latest = None
            if latest is not None and latest.iteration >= iteration:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"iteration {iteration} was never checkpointed")
    finally:
        # The whole host dies: the driver, its in-process sink, and the worker it started.
        victims = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(30)


def _stored(dsn: str, sql: str, experiment: str) -> tuple[Any, ...]:
    rows: list[tuple[Any, ...]] = query(dsn, sql, {"e": experiment})[1]
    return rows[0]


def test_a_vqe_loop_killed_after_iteration_5_resumes_and_pays_each_set_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"res{uuid.uuid4().hex[:8]}."
    env = _env(tmp_path, kafka_bootstrap, prefix)
    settings = Settings(kafka_bootstrap=kafka_bootstrap, data_dir=tmp_path, topic_prefix=prefix)
    experiment = f"vqe-h2-crash-{uuid.uuid4().hex[:6]}"

    # Resuming what never started, or starting what exists, is one clear error each.
    proc = _qloop(env, "run", "vqe-h2", "--experiment", experiment, "--resume")
    assert proc.returncode == 1
    assert "has no checkpoint to resume from" in proc.stderr.strip().splitlines()[-1]

    _kill_after_iteration(env, settings, experiment, 5)
    proc = _qloop(env, "run", "vqe-h2", "--experiment", experiment)
    assert proc.returncode == 1 and "--resume" in proc.stderr, proc.stderr

    proc = _qloop(env, "run", "vqe-h2", "--experiment", experiment, "--resume", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["experiment_id"] == experiment
    assert out["error"] <= CHEMICAL_ACCURACY_HA
    # The same loop as an uninterrupted run: deterministic optimizer, same 12 iterations.
    assert out["iterations"] == 12 and out["parameter_sets"] == 12 * SETS_PER_ITERATION

    dsn = settings.dsn
    (results,) = _stored(
        dsn,
        "SELECT uniqExact(event_id) FROM qloop.results WHERE experiment_id = {e:String}",
        experiment,
    )
    assert results == out["parameter_sets"]
    # Paid: every set any job ran. No id ran twice unless its first run died with the worker.
    paid, distinct = _stored(
        dsn,
        "SELECT sum(length(event_ids)), length(arrayDistinct(arrayFlatten(groupArray(event_ids)))) "
        "FROM qloop.jobs FINAL "
        "WHERE arrayExists(e -> startsWith(e, concat({e:String}, '/')), event_ids)",
        experiment,
    )
    print(f"\nresume: {out['parameter_sets']} sets, {paid} executions, {distinct} distinct ids")
    assert distinct == out["parameter_sets"]
    assert out["parameter_sets"] <= paid <= out["parameter_sets"] + SETS_PER_ITERATION

    proc = _qloop(env, "lineage", experiment, "--json")
    assert proc.returncode == 0, proc.stderr
    lineage = json.loads(proc.stdout)
    assert lineage["workload"] == "vqe-h2"
    assert lineage["optimizer"]["name"] == "momentum-descent/shift-rule"
    assert lineage["optimizer"]["seed"] == 7
    assert lineage["final"]["finished"] and lineage["final"]["value"] == out["energy"]
    assert [i["iteration"] for i in lineage["iterations"]] == list(range(1, 13))
    assert all(i["sets"] == SETS_PER_ITERATION for i in lineage["iterations"])
    assert len(lineage["parameter_sets"]) == out["parameter_sets"]
    job_ids = {s["job_id"] for s in lineage["parameter_sets"]}
    assert {j["job_id"] for j in lineage["jobs"]} == job_ids
    keys = {s["compile_key"] for s in lineage["parameter_sets"]}
    assert len(keys) == 1 and {c["compile_key"] for c in lineage["compilations"]} == keys
    assert lineage["backends"] == ["aer_simulator"]
    assert [t["name"] for t in lineage["templates"]] == ["vqe-h2"]

    proc = _qloop(env, "lineage", "no-such-experiment")
    assert proc.returncode == 1 and "nothing is stored for experiment" in proc.stderr
