"""The owner lock of a chDB data directory.

chDB runs the ClickHouse engine inside the process, and only one process may open a directory.
The engine's own refusal is an opaque "Error initializing EmbeddedServer"; this lock comes first
and turns it into :class:`~sinks.errors.EngineLockedError` naming the owner's pid and its query
endpoint. The lock is ``fcntl.flock`` on ``<dir>/qloop-owner.lock``: the kernel drops it when the
owner dies, even by SIGKILL, so a stale file never blocks a restart.

The file holds JSON ``{"pid", "endpoint", "token", "since"}``. It is created mode 0600: the
bearer token in it is what lets another process of the same user use the owner's endpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sinks.errors import EngineLockedError

LOCK_FILE_NAME = "qloop-owner.lock"


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    """What the owner of a data directory advertises in its lock file."""

    pid: int | None
    endpoint: str | None
    token: str | None


class EngineLock:
    """An exclusive, process-wide claim on one chDB data directory.

    Several clients of one process share the engine, so the lock is reference counted: use
    :func:`acquire_engine_lock` / :func:`release_engine_lock` rather than this class directly.
    """

    def __init__(self, data_dir: str) -> None:
        self.data_dir = os.path.realpath(data_dir)
        self.path = Path(self.data_dir) / LOCK_FILE_NAME
        self.token = secrets.token_urlsafe(24)
        self._fd: int | None = None
        self._endpoint: str | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`EngineLockedError` naming the current owner."""
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = read_owner(self.data_dir)
            raise EngineLockedError(self.data_dir, owner.pid, owner.endpoint) from None
        self._fd = fd
        self._write()

    def set_endpoint(self, endpoint: str | None) -> None:
        """Advertise (or withdraw) the owner's read-only query endpoint ``host:port``."""
        self._endpoint = endpoint
        self._write()

    def release(self) -> None:
        """Withdraw the advertisement and drop the lock (closing the fd releases the flock)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def _write(self) -> None:
        if self._fd is None:
            return
        body = json.dumps(
            {
                "pid": os.getpid(),
                "endpoint": self._endpoint,
                "token": self.token,
                "since": time.time(),
            }
        ).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body, 0)
        os.fsync(self._fd)


def read_owner(data_dir: str, attempts: int = 20) -> OwnerInfo:
    """Read the owner's advertisement; retries briefly while a new owner is still writing it."""
    path = Path(os.path.realpath(data_dir)) / LOCK_FILE_NAME
    for _ in range(attempts):
        try:
            raw = path.read_bytes()
            if raw:
                data = json.loads(raw)
                return OwnerInfo(data.get("pid"), data.get("endpoint"), data.get("token"))
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return OwnerInfo(None, None, None)


_registry_lock = threading.Lock()
_held: dict[str, tuple[EngineLock, int]] = {}


def acquire_engine_lock(data_dir: str) -> EngineLock:
    """Take (or re-enter, within this process) the owner lock of ``data_dir``."""
    key = os.path.realpath(data_dir)
    with _registry_lock:
        if key in _held:
            lock, refs = _held[key]
            _held[key] = (lock, refs + 1)
            return lock
        lock = EngineLock(key)
        lock.acquire()
        _held[key] = (lock, 1)
        return lock


def release_engine_lock(data_dir: str) -> None:
    """Drop one reference; the last one releases the lock so another process may open it."""
    key = os.path.realpath(data_dir)
    with _registry_lock:
        if key not in _held:
            return
        lock, refs = _held[key]
        if refs > 1:
            _held[key] = (lock, refs - 1)
            return
        del _held[key]
        lock.release()


def held_engine_lock(data_dir: str) -> EngineLock | None:
    """Return the lock of ``data_dir`` if this process holds it, else ``None``."""
    with _registry_lock:
        entry = _held.get(os.path.realpath(data_dir))
        return entry[0] if entry else None


__all__ = [
    "LOCK_FILE_NAME",
    "EngineLock",
    "OwnerInfo",
    "acquire_engine_lock",
    "held_engine_lock",
    "read_owner",
    "release_engine_lock",
]
