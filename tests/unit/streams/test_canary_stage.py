"""streams.canary: what goes on which topic under which key; a failing round is never fatal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from processors.backends.aer import AerAdapter
from processors.backends.base import BackendAdapter
from schemas import CalibrationSnapshot, CanaryRun, QubitCalibration
from streams.canary import canary_adapters, canary_loop, publish_round
from streams.config import Settings
from streams.kafka.clients import PublishError
from streams.kafka.topics import TOPIC_SPECS, TopicNames
from streams.sink.launch import sink_topics

AT = datetime(2025, 1, 1, tzinfo=UTC)
TOPICS = TopicNames("q.")


class FakePublisher:
    """Collects what would be produced; ``fail`` makes the next flushes raise."""

    def __init__(self, fail: int = 0, stop: threading.Event | None = None) -> None:
        self.sent: list[tuple[str, str | None, Any]] = []
        self.flushes = 0
        self.fail = fail
        self.stop = stop

    def publish(self, topic: str, key: str | None, record: Any) -> None:
        self.sent.append((topic, key, record))

    def flush(self, timeout_s: float = 30.0) -> None:
        self.flushes += 1
        if self.stop is not None and self.flushes >= 3:
            self.stop.set()
        if self.fail:
            self.fail -= 1
            raise PublishError("broker down")


def test_round_goes_to_the_canary_topics_snapshots_first() -> None:
    publisher = FakePublisher()
    run = CanaryRun("r1", "fake_manila", "ghz2", "c1", 10, {"00": 10}, {"00": 0.5}, AT)
    snap = CalibrationSnapshot("fake_manila", "c1", (QubitCalibration(0, 1.0, 1.0, 0.1),), AT)
    publish_round(publisher, TOPICS, [run], [snap])  # type: ignore[arg-type]
    assert publisher.sent == [
        ("q.calibrations", "fake_manila/c1", snap),
        ("q.canary-runs", "fake_manila", run),
    ]
    assert publisher.flushes == 1


def test_a_failing_round_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QLOOP_CANARY_NOISE_SCALE", raising=False)
    stop = threading.Event()
    publisher = FakePublisher(fail=2, stop=stop)
    adapters: list[tuple[str, BackendAdapter]] = [("aer_simulator", AerAdapter("aer_simulator"))]
    canary_loop(publisher, TOPICS, adapters, 0.0, stop)  # type: ignore[arg-type]
    assert publisher.flushes == 3  # two failed rounds, then one that went through
    assert caplog.text.count("canary round failed") == 2
    assert sum(1 for topic, _, _ in publisher.sent if topic == "q.canary-runs") == 3 * 2


def test_an_invalid_noise_scale_disables_the_loop_instead_of_crashing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QLOOP_CANARY_NOISE_SCALE", "lots")
    publisher = FakePublisher()
    canary_loop(publisher, TOPICS, [], 0.0, threading.Event())  # type: ignore[arg-type]
    assert publisher.flushes == 0 and "canary disabled" in caplog.text


def test_canary_backends_outside_the_allow_list_are_skipped() -> None:
    settings = Settings(
        canary_backends=("aer_simulator", "fake_nowhere"), allowed_backends=("aer_simulator",)
    )
    assert [label for label, _ in canary_adapters(settings)] == ["aer_simulator"]


def test_canary_topics_exist_and_the_sink_stores_them() -> None:
    specs = {s.suffix: s for s in TOPIC_SPECS}
    assert specs["canary-runs"].record is CanaryRun
    assert specs["canary-runs"].config()["cleanup.policy"] == "delete"
    assert specs["calibrations"].record is CalibrationSnapshot
    assert specs["calibrations"].config()["cleanup.policy"] == "compact"
    stored = sink_topics(TOPICS)
    assert stored[TOPICS.canary_runs] is CanaryRun
    assert stored[TOPICS.calibrations] is CalibrationSnapshot
