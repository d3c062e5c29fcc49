"""Failure drills: a wrapper that makes a backend fail its first submissions, on purpose.

Operators rehearse what a flaky provider does to the pipeline, and the integration tests prove
the retry policy, with ``QLOOP_DRILL_BACKEND_FAILURES`` (e.g. ``{"aer_simulator":
"transient:3"}``): the first N submissions to that backend raise the kind of error named, a
503 over a timed-out connection (transient), a 429 (throttled: waited out as backpressure) or
a validation refusal (permanent). Each worker process counts its own submissions.
"""

from __future__ import annotations

import threading

from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    SamplerOutput,
    SamplerTask,
)
from processors.backends.overhead import OverheadAdapter
from processors.errors import BackendError, ConfigurationError

KINDS = ("transient", "throttled", "permanent")


def parse_drill(text: str) -> tuple[str, int]:
    """``transient:3`` -> ("transient", 3).

    Raises:
        ConfigurationError: not ``KIND:COUNT`` with a known kind and a positive count.

    """
    kind, _, count = text.partition(":")
    if kind not in KINDS or not count.isdigit() or int(count) < 1:
        raise ConfigurationError(
            f"drill {text!r}: expected transient:N, throttled:N or permanent:N, N >= 1"
        )
    return kind, int(count)


class FailingAdapter(OverheadAdapter):
    """Delegates to ``inner`` once its first ``count`` submissions have failed as ``kind``."""

    def __init__(self, inner: BackendAdapter, kind: str, count: int) -> None:
        super().__init__(inner, 0.0)
        self._kind, self._left = kind, count
        self._lock = threading.Lock()

    def _maybe_fail(self) -> None:
        with self._lock:
            if self._left <= 0:
                return
            self._left -= 1
        if self._kind == "transient":
            try:
                raise TimeoutError("drill: the provider did not answer in time")
            except TimeoutError as exc:
                raise BackendError(f"{self.name}: 503 Service Unavailable (drill)") from exc
        if self._kind == "throttled":
            raise BackendError(f"{self.name}: 429 Too Many Requests (drill)")
        raise BackendError(f"{self.name}: job refused: invalid circuit for this device (drill)")

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """Fail while the drill lasts, then sample on the wrapped adapter."""
        self._maybe_fail()
        return super().run_sampler(tasks, seed)

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """Fail while the drill lasts, then estimate on the wrapped adapter."""
        self._maybe_fail()
        return super().run_estimator(tasks, seed)


__all__ = ["KINDS", "FailingAdapter", "parse_drill"]
