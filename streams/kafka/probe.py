"""Is Kafka there at all? A TCP probe before any client starts, and librdkafka's logs tamed.

A librdkafka client pointed at a broker that is down retries forever and logs every attempt:
``qloop topics create`` printed ~580 lines in 30 s before its error, ``qloop worker`` ~790 and a
traceback. Every command that connects probes the bootstrap servers first (a TCP connect, a few
seconds at most) and stops with one line when none answers; the clients' own logs go through
Python logging with repeats suppressed, so a broker that goes away later is one line a minute,
not a flood.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from streams.config import Settings


class BrokerUnreachableError(Exception):
    """No bootstrap server accepted a TCP connection."""


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    servers = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        servers.append((host.strip("[]") or "localhost", int(port or 9092)))
    return servers


def check_reachable(bootstrap: str, timeout_s: float = 3.0) -> None:
    """Return once one bootstrap server accepts a TCP connection; raise otherwise.

    Raises:
        BrokerUnreachableError: none did within ``timeout_s`` each (message: one line).

    """
    problems = []
    for host, port in _servers(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror or exc}")
    raise BrokerUnreachableError(
        f"Kafka at {bootstrap} is not reachable ({'; '.join(problems)}); is the broker running?"
    )


def check_kafka(settings: Settings) -> None:
    """:func:`check_reachable`, then :func:`check_access` with ``settings``' credentials."""
    check_reachable(settings.bootstrap)
    check_access(settings.librdkafka_config())


def check_access(conf: dict[str, Any], timeout_s: float = 10.0) -> None:
    """Return once the cluster answers a metadata request with ``conf``; raise otherwise.

    Run after :func:`check_reachable`: the port answers, but credentials, certificates or the
    protocol may still be wrong, and a client would then retry (and log) forever.

    Raises:
        BrokerUnreachableError: the cluster refused us or did not answer, with librdkafka's
            reason (bad credentials, an untrusted certificate, a protocol mismatch).

    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[KafkaError] = []
    client_conf: dict[str, Any] = {**conf, "error_cb": errors.append, "logger": _SILENT}
    admin = AdminClient(client_conf)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException as exc:
            last: object = exc.args[0] if exc.args else None
        admin.poll(0.2)  # serves error_cb: authentication and TLS errors arrive there
        fatal = [e for e in errors if e.code() in _REFUSALS]
        if fatal or time.monotonic() >= deadline:
            reason: object = (fatal or errors)[-1] if fatal or errors else last
            text = _first_line(reason.str() if isinstance(reason, KafkaError) else str(reason))
            if not fatal and conf.get("security.protocol", "PLAINTEXT") == "PLAINTEXT":
                text += (
                    " (a TLS or SASL listener? set QLOOP_KAFKA_SECURITY_PROTOCOL and credentials)"
                )
            raise BrokerUnreachableError(
                f"Kafka at {conf.get('bootstrap.servers')} refused qloop: {text}"
            )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no answer"


def _refusal_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset(
        {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}
    )


_REFUSALS = _refusal_codes()
_SILENT = logging.getLogger("qloop.librdkafka.probe")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


class _OncePerWindow(logging.Filter):
    """Let a given message through once per ``window_s`` (librdkafka repeats itself)."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self._window_s = window_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        # Strip the variable parts librdkafka puts in front ("%3|<time>|FAIL|rdkafka#...").
        key = record.getMessage().split("]: ", 1)[-1]
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self._window_s:
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = now
        return True


_LOGGER = logging.getLogger("qloop.librdkafka")
_LOGGER.addFilter(_OncePerWindow())


def client_logger() -> logging.Logger:
    """The logger librdkafka clients write to (``conf["logger"]``), repeats suppressed."""
    return _LOGGER


def with_client_logger(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf`` with librdkafka's logs routed through :func:`client_logger`."""
    return {**conf, "logger": _LOGGER}


__all__ = [
    "BrokerUnreachableError",
    "check_access",
    "check_kafka",
    "check_reachable",
    "client_logger",
    "with_client_logger",
]
