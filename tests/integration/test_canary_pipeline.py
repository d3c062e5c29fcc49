"""The drift canary through Kafka on the real broker and engine: published, stored by the sink.

The canary publishes a round (runs and calibration snapshots) with the idempotent producer, the
configured sink stores it in ``qloop.canary_runs`` / ``qloop.calibrations`` (one row per qubit),
and :func:`sinks.drift.drift_report` reads it back, including the noise-injection drill
(``QLOOP_CANARY_NOISE_SCALE``). The last test runs ``qloop sink --canary-interval`` as a real
process, read back through the owner's query endpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from processors.canary import NOISE_SCALE_ENV
from processors.compile_cache import CompileCache
from schemas import CalibrationSnapshot, CanaryRun
from sinks import EngineLockedError, SinkError, query
from sinks.drift import drift_report
from sinks.query import ReadOnlyClient
from streams.canary import canary_adapters, canary_round
from streams.config import Settings
from streams.kafka.clients import Publisher
from streams.kafka.topics import TopicNames
from streams.sink.launch import run_configured_sink

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GAP_S = 2.0


def _count(dsn: str, sql: str) -> int:
    """One number, 0 while the engine is not migrated or its owner not serving yet."""
    try:
        return int(query(dsn, sql)[1][0][0])
    except (SinkError, EngineLockedError):
        return 0


def _wait(predicate: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the sink"
        time.sleep(0.2)


@contextmanager
def _sink(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    worker = threading.Thread(target=run_configured_sink, args=(settings, stop))
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()


def _stored(dsn: str, runs: list[CanaryRun], snapshots: list[CalibrationSnapshot]) -> bool:
    qubits = sum(
        len(s.qubits) for s in {(s.backend, s.calibration_id): s for s in snapshots}.values()
    )
    return (
        _count(dsn, "SELECT count() FROM qloop.canary_runs") == len(runs)
        and _count(dsn, "SELECT count() FROM qloop.calibrations FINAL") == qubits
    )


def test_published_rounds_are_stored_and_judged(
    settings_factory: Callable[..., Settings],
    topic_factory: Callable[..., TopicNames],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics = topic_factory()
    settings = settings_factory(topic_prefix=topics.prefix, sink_batch_ms=100)
    dsn = settings.dsn
    adapters = canary_adapters(settings)
    assert [label for label, _ in adapters] == ["aer_simulator", "fake_manila"]
    publisher = Publisher.from_settings(settings)
    cache = CompileCache()
    runs: list[CanaryRun] = []
    snapshots: list[CalibrationSnapshot] = []
    monkeypatch.delenv(NOISE_SCALE_ENV, raising=False)
    with _sink(settings):
        for _ in range(3):  # the baseline
            r, s = canary_round(publisher, topics, adapters, cache=cache, noise_scale={})
            runs += r
            snapshots += s
        _wait(lambda: _stored(dsn, runs, snapshots))
        baseline_done = time.time()
        time.sleep(GAP_S)
        monkeypatch.setenv(NOISE_SCALE_ENV, "fake_manila=3")  # the drill, read by the round
        r, s = canary_round(publisher, topics, adapters, cache=cache)
        runs += r
        snapshots += s
        _wait(lambda: _stored(dsn, runs, snapshots))

        # Every published run is a row, as published.
        _, rows = query(
            dsn,
            "SELECT run_id, backend, template, calibration_id, shots, counts, expectation"
            " FROM qloop.canary_runs ORDER BY run_id",
        )
        assert rows == sorted(
            (x.run_id, x.backend, x.template, x.calibration_id, x.shots, x.counts, x.expectation)
            for x in runs
        )
        # One calibration row per qubit and calibration: the baseline's and the drill's.
        _, rows = query(
            dsn,
            "SELECT backend, calibration_id, qubit, t1_us, readout_error"
            " FROM qloop.calibrations FINAL ORDER BY calibration_id, qubit",
        )
        expected = {
            (s.backend, s.calibration_id, q.qubit, q.t1_us, q.readout_error)
            for s in snapshots
            for q in s.qubits
        }
        assert sorted(rows) == sorted(expected) and len(rows) == 10
        assert {row[1] for row in rows} == {s.calibration_id for s in snapshots}
        assert any(row[1].endswith("+noise*3") for row in rows)

        recent = timedelta(seconds=time.time() - baseline_done - GAP_S / 2)
        findings = drift_report(ReadOnlyClient(dsn), recent=recent)  # type: ignore[arg-type]
    publisher.close()
    assert {f.backend for f in findings} == {"fake_manila"}
    tv = next(f for f in findings if f.metric == "tv_to_ideal" and f.template == "ghz2")
    assert "1 recent run(s) vs 3 baseline run(s)" in tv.reason
    assert "+noise*3" in tv.reason and "worst qubit" in tv.reason


def test_sink_with_canary_interval_publishes_and_stores(
    settings_factory: Callable[..., Settings],
    topic_factory: Callable[..., TopicNames],
    tmp_path: Path,
) -> None:
    """``qloop sink --canary-interval N``: the canary thread publishes, the same process stores."""
    topics = topic_factory()
    settings = settings_factory(topic_prefix=topics.prefix, data_dir=tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLOOP_")} | {
        "QLOOP_DATA_DIR": str(settings.data_dir),
        "QLOOP_KAFKA_BOOTSTRAP": settings.bootstrap,
        "QLOOP_TOPIC_PREFIX": topics.prefix,
        "QLOOP_CANARY_BACKENDS": '["aer_simulator", "fake_manila"]',
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams", "sink", "--canary-interval", "1"], env=env, cwd=REPO
    )
    try:
        _wait(lambda: _count(settings.dsn, "SELECT count() FROM qloop.canary_runs") >= 8, 120)
        assert _count(settings.dsn, "SELECT count() FROM qloop.calibrations FINAL") == 5
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
