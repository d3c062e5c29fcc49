"""The express lane: an interactive batch never waits for a bulk run on the same simulator."""

from __future__ import annotations

import threading

import numpy as np
from proc_factories import ansatz
from qiskit import transpile

from processors.backends.aer import AerAdapter
from processors.backends.base import SamplerTask, express_lane


def test_an_express_run_does_not_wait_for_a_bulk_run_in_progress() -> None:
    adapter = AerAdapter()
    circuit = transpile(ansatz(2), adapter.transpile_target, optimization_level=0)  # type: ignore[arg-type]
    tasks = [SamplerTask(circuit, np.full((2, circuit.num_parameters), 0.3), 64, (None, None))]
    bulk_waiting = threading.Thread(target=adapter.run_sampler, args=(tasks, 1))
    adapter._lock.acquire()  # a bulk run holds the simulator  # noqa: SLF001
    try:
        with express_lane(True):
            out = adapter.run_sampler(tasks, 7)
        assert [sum(c.values()) for c in out.counts[0]] == [64, 64]
        bulk_waiting.start()
        bulk_waiting.join(0.5)
        assert bulk_waiting.is_alive(), "a bulk run did not wait for the bulk lane's lock"
    finally:
        adapter._lock.release()  # noqa: SLF001
    bulk_waiting.join(30)
    assert not bulk_waiting.is_alive()


def test_the_express_lane_is_this_threads_only() -> None:
    from processors.backends.base import EXPRESS

    seen: list[bool] = []
    with express_lane(True):
        other = threading.Thread(target=lambda: seen.append(EXPRESS.get()))
        other.start()
        other.join()
        seen.append(EXPRESS.get())
    seen.append(EXPRESS.get())
    assert seen == [False, True, False]
