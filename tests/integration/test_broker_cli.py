"""`qloop broker` as a user meets it: start/status/stop, and one clear line for each failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from streams.kafka.topics import TOPIC_SPECS
from streams.local.broker import LocalBroker, free_port

QLOOP = [sys.executable, "-m", "streams"]


def qloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QLOOP, *args], capture_output=True, text=True, env=env or os.environ.copy(), timeout=180
    )


def assert_clear_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_start_status_stop_cycle(tmp_path: Path) -> None:
    port = str(free_port())
    data = str(tmp_path / "kafka")
    started = qloop("broker", "start", "--port", port, "--data-dir", data)
    try:
        assert started.returncode == 0, started.stderr
        status = qloop("broker", "status", "--data-dir", data, "--json")
        info = json.loads(status.stdout)
        assert info["running"] and info["answering"] and info["port"] == int(port)
        again = qloop("broker", "start", "--port", str(free_port()), "--data-dir", data)
        assert_clear_error(again, "already running")
    finally:
        stopped = qloop("broker", "stop", "--data-dir", data)
    assert "broker stopped" in stopped.stdout
    assert qloop("broker", "status", "--data-dir", data).returncode == 3
    assert (tmp_path / "kafka" / "broker.log").exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = qloop("broker", "start", "--port", str(port), "--data-dir", str(tmp_path))
    assert_clear_error(proc, f"port {port} is already in use")


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = qloop("broker", "start", "--port", str(free_port()), "--data-dir", str(blocker / "x"))
    assert_clear_error(proc, "not writable")


def _env_with_path(path: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = path
    env.update(extra)
    return env


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = qloop(
        "broker",
        "start",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path),
        env=_env_with_path(str(empty)),
    )
    assert_clear_error(proc, "java not found")


def test_old_java_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    java = fake / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    proc = qloop(
        "broker",
        "start",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path),
        env=_env_with_path(str(fake)),
    )
    assert_clear_error(proc, "needs Java 17+")


def test_missing_maven_is_a_clear_error(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real_java = shutil.which("java")
    assert real_java is not None
    (bindir / "java").symlink_to(os.path.realpath(real_java))
    proc = qloop(
        "broker",
        "start",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        env=_env_with_path(str(bindir), QLOOP_CACHE_DIR=str(tmp_path / "cache")),
    )
    assert_clear_error(proc, "mvn not found")


def test_session_broker_answers(kafka_broker: LocalBroker) -> None:
    status = kafka_broker.status()
    assert status.running and status.answering


def test_topics_list_asks_the_cluster_and_marks_what_is_missing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"list{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "QLOOP_DATA_DIR": str(tmp_path),
        "QLOOP_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "QLOOP_TOPIC_PREFIX": prefix,
        "COLUMNS": "250",
    }

    before = qloop("topics", "list", env=env)
    assert before.returncode == 1  # nothing created yet under this prefix
    assert before.stdout.count("missing") == len(TOPIC_SPECS)
    assert qloop("topics", "create", env=env).returncode == 0
    after = qloop("topics", "list", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "missing" not in after.stdout
    assert f"{prefix}job-results" in after.stdout


def _free_run(count: int) -> int:
    """A port such that it and the ``count - 1`` after it are all free now."""
    for _ in range(50):
        base = free_port()
        socks = []
        try:
            for k in range(count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def test_a_three_node_cluster_starts_reports_and_stops(tmp_path: Path) -> None:
    from confluent_kafka.admin import AdminClient

    base, data = _free_run(3), str(tmp_path / "cluster")
    started = qloop("broker", "start", "--nodes", "3", "--port", str(base), "--data-dir", data)
    try:
        assert started.returncode == 0, started.stderr
        bootstrap = ",".join(f"127.0.0.1:{base + k}" for k in range(3))
        assert f"QLOOP_KAFKA_BOOTSTRAP={bootstrap} QLOOP_REPLICATION_FACTOR=3" in started.stdout
        info = json.loads(qloop("broker", "status", "--data-dir", data, "--json").stdout)
        assert info["running"] and info["answering"] and info["bootstrap"] == bootstrap
        assert [n["port"] for n in info["nodes"]] == [base, base + 1, base + 2]
        assert all(n["running"] for n in info["nodes"])
        brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
        assert len(brokers) == 3
        again = qloop("broker", "start", "--nodes", "3", "--port", str(base), "--data-dir", data)
        assert_clear_error(again, "already running")
    finally:
        stopped = qloop("broker", "stop", "--data-dir", data)
    assert "cluster stopped (3 node(s) were running)" in stopped.stdout
    assert qloop("broker", "status", "--data-dir", data).returncode == 3


def test_a_secured_cluster_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = qloop("broker", "start", "--nodes", "3", "--security", "sasl_ssl",
                 "--data-dir", str(tmp_path))  # fmt: skip
    assert_clear_error(proc, "a local cluster runs PLAINTEXT only")
    assert not (tmp_path / "cluster.json").exists()


def test_a_cluster_port_in_use_is_one_line_and_leaves_no_node_running(tmp_path: Path) -> None:
    base, data = _free_run(3), tmp_path / "cluster"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base + 1))  # the second node's port
        sock.listen()
        proc = qloop("broker", "start", "--nodes", "3", "--port", str(base),
                     "--data-dir", str(data))  # fmt: skip
    assert_clear_error(proc, f"port {base + 1} is already in use")
    # The first node was launched before the second failed: it was stopped again.
    assert qloop("broker", "status", "--data-dir", str(data)).returncode == 3
