"""A wrapper that adds a fixed per-submission delay, standing in for a cloud queue."""

from __future__ import annotations

import time
from collections.abc import Callable

from processors.backends.base import (
    BackendAdapter,
    EstimatorOutput,
    EstimatorTask,
    Price,
    SamplerOutput,
    SamplerTask,
)


class OverheadAdapter:
    """Delegates to ``inner`` after sleeping ``overhead_s`` per submission.

    Used by benchmarks and slow-backend tests: the delay is paid once per submission, not per
    set, which is exactly what makes batching worthwhile against real queues.
    """

    def __init__(
        self,
        inner: BackendAdapter,
        overhead_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._overhead_s = overhead_s
        self._sleep = sleep
        self.submissions = 0

    @property
    def name(self) -> str:
        """The wrapped adapter's name."""
        return self._inner.name

    @property
    def num_qubits(self) -> int:
        """The wrapped adapter's width."""
        return self._inner.num_qubits

    @property
    def max_shots(self) -> int:
        """The wrapped adapter's shots cap."""
        return self._inner.max_shots

    @property
    def is_simulator(self) -> bool:
        """Whether the wrapped adapter is a simulator."""
        return self._inner.is_simulator

    @property
    def price(self) -> Price:
        """The wrapped adapter's cost model."""
        return self._inner.price

    @property
    def transpile_target(self) -> object:
        """The wrapped adapter's transpilation target."""
        return self._inner.transpile_target

    def target_id(self) -> str:
        """Return the wrapped target identity (the delay does not change compilation)."""
        return self._inner.target_id()

    def calibration_id(self) -> str | None:
        """Return the wrapped adapter's calibration id."""
        return self._inner.calibration_id()

    def fallback(self) -> BackendAdapter | None:
        """The wrapped adapter's stand-in simulator, if it has one (without the delay)."""
        inner = getattr(self._inner, "fallback", None)
        return inner() if callable(inner) else None

    def noise_model_id(self) -> str | None:
        """Return the wrapped adapter's noise-model fingerprint."""
        return self._inner.noise_model_id()

    def close(self) -> None:
        """Close the wrapped adapter's provider resources, if it holds any."""
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()

    def run_sampler(self, tasks: list[SamplerTask], seed: int) -> SamplerOutput:
        """Sleep, then sample on the wrapped adapter."""
        self.submissions += 1
        self._sleep(self._overhead_s)
        return self._inner.run_sampler(tasks, seed)

    def run_estimator(self, tasks: list[EstimatorTask], seed: int) -> EstimatorOutput:
        """Sleep, then estimate on the wrapped adapter."""
        self.submissions += 1
        self._sleep(self._overhead_s)
        return self._inner.run_estimator(tasks, seed)


__all__ = ["OverheadAdapter"]
