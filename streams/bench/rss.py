"""Peak resident memory of the bench, worker and broker processes."""

from __future__ import annotations

import threading
from typing import Any


class PeakRss:
    """Samples the RSS of named processes every ``interval_s``; ``take`` returns and resets."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._psutil = psutil
        self._procs: dict[str, Any] = {}
        self._peaks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def watch(self, name: str, pid: int | None) -> None:
        """Start sampling ``pid`` under ``name`` (ignored when None or gone)."""
        if pid is None:
            return
        try:
            with self._lock:
                self._procs[name] = self._psutil.Process(pid)
        except self._psutil.Error:
            pass

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def sample(self) -> None:
        """Take one sample of every watched process."""
        with self._lock:
            for name, proc in list(self._procs.items()):
                try:
                    rss = proc.memory_info().rss / 2**20
                except self._psutil.Error:
                    continue
                self._peaks[name] = max(self._peaks.get(name, 0.0), rss)

    def take(self) -> dict[str, float]:
        """Peak MiB per process since the last ``take``."""
        self.sample()
        with self._lock:
            peaks, self._peaks = self._peaks, {}
        return {k: round(v, 1) for k, v in peaks.items()}

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


__all__ = ["PeakRss"]
