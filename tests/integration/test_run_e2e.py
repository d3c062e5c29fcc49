"""`qloop run` end to end: the workloads reach their targets through the real pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from sinks.query import query

CHEMICAL_ACCURACY_HA = 1.6e-3


def qloop_run(workload: str, data_dir: Path, bootstrap: str, prefix: str) -> dict[str, object]:
    env = {
        **os.environ,
        "QLOOP_DATA_DIR": str(data_dir),
        "QLOOP_KAFKA_BOOTSTRAP": bootstrap,
        "QLOOP_TOPIC_PREFIX": prefix,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "run", workload, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_vqe_h2_reaches_chemical_accuracy_with_one_row_per_set(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"run{uuid.uuid4().hex[:8]}."
    out = qloop_run("vqe-h2", tmp_path, kafka_bootstrap, prefix)
    assert abs(out["energy"] - out["reference_energy"]) <= CHEMICAL_ACCURACY_HA  # type: ignore[operator]
    assert out["error"] <= CHEMICAL_ACCURACY_HA  # type: ignore[operator]
    assert out["results_stored"] == out["parameter_sets"]
    # far fewer submissions than parameter sets: one per optimizer iteration
    assert out["backend_submissions"] == out["iterations"]
    assert out["compile_count"] == 1
    dsn = f"chdb://{tmp_path.resolve() / 'clickhouse'}"
    _c, rows = query(
        dsn,
        "SELECT count(), uniqExact(event_id) FROM qloop.results FINAL "
        "WHERE experiment_id = {e:String}",
        {"e": out["experiment_id"]},
    )
    assert rows[0][0] == rows[0][1] == out["parameter_sets"]
    # a second run on the same data dir works and adds its own rows
    again = qloop_run("vqe-h2", tmp_path, kafka_bootstrap, prefix)
    assert again["results_stored"] == again["parameter_sets"]
    assert again["experiment_id"] != out["experiment_id"]


def test_qaoa_maxcut_reaches_the_approximation_ratio(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = qloop_run("qaoa-maxcut", tmp_path, kafka_bootstrap, f"run{uuid.uuid4().hex[:8]}.")
    assert out["approximation_ratio"] >= 0.85  # type: ignore[operator]
    assert out["results_stored"] == out["parameter_sets"]
    assert out["compile_count"] == 2  # the estimator ansatz and the sampled circuit


def test_ctrl_c_stops_everything_it_started(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QLOOP_DATA_DIR": str(tmp_path),
        "QLOOP_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "QLOOP_TOPIC_PREFIX": f"run{uuid.uuid4().hex[:8]}.",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "run", "vqe-h2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ready = tmp_path / "worker.ready"
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ready.exists(), "the worker never became ready"
    worker_pid = int(ready.read_text())
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130  # 128 + SIGINT, the shell convention
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("error: interrupted"), err
    assert "qloop run vqe-h2 --experiment vqe-h2-" in lines[-1] and lines[-1].endswith("--resume")
    assert b"Traceback" not in err
    deadline = time.monotonic() + 30
    while psutil.pid_exists(worker_pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    gone = not psutil.pid_exists(worker_pid) or (
        psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert gone, "the worker outlived qloop run"


def test_unreachable_broker_is_one_clear_error(tmp_path: Path) -> None:
    from streams.local.broker import free_port

    env = {
        **os.environ,
        "QLOOP_DATA_DIR": str(tmp_path),
        "QLOOP_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "streams", "run", "vqe-h2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "is not reachable" in lines[0] and "is the broker running?" in lines[0]
