"""Common failures are one line and exit 1: a broker that is down, an unwritable data dir.

A librdkafka client aimed at a closed port retries and logs forever (hundreds of lines before
any error); the commands probe first. No broker is needed: the port is closed on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.local.broker import free_port


@pytest.mark.parametrize(
    "command",
    [["topics", "create"], ["topics", "list"], ["topics", "tail", "job-results"], ["worker"],
     ["sink"], ["canary"], ["run", "vqe-h2"], ["backends", "list"],
     ["backends", "up", "aer_simulator"], ["approvals", "list"], ["approvals", "approve", "x"]],
    ids=lambda c: " ".join(c),
)  # fmt: skip
def test_a_broker_that_is_down_is_one_line(command: list[str], tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "QLOOP_DATA_DIR": str(tmp_path), "QLOOP_KAFKA_BOOTSTRAP": bootstrap}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams", *command],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert lines == [
        f"error: Kafka at {bootstrap} is not reachable ({bootstrap}: Connection refused); "
        "is the broker running?"
        + (" Unset QLOOP_KAFKA_BOOTSTRAP to use the local one." if command[0] == "run" else "")
    ], done.stderr
    assert elapsed < 30, f"{elapsed:.1f}s to say so"


@pytest.mark.parametrize("command", [["worker"], ["sink"], ["run", "vqe-h2"]], ids=" ".join)
def test_an_unwritable_data_dir_is_one_line(command: list[str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / "data"
    env = {**os.environ, "QLOOP_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "streams", *command],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: data dir {data_dir} is not writable (Not a directory); "
        "set QLOOP_DATA_DIR to a directory this user can write"
    ]


def test_version_help_and_the_connection_options(tmp_path: Path) -> None:
    def qloop(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "QLOOP_DATA_DIR": str(tmp_path)}
        env.pop("QLOOP_KAFKA_BOOTSTRAP", None)
        return subprocess.run(
            [sys.executable, "-m", "streams", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip

    version = qloop("--version")
    assert version.returncode == 0 and version.stdout.startswith("qloop ")
    assert qloop("-h").returncode == 0 and "Usage" in qloop("topics", "-h").stdout
    bootstrap = f"127.0.0.1:{free_port()}"
    down = qloop("--bootstrap", bootstrap, "topics", "list")
    assert down.returncode == 1 and f"Kafka at {bootstrap} is not reachable" in down.stderr
    engine = tmp_path / "elsewhere"
    query = qloop("--dsn", f"chdb://{engine}", "query", "SELECT 1")
    assert query.returncode == 0, query.stderr
    assert engine.exists()  # the DSN given on the command line is the one opened


def test_tail_of_an_unknown_topic_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "QLOOP_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "tail", "no-such-topic"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: unknown topic 'no-such-topic'") and "job-results" in line


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["run", "vqe-h2", "--resume"], "--resume needs --experiment ID"),
        (["backends", "down", "aer_simulator", "--reason", "  "], "--reason must say why"),
    ],
    ids=["resume without an experiment", "down without a reason"],
)
def test_bad_input_is_one_line_before_any_connection(
    command: list[str], message: str, tmp_path: Path
) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # closed: these must fail before connecting
    env = {**os.environ, "QLOOP_DATA_DIR": str(tmp_path), "QLOOP_KAFKA_BOOTSTRAP": bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "streams", *command],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QLOOP_RATE_LIMITS", '{"acme": {"sets_per_s": 0}}', "rate limit of acme: sets_per_s"),
        ("QLOOP_RATE_LIMITS", '{"acme": {"sets": 5}}', "unknown keys ['sets']"),
        ("QLOOP_DRILL_BACKEND_FAILURES", '{"aer_simulator": "flaky:2"}', "expected transient:N"),
        ("QLOOP_IBM_MODES", '{"*": "turbo"}', "IBM execution mode must be one of"),
        ("QLOOP_IBM_FAKE_SERVICE", "/dev/null/fake-ibm", "/dev/null/fake-ibm: Not a directory"),
    ],
    ids=["zero rate", "unknown rate key", "unknown drill", "unknown IBM mode", "bad IBM dir"],
)
def test_a_worker_refuses_a_bad_policy_in_one_line_before_connecting(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    env = {**os.environ, "QLOOP_DATA_DIR": str(tmp_path), variable: value,
           "QLOOP_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("error: refusing to start: "), lines
    assert message in lines[0], lines


def test_an_unknown_bench_backend_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams", "bench", "--backend", "ibm_kyiv"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --backend must be aer_simulator or null, not 'ibm_kyiv'"
    ]


def test_a_partition_count_from_a_broker_that_is_down_is_zero() -> None:
    """The routing shortcut then owns nothing and every set is forwarded as before."""
    from streams.kafka.topics import partition_count

    started = time.monotonic()
    count = partition_count({"bootstrap.servers": f"127.0.0.1:{free_port()}"}, "t", 1.0)
    assert count == 0 and time.monotonic() - started < 10
