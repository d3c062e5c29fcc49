"""IBM execution modes: job, batch or session, and the lifetime of an open batch or session.

A session reserves the device between a loop's iterations (the classical step runs while the
QPU waits for it); a batch lets the provider schedule many independent jobs together. Both are
billed or limited while open, so one left open is money or quota lost: the
:class:`ModeKeeper` opens one when a busy period starts, and closes it once the adapter's jobs
have drained and none came for ``idle_close_s``, and always when the worker stops.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from processors.backends.provider_jobs import RuntimeGateway
from processors.errors import ConfigurationError

log = logging.getLogger(__name__)

MODES = ("job", "batch", "session")


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How an IBM backend's jobs are submitted.

    Attributes:
        mode: ``job`` (each job on its own), ``batch`` or ``session``.
        max_execution_s: The provider stops a job that runs longer (None: its default).
        idle_close_s: A batch or session with no job for this long is closed.
        max_time_s: The longest a batch or session may stay open (None: the provider's limit).

    """

    mode: str = "job"
    max_execution_s: int | None = None
    idle_close_s: float = 10.0
    max_time_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigurationError(
                f"IBM execution mode must be one of {MODES}, not {self.mode!r}"
            )
        if self.max_execution_s is not None and self.max_execution_s <= 0:
            raise ConfigurationError("IBM max execution time must be positive seconds")
        if self.idle_close_s < 0:
            raise ConfigurationError("IBM session idle close must be >= 0 seconds")


class ModeKeeper:
    """Opens at most one batch or session at a time for one backend, and closes it when idle."""

    def __init__(self, gateway: RuntimeGateway, policy: ExecutionPolicy) -> None:
        self._gateway = gateway
        self._policy = policy
        self._lock = threading.Lock()
        self._open: str | None = None
        self._users = 0
        self._timer: threading.Timer | None = None

    def acquire(self) -> str | None:
        """The batch or session a job should join (opened now if none is); None in job mode."""
        if self._policy.mode == "job":
            return None
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._open is None:
                self._open = self._gateway.open(self._policy.mode, self._policy.max_time_s)
                log.info("opened IBM %s %s", self._policy.mode, self._open)
            self._users += 1
            return self._open

    def release(self) -> None:
        """One run is over; close the batch or session after ``idle_close_s`` without jobs."""
        if self._policy.mode == "job":
            return
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._open is not None:
                self._timer = threading.Timer(self._policy.idle_close_s, self._close_if_idle)
                self._timer.daemon = True
                self._timer.start()

    def owns(self, mode_id: str | None) -> bool:
        """Whether ``mode_id`` is the batch or session this keeper holds open."""
        with self._lock:
            return mode_id is not None and mode_id == self._open

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._users == 0:
                self._close_locked()

    def _close_locked(self) -> None:
        if self._open is None:
            return
        opened, self._open = self._open, None
        try:
            self._gateway.close(opened)
            log.info("closed IBM %s %s", self._policy.mode, opened)
        except Exception:  # the provider closes it at max_time anyway; say so, never crash
            log.exception("could not close IBM %s %s", self._policy.mode, opened)

    def close(self) -> None:
        """Close what is open now (the worker is stopping; its jobs have drained)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._close_locked()


__all__ = ["MODES", "ExecutionPolicy", "ModeKeeper"]
