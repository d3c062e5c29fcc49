"""The stall fence tells a frozen process from a busy one."""

from __future__ import annotations

import threading
import time

import pytest

from streams.ledger.stall_fence import StallFence


class Clocks:
    def __init__(self) -> None:
        self.wall = 1000.0
        self.cpu = 5.0

    def advance(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def _fence(clocks: Clocks, stalls: list[float], limit_s: float = 3.0) -> StallFence:
    return StallFence(
        limit_s,
        on_stall=stalls.append,
        clock=lambda: clocks.wall,
        cpu=lambda: clocks.cpu,
    ).arm()


def test_a_frozen_process_is_fenced() -> None:
    clocks, stalls = Clocks(), []
    fence = _fence(clocks, stalls)
    clocks.advance(wall=10.0, cpu=0.0)  # SIGSTOP for 10 s: no CPU time at all
    fence.check()
    assert stalls == [pytest.approx(10.0)]


def test_a_long_gil_holding_simulation_is_not_a_freeze() -> None:
    clocks, stalls = Clocks(), []
    fence = _fence(clocks, stalls)
    clocks.advance(wall=12.0, cpu=23.5)  # Aer on two threads for 12 s, watchdog starved
    fence.beat()
    clocks.advance(wall=0.25, cpu=0.01)  # idle but beating
    fence.beat()
    assert stalls == []


def test_short_pauses_and_beats_reset_the_interval() -> None:
    clocks, stalls = Clocks(), []
    fence = _fence(clocks, stalls)
    for _ in range(20):  # many short pauses, each below the limit, never add up
        clocks.advance(wall=2.0, cpu=0.0)
        fence.beat()
    assert stalls == []
    clocks.advance(wall=1.5, cpu=0.0)
    clocks.advance(wall=1.6, cpu=0.0)
    fence.check()  # 3.1 s frozen since the last beat
    assert len(stalls) == 1


def test_nothing_fences_before_the_fence_is_armed() -> None:
    """Start-up (readers catching up, reconciling) waits without CPU: not a freeze."""
    clocks, stalls = Clocks(), []
    fence = StallFence(3.0, on_stall=stalls.append, clock=lambda: clocks.wall, cpu=lambda: 0.0)
    clocks.advance(wall=10.0, cpu=0.0)
    fence.check()
    assert stalls == []
    fence.arm()
    clocks.advance(wall=10.0, cpu=0.0)
    fence.check()
    assert len(stalls) == 1


def test_a_check_within_the_limit_reads_no_cpu_time() -> None:
    """Checked per record: the process CPU clock (a walk of every thread) is read only once
    wall time alone could reach the limit, and the verdict is the same."""
    clocks, stalls, reads = Clocks(), [], []

    def cpu() -> float:
        reads.append(clocks.cpu)
        return clocks.cpu

    fence = StallFence(3.0, on_stall=stalls.append, clock=lambda: clocks.wall, cpu=cpu).arm()
    reads.clear()
    for _ in range(100):
        clocks.advance(wall=0.02, cpu=0.0)  # 2 s in all, frozen throughout: below the limit
        fence.check()
    assert reads == [] and stalls == []
    clocks.advance(wall=1.5, cpu=0.0)
    fence.check()
    assert len(reads) == 1 and stalls == [pytest.approx(3.5)]


def test_limit_must_exceed_the_beat() -> None:
    with pytest.raises(ValueError, match="beat"):
        StallFence(0.1, beat_s=0.25)


def test_the_watchdog_thread_fences_without_any_caller() -> None:
    fired = threading.Event()
    frozen = {"offset": 0.0}
    fence = StallFence(
        1.0,
        beat_s=0.02,
        on_stall=lambda _s: fired.set(),
        clock=lambda: time.monotonic() + frozen["offset"],
    ).start()
    try:
        time.sleep(0.1)
        assert not fired.is_set()
        frozen["offset"] = 5.0  # the wall clock jumps as if the process had been stopped
        assert fired.wait(2.0)
    finally:
        fence.stop()
