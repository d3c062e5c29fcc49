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


__all__ = ["BrokerUnreachableError", "check_reachable", "client_logger", "with_client_logger"]
