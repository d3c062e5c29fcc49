"""Gradient descent (heavy-ball momentum) over shift-rule gradients, one batch per iteration.

Why this optimizer: a gradient from the shift rule needs the objective at ``2P`` shifted points,
all known before any is evaluated, so an iteration is a single batch of ``2P + 1`` parameter
sets (the ``+ 1`` is the current point, for the progress report and the best-so-far). That
batches far better than COBYLA (one point at a time) and, with exact or low-noise expectation
values, converges in far fewer iterations than SPSA. Plain momentum beat Adam here: on the H2
landscape Adam's normalised steps crawl (26-61 iterations on average to chemical accuracy over
the settings tried) against 7 on average and 19 at worst for momentum over 50 random starts; and
shot noise only adds a small random walk to the steps.

For gates ``exp(-i θ G / 2)`` with ``G`` of eigenvalues ±1 (RX, RY, RZ, RZZ with the parameter
entering once), ``(f(θ + s) - f(θ - s)) / (2 sin s)`` is the exact derivative for any shift
``s``; ``s = π/2`` is the classic parameter-shift rule. Where a parameter enters several gates
with different weights (QAOA's γ), a small ``s`` makes it a central difference, accurate to
``O(s²)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: One point in parameter space (also ``processors.workloads.base.ParameterSet``).
ParameterSet = NDArray[np.float64]

#: Maps a batch of parameter sets to objective values (to minimise), one per set, in order.
BatchObjective = Callable[[list[ParameterSet]], list[float]]

#: Called after every iteration with (iteration, value, best, evaluations so far).
StepCallback = Callable[[int, float, float, int], None]

#: Name recorded in experiment checkpoints and lineage for :func:`minimize_batched`.
OPTIMIZER_NAME = "momentum-descent/shift-rule"


@dataclass(frozen=True, slots=True)
class DescentSettings:
    """Hyper-parameters of :func:`minimize_batched`.

    Attributes:
        learning_rate: Step per unit gradient (radians per Hartree, or per unit of objective).
        momentum: Heavy-ball coefficient; the fraction of the last step carried over.
        max_iterations: Hard cap on iterations (each is one evaluate call).
        shift: Shift ``s`` of the gradient rule, see the module docstring.
        gradient_tolerance: Stop once the gradient's norm falls below this; ``0`` never stops
            early, which keeps the evaluation count fixed and predictable.

    """

    learning_rate: float = 1.0
    momentum: float = 0.3
    max_iterations: int = 60
    shift: float = math.pi / 2
    gradient_tolerance: float = 0.0

    def as_dict(self) -> dict[str, str]:
        """The settings as strings, as an experiment checkpoint records them."""
        return {
            "learning_rate": repr(self.learning_rate),
            "momentum": repr(self.momentum),
            "max_iterations": str(self.max_iterations),
            "shift": repr(self.shift),
            "gradient_tolerance": repr(self.gradient_tolerance),
        }

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        if not 0.0 < abs(self.shift) <= math.pi / 2:
            raise ValueError("shift must be in (0, pi/2]")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError("momentum must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class DescentState:
    """Everything the descent needs to take its next step: the resumable checkpoint.

    The descent is deterministic given its state and the objective values, so a loop resumed
    from the state after iteration ``k`` takes exactly the steps an uninterrupted one would.

    Attributes:
        iteration: Iterations completed (0: nothing evaluated yet).
        x: The next batch centre.
        velocity: The momentum carried into the next step.
        centre: The last centre evaluated (``x`` before the last step).
        value: The objective at ``centre`` (``inf`` before the first iteration).
        best_value: The lowest centre value so far.
        evaluations: Parameter sets evaluated so far.
        finished: The descent stopped (tolerance met or iterations used up).

    """

    iteration: int
    x: NDArray[np.float64]
    velocity: NDArray[np.float64]
    centre: NDArray[np.float64]
    value: float
    best_value: float
    evaluations: int
    finished: bool = False

    @classmethod
    def start(cls, x0: NDArray[np.float64]) -> DescentState:
        """The state before the first iteration."""
        x = np.asarray(x0, dtype=np.float64).copy()
        return cls(0, x, np.zeros_like(x), x.copy(), math.inf, math.inf, 0)


#: Called with the state after every iteration (and once more when the descent finishes).
CheckpointCallback = Callable[[DescentState], None]


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """Where the descent ended, and what it cost.

    Attributes:
        x: The last point evaluated as a batch centre.
        value: The objective there. Not the minimum over iterations: under shot noise that
            minimum is biased low (the lucky draw wins), while this is an unbiased estimate.
        best_value: The lowest centre value seen, as reported to the progress hook.
        iterations: Iterations run (evaluate calls).
        evaluations: Parameter sets evaluated.

    """

    x: NDArray[np.float64]
    value: float
    best_value: float
    iterations: int
    evaluations: int


def shifted_batch(x: NDArray[np.float64], shift: float) -> list[ParameterSet]:
    """``[x, x + s e_0, x - s e_0, x + s e_1, ...]``: one iteration's whole batch."""
    batch = [x.copy()]
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = shift
        batch.extend((x + step, x - step))
    return batch


def minimize_batched(
    objective: BatchObjective,
    x0: NDArray[np.float64],
    settings: DescentSettings | None = None,
    on_step: StepCallback | None = None,
    *,
    resume_from: DescentState | None = None,
    on_checkpoint: CheckpointCallback | None = None,
) -> OptimizationResult:
    """Minimise ``objective`` by momentum descent, one batch of evaluations per iteration.

    Deterministic: given the same ``x0`` and the same objective values, it takes the same steps.

    Args:
        objective: Evaluates a batch; called exactly once per iteration with ``2P + 1`` sets.
        x0: Starting point (not modified).
        settings: Hyper-parameters; defaults to :class:`DescentSettings`.
        on_step: Progress hook, called after each iteration.
        resume_from: Continue from this checkpoint instead of ``x0`` (a crashed loop).
        on_checkpoint: Called with the state after each iteration, before the next batch
            is sent, and once with ``finished=True`` at the end.

    Returns:
        The last centre point and its value (the final update is not evaluated: that would
        cost a batch for one point), the best value seen, and the iterations and sets used.

    """
    cfg = settings or DescentSettings()
    state = resume_from or DescentState.start(x0)
    x, velocity = state.x.copy(), state.velocity.copy()
    centre, value, best_value = state.centre.copy(), state.value, state.best_value
    evaluations, iteration = state.evaluations, state.iteration
    finished = state.finished
    while not finished and iteration < cfg.max_iterations:
        iteration += 1
        batch = shifted_batch(x, cfg.shift)
        values = np.asarray(objective(batch), dtype=np.float64)
        evaluations += len(batch)
        centre, value = x.copy(), float(values[0])
        best_value = min(best_value, value)
        if on_step is not None:
            on_step(iteration, value, best_value, evaluations)
        grad = (values[1::2] - values[2::2]) / (2.0 * math.sin(cfg.shift))
        finished = float(np.linalg.norm(grad)) < cfg.gradient_tolerance
        if not finished:
            velocity = cfg.momentum * velocity - cfg.learning_rate * grad
            x = x + velocity
        if on_checkpoint is not None and not finished:
            on_checkpoint(
                DescentState(iteration, x, velocity, centre, value, best_value, evaluations)
            )
    if on_checkpoint is not None:
        on_checkpoint(
            DescentState(iteration, x, velocity, centre, value, best_value, evaluations, True)
        )
    return OptimizationResult(
        x=centre,
        value=value,
        best_value=best_value,
        iterations=iteration,
        evaluations=evaluations,
    )


__all__ = [
    "OPTIMIZER_NAME",
    "BatchObjective",
    "CheckpointCallback",
    "DescentState",
    "DescentSettings",
    "OptimizationResult",
    "StepCallback",
    "minimize_batched",
    "shifted_batch",
]
