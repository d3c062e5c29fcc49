"""Errors raised by ``sinks``, typed by what the caller does next.

* :class:`SinkRetryableError` -- keep the buffer, do not commit offsets, back off and retry
  (or pause the partitions); nothing was lost.
* :class:`SinkFatalError` -- a bug or a schema mismatch that retrying cannot fix: crash, and let
  the uncommitted offsets be redelivered after the fix.
* :class:`EngineLockedError` -- another process owns the chDB directory: go through its query
  endpoint, or wait until it stops.
* :class:`QueryRefusedError` -- a query endpoint refused a statement that is not read-only.
"""

from __future__ import annotations


class SinkError(Exception):
    """Base class of every error raised by :mod:`sinks`."""


class SinkRetryableError(SinkError):
    """A transient engine or network failure; the same call may succeed later."""


class SinkFatalError(SinkError):
    """A failure that retrying cannot fix (bad SQL, type mismatch, unknown table)."""


class EngineLockedError(SinkError):
    """The chDB data directory is owned by another process.

    Attributes:
        path: The data directory.
        owner_pid: Process id of the owner, or ``None`` if it could not be read.
        endpoint: ``host:port`` of the owner's read-only query endpoint, if it runs one.

    """

    def __init__(self, path: str, owner_pid: int | None, endpoint: str | None) -> None:
        where = f" (query endpoint http://{endpoint})" if endpoint else " (no query endpoint)"
        super().__init__(
            f"chDB data directory {path} is owned by process {owner_pid}{where}; "
            "only one process can open it: query through the owner or stop it first"
        )
        self.path = path
        self.owner_pid = owner_pid
        self.endpoint = endpoint


class QueryRefusedError(SinkError):
    """A statement other than SELECT/SHOW/DESCRIBE/EXPLAIN/WITH was sent to a read-only path."""


__all__ = [
    "EngineLockedError",
    "QueryRefusedError",
    "SinkError",
    "SinkFatalError",
    "SinkRetryableError",
]
