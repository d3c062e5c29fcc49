"""Shared fixtures: a real Kafka broker for the session and uuid-named topics per test.

The broker is started exactly as ``qloop broker start`` does. If it cannot start, every test
that needs it errors (it never skips): a missing broker is a failure, in CI and locally.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.config import Settings
from streams.kafka.topics import TopicNames, create_topics
from streams.local.broker import LocalBroker, free_port
from streams.local.stack import LocalStack


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One KRaft broker on a free loopback port, stopped at the end of the session."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=free_port())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    """``127.0.0.1:PORT`` of the session broker."""
    return f"127.0.0.1:{kafka_broker.port}"


@pytest.fixture
def settings_factory(kafka_bootstrap: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings pointing at the session broker and a per-test data dir."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"kafka_bootstrap": kafka_bootstrap, "data_dir": tmp_path}
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Callable[..., TopicNames]:
    """Create a full set of qloop topics under a fresh uuid prefix and return their names."""

    def make(partitions: int = 3) -> TopicNames:
        prefix = f"t{uuid.uuid4().hex[:12]}."
        create_topics({"bootstrap.servers": kafka_bootstrap}, prefix, partitions)
        return TopicNames(prefix)

    return make


@pytest.fixture
def stack(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalStack]:
    """A worker and an in-process sink on fresh topics, batching within 100 ms.

    Modules that need other settings define their own ``stack`` fixture, which wins.
    """
    from pipeline_support import stack_settings

    with LocalStack(
        stack_settings(kafka_bootstrap, tmp_path / "stack", max_wait_ms=100)
    ) as running:
        yield running
        running.check()


@pytest.fixture
def watchers() -> Iterator[list[Any]]:
    """Result watchers (``fault_support.ResultWatcher``) a test started: closed at teardown."""
    made: list[Any] = []
    yield made
    for watcher in made:
        watcher.close()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes a test started: killed at teardown if still alive."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
