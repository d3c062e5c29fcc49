"""One way to reach ClickHouse: ``connect(dsn)`` for the embedded engine or a server.

* ``chdb:///abs/path`` -- clickhouse-connect's embedded chDB backend (the ClickHouse engine
  in-process, data on disk). The first client of a process takes the directory's owner lock
  (:mod:`sinks.lock`); another process gets :class:`~sinks.errors.EngineLockedError`.
* ``http(s)://user:pass@host:port/db`` -- a ClickHouse server or cluster.

Both return a ``clickhouse_connect`` :class:`Client`, so everything above this module is the same
code for both. All SQL in :mod:`sinks` names tables as ``qloop.<table>`` and binds values as
server-side parameters, so the client's default database does not matter.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver._chdbclient import ChdbClient
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.errors import EngineLockedError, SinkFatalError, SinkRetryableError
from sinks.lock import acquire_engine_lock, release_engine_lock

DATABASE = "qloop"


def chdb_path(dsn: str) -> str | None:
    """Return the data directory of a ``chdb:///abs/path`` DSN, or ``None`` for other DSNs.

    Raises:
        ValueError: for an in-memory or relative chDB DSN (it could not be shared or locked).

    """
    parsed = urlparse(dsn)
    if parsed.scheme != "chdb":
        return None
    if parsed.netloc or not parsed.path.startswith("/"):
        raise ValueError(f"chDB DSN must be chdb:///absolute/path, got {dsn!r}")
    return unquote(parsed.path)


class _OwnedChdbClient(ChdbClient):  # type: ignore[misc]
    """A chDB client that drops its reference on the owner lock when closed."""

    def __init__(self, data_dir: str, **kwargs: Any) -> None:
        self._qloop_data_dir: str | None = data_dir
        super().__init__(path=data_dir, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._qloop_data_dir is not None:
                release_engine_lock(self._qloop_data_dir)
                self._qloop_data_dir = None


def connect(dsn: str, *, settings: dict[str, Any] | None = None, wait_s: float = 0.0) -> Client:
    """Open a client for ``dsn``; for chDB also take (or share) this process's owner lock.

    Args:
        dsn: ``chdb:///abs/path`` or ``http(s)://user:pass@host:port/db``.
        settings: ClickHouse session settings applied to every query of this client.
        wait_s: How long to keep retrying while another process owns the chDB directory: a
            short-lived reader (``sinks.query`` opens the engine directly when it is free)
            must not make a starting worker fail.

    Returns:
        A clickhouse-connect client; close it when done (for chDB that releases the lock once the
        last client of the process is closed).

    Raises:
        EngineLockedError: another process owns the chDB directory.
        SinkRetryableError: the server could not be reached.
        SinkFatalError: the engine refused to open (e.g. this process already hosts another path).

    """
    path = chdb_path(dsn)
    if path is None:
        try:
            return clickhouse_connect.get_client(dsn=dsn, settings=settings or {})
        except ClickHouseError as exc:
            raise SinkRetryableError(f"cannot reach ClickHouse at {_redact(dsn)}: {exc}") from exc
    deadline = time.monotonic() + wait_s
    while True:
        try:
            acquire_engine_lock(path)
            break
        except EngineLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    try:
        return _OwnedChdbClient(path, settings=settings or {})
    except ClickHouseError as exc:
        release_engine_lock(path)
        if "Cannot lock file" in str(exc) or "another server instance" in str(exc).lower():
            raise EngineLockedError(path, None, None) from exc
        raise SinkFatalError(f"cannot open the chDB engine at {path}: {exc}") from exc
    except BaseException:
        release_engine_lock(path)
        raise


def _redact(dsn: str) -> str:
    """Return the DSN without its password, for error messages."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return parsed._replace(netloc=netloc).geturl()


__all__ = ["DATABASE", "chdb_path", "connect"]
