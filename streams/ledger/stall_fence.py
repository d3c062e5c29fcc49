"""Crash-only fencing of a worker that was frozen past its group session.

A worker paused longer than its consumer-group session timeout (SIGSTOP, a suspended VM, a
starved container) has lost its partitions to another worker by the time it runs again, but
it does not know yet: its fetched buffer and its batches in flight would be executed, charged
and published a second time, racing the new owner. Transactions would fence it at the broker;
without them the worker fences itself: before any ledger write or output leaves, it checks
whether the process stopped running for a large part of the session, and if so it exits at
once (``os._exit``, exit code :data:`EXIT_FENCED`), exactly like a ``kill -9`` at that point,
which the ledger already makes safe. The supervisor (compose ``restart``, systemd, Kubernetes)
starts it again and it rejoins the group as a new member.

"Stopped running" is measured as wall time minus the process's CPU time since the last beat of
a watchdog thread (every 0.25 s). A long simulation that holds the GIL also keeps the watchdog
from beating, but it burns CPU time as fast as wall time passes, so it is not mistaken for a
freeze; a frozen process burns none.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Exit status of a worker that fenced itself (EX_TEMPFAIL: restart it).
EXIT_FENCED = 75


def _exit_fenced(stalled_s: float) -> None:
    log.critical(
        "this worker did not run for %.1f s, past half its group session: its partitions "
        "belong to another worker now; exiting (status %d) without writing anything more",
        stalled_s,
        EXIT_FENCED,
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_FENCED)


class StallFence:
    """Watchdog that ends the process once it has been frozen for ``limit_s`` or more.

    Args:
        limit_s: Frozen time that fences; half the consumer-group session timeout is safe.
        beat_s: Watchdog period.
        on_stall: Called with the frozen seconds instead of exiting (tests).
        clock: Wall (monotonic) clock.
        cpu: The process's CPU time (all threads).

    """

    def __init__(
        self,
        limit_s: float,
        *,
        beat_s: float = 0.25,
        on_stall: Callable[[float], None] = _exit_fenced,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        if limit_s <= beat_s:
            raise ValueError("limit_s must exceed the beat period")
        self.limit_s = limit_s
        self._beat_s = beat_s
        self._on_stall = on_stall
        self._clock = clock
        self._cpu = cpu
        self._beat = (clock(), cpu())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._armed = False

    def stalled_for(self) -> float:
        """Seconds since the last beat during which the process did not run."""
        wall0, cpu0 = self._beat
        return (self._clock() - wall0) - (self._cpu() - cpu0)

    def check(self) -> None:
        """Fence (exit) if the process was frozen; call it before anything leaves the worker.

        Until :meth:`arm` (or :meth:`start`) nothing fences: start-up waits are not freezes.
        """
        if not self._armed:
            return
        # The process's CPU time costs a system call that walks every thread (13% of the
        # worker's main thread when read per record). Frozen time cannot exceed wall time,
        # so below the limit in wall time there is nothing to read.
        if self._clock() - self._beat[0] < self.limit_s:
            return
        stalled = self.stalled_for()
        if stalled >= self.limit_s:
            self._on_stall(stalled)

    def beat(self) -> None:
        """Check, then start a new interval (the watchdog thread calls this)."""
        self.check()
        self._beat = (self._clock(), self._cpu())

    def arm(self) -> StallFence:
        """Measure from now on; the caller beats (:meth:`start` does both, with a thread)."""
        self._beat = (self._clock(), self._cpu())
        self._armed = True
        return self

    def start(self) -> StallFence:
        """Arm and start the watchdog thread (daemon)."""
        self.arm()
        self._thread = threading.Thread(target=self._run, name="stall-fence", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the watchdog."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._beat_s):
            self.beat()


__all__ = ["EXIT_FENCED", "StallFence"]
