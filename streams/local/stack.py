"""A whole local qloop stack in one call.

Broker (if none is configured), topics, a processing worker (subprocess) and the ClickHouse
sink (a thread of this process, which therefore owns the embedded chDB directory and can
query it directly).

Used by ``qloop run``, ``qloop bench`` and the end-to-end tests; stops only what it started.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from pydantic import SecretStr

from streams.config import Settings
from streams.kafka.probe import BrokerUnreachableError, check_kafka
from streams.kafka.topics import TopicNames, create_topics
from streams.ledger.stall_fence import EXIT_FENCED
from streams.local.broker import LocalBroker

if TYPE_CHECKING:
    from sinks.experiments import EventTable


class StackError(Exception):
    """The local stack could not start; the message says which part and why."""


def settings_env(settings: Settings) -> dict[str, str]:
    """``QLOOP_*`` variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict | list | tuple):
            value = json.dumps(value)
        env[f"QLOOP_{name.upper()}"] = str(value)
    return env


class LocalStack:
    """Context manager running broker, topics, worker and sink for ``settings``."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker: bool = True,
        sink: bool = True,
        worker_log_level: str = "WARNING",
    ) -> None:
        self.settings = settings
        self.topics = TopicNames(settings.topic_prefix)
        self._want_worker = worker
        self._want_sink = sink
        self._log_level = worker_log_level
        self._broker: LocalBroker | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        #: Workers restarted after fencing themselves (see :meth:`check`).
        self.fenced_restarts = 0
        self._sink_stop = threading.Event()
        self._sink_thread: threading.Thread | None = None
        self._sink_error: list[BaseException] = []

    @property
    def worker_pid(self) -> int | None:
        """Pid of the worker subprocess (for RSS measurements)."""
        return self._worker.pid if self._worker else None

    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.kafka_bootstrap is None:
            broker = LocalBroker(settings.kafka_data_dir, port=settings.kafka_port)
            status = broker.status()
            if not status.answering:
                broker.start()
                self._broker = broker
        try:
            check_kafka(settings)
            create_topics(
                settings.librdkafka_config(),
                settings.topic_prefix,
                settings.topic_partitions,
                timeout_s=15.0,
                tenants=settings.topic_tenants,
                ledger_window_s=settings.ledger_window_s,
            )
        except BrokerUnreachableError as exc:
            raise StackError(f"{exc} Unset QLOOP_KAFKA_BOOTSTRAP to use the local one.") from None
        except KafkaException as exc:
            raise StackError(
                f"Kafka at {settings.bootstrap} did not answer ({exc.args[0].str()}); "
                "is the broker running? Unset QLOOP_KAFKA_BOOTSTRAP to use the local one."
            ) from None
        if self._want_sink:
            self._start_sink()
        if self._want_worker:
            self._start_worker()

    def _start_sink(self) -> None:
        from streams.sink.launch import run_configured_sink

        def target() -> None:
            try:
                run_configured_sink(self.settings, self._sink_stop)
            except BaseException as exc:  # surfaced by check()
                self._sink_error.append(exc)

        self._sink_thread = threading.Thread(target=target, name="clickhouse-sink", daemon=True)
        self._sink_thread.start()

    def _start_worker(self, timeout_s: float = 120.0) -> None:
        self._worker = spawn_worker(
            self.settings, "worker", log_level=self._log_level, timeout_s=timeout_s
        )

    def start_worker(self, timeout_s: float = 120.0) -> None:
        """Start the worker again after :meth:`stop_worker` (same settings and topics)."""
        if self._worker is not None and self._worker.poll() is None:
            raise StackError("the worker is already running")
        self._start_worker(timeout_s)

    def check(self) -> None:
        """Raise if the worker or the sink died; restart a worker that fenced itself.

        A worker exits with ``EXIT_FENCED`` when it was frozen past its group session (a
        laptop that slept, a SIGSTOP): its work moved on without it, and the stack starts a
        fresh one, as compose's ``restart`` policy does in production.
        """
        if self._worker is not None and self._worker.poll() is not None:
            code = self._worker.returncode
            if code != EXIT_FENCED:
                raise StackError(f"the worker exited with code {code}")
            logging.getLogger(__name__).warning("the worker fenced itself; starting a new one")
            self.fenced_restarts += 1
            self._start_worker()
        if self._sink_error:
            raise StackError(f"the sink failed: {self._sink_error[0]}") from self._sink_error[0]

    def wait_for_rows(self, table: EventTable, expected: int, timeout_s: float = 60.0) -> int:
        """Poll the distinct events of a ``qloop`` table until they reach ``expected``."""
        from sinks.experiments import stored_events

        deadline = time.monotonic() + timeout_s
        count = 0
        while time.monotonic() < deadline:
            self.check()
            count = stored_events(self.settings.dsn, table)
            if count >= expected:
                return count
            time.sleep(0.2)
        return count

    def stop_worker(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM the worker and wait (it drains its batches first)."""
        if self._worker is None:
            return None
        if self._worker.poll() is None:
            self._worker.send_signal(signal.SIGTERM)
            try:
                self._worker.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
        code = self._worker.returncode
        self._worker = None
        return code

    def stop_sink(self, timeout_s: float = 60.0) -> None:
        """Flush, commit and stop the sink thread."""
        self._sink_stop.set()
        if self._sink_thread is not None:
            self._sink_thread.join(timeout_s)
            self._sink_thread = None

    def close(self) -> None:
        """Stop the worker, then the sink, then the broker if this stack started it."""
        self.stop_worker()
        self.stop_sink()
        if self._broker is not None:
            self._broker.stop()
            self._broker = None


def spawn_worker(
    settings: Settings,
    name: str = "worker",
    extra_env: dict[str, str] | None = None,
    *,
    log_level: str = "WARNING",
    timeout_s: float = 120.0,
) -> subprocess.Popen[bytes]:
    """Start a ``python -m streams worker`` on ``settings``; return once it consumes.

    It logs to ``<data dir>/<name>.log`` and signals readiness with ``<name>.ready``; several
    can run side by side (one consumer group). ``extra_env`` adds variables (faust's own, for
    example). The caller stops it.

    Raises:
        StackError: it exited, or was not ready within ``timeout_s`` (then it is killed).

    """
    ready = settings.data_dir / f"{name}.ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, **settings_env(settings), **(extra_env or {})}
    env["QLOOP_READY_FILE"] = str(ready)
    with open(settings.data_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "streams", "worker", "--log-level", log_level],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None:
            raise StackError(
                f"the worker exited with code {proc.returncode}; "
                f"see {settings.data_dir / f'{name}.log'}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise StackError(f"the worker was not ready within {timeout_s:.0f}s")
        time.sleep(0.1)
    return proc


def process_rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 when it is gone)."""
    import psutil

    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return 0.0


__all__ = ["LocalStack", "StackError", "process_rss_mb", "settings_env"]
