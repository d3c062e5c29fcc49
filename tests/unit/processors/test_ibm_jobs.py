"""IBM execution through a runtime service: job ids remembered, re-attached, sessions closed.

The fake runtime service keeps jobs on disk with a scripted queue, so a second adapter (a
restarted worker) finds the first one's jobs by id, as it would at IBM Quantum.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from processors.backends.base import EstimatorTask, SamplerTask
from processors.backends.fake_service import FakeRuntimeService
from processors.backends.ibm import IBMRuntimeAdapter, fake_backend
from processors.backends.ibm_modes import ExecutionPolicy
from processors.backends.provider_jobs import JobRef, Tracking
from processors.errors import BackendError, ConfigurationError
from processors.retries import is_throttled, is_transient


class Book:
    """A job book as the ledger keeps it: (task, set) -> JobRef, plus what was told."""

    def __init__(self) -> None:
        self.refs: dict[tuple[int, int], JobRef] = {}
        self.accepted: list[str] = []

    def tracking(self, tags: tuple[str, ...] = ("qloop",)) -> Tracking:
        def remember(job_id: str, refs: Sequence[tuple[int, int, JobRef]]) -> None:
            self.accepted.append(job_id)
            self.refs.update({(t, s): ref for t, s, ref in refs})

        return Tracking(known=lambda t, s: self.refs.get((t, s)), remember=remember, tags=tags)


@pytest.fixture(scope="module")
def device() -> object:
    return fake_backend("manila")


@pytest.fixture(scope="module")
def circuit(device: object) -> QuantumCircuit:
    theta = ParameterVector("t", 2)
    qc = QuantumCircuit(2)
    qc.ry(theta[0], 0)
    qc.cx(0, 1)
    qc.ry(theta[1], 1)
    qc.measure_all()
    return transpile(qc, device, seed_transpiler=7, optimization_level=1)


def _tasks(circuit: QuantumCircuit, n: int = 3) -> list[SamplerTask]:
    values = np.linspace(0.1, 2.0, 2 * n).reshape(n, 2)
    return [SamplerTask(circuit, values, 200, (None,) * n)]


def _adapter(device: object, root: Path, **policy: object) -> IBMRuntimeAdapter:
    service = FakeRuntimeService(root, device, "fake_manila")
    return IBMRuntimeAdapter(
        "fake_manila", device, gateway=service, policy=ExecutionPolicy(**policy)
    )


def test_a_job_is_remembered_before_its_result_and_matches_local_mode(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.3, run_s=0.1)
    adapter = _adapter(device, tmp_path)
    book = Book()
    out = adapter.run_sampler_tracked(_tasks(circuit), 42, book.tracking(("qloop", "x:1")))
    (job,) = FakeRuntimeService(tmp_path, device).jobs()
    assert book.accepted == [job["job_id"]] and job["tags"] == ["qloop", "x:1"]
    assert sorted(book.refs) == [(0, 0), (0, 1), (0, 2)]
    assert out.provider is not None
    run = out.provider[0][1]
    assert run is not None and run.job_id == job["job_id"]
    assert run.queue_ms == pytest.approx(300, abs=1) and run.execute_ms == pytest.approx(100, abs=1)
    # The same sets in local testing mode, same seed: the same counts, so the fake is faithful.
    local = IBMRuntimeAdapter("fake_manila", device).run_sampler(_tasks(circuit), 42)
    assert out.counts == local.counts and out.seeds == local.seeds
    assert local.provider is None


def test_a_restarted_worker_re_attaches_instead_of_submitting_again(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.2, run_s=0.0)
    book = Book()
    first = _adapter(device, tmp_path).run_sampler_tracked(_tasks(circuit), 1, book.tracking())
    again = _adapter(device, tmp_path).run_sampler_tracked(_tasks(circuit), 1, book.tracking())
    assert len(FakeRuntimeService(tmp_path, device).jobs()) == 1
    assert again.counts == first.counts and again.seeds == first.seeds
    assert book.accepted == [book.refs[(0, 0)].job_id]


def test_a_failed_job_is_not_re_attached_but_submitted_again(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.05, run_s=0.0, fail=1)
    adapter, book = _adapter(device, tmp_path), Book()
    with pytest.raises(BackendError, match="temporarily unavailable") as failed:
        adapter.run_sampler_tracked(_tasks(circuit), 3, book.tracking())
    assert is_transient(failed.value) and not is_throttled(failed.value)
    out = adapter.run_sampler_tracked(_tasks(circuit), 3, book.tracking())
    assert len(FakeRuntimeService(tmp_path, device).jobs()) == 2 == len(book.accepted)
    assert all(sum(c.values()) == 200 for c in out.counts[0])


def test_a_throttled_submission_is_throttling_and_creates_no_job(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.0, throttle=1)
    adapter, book = _adapter(device, tmp_path), Book()
    with pytest.raises(BackendError, match="3458") as refused:
        adapter.run_sampler_tracked(_tasks(circuit), 3, book.tracking())
    assert is_throttled(refused.value)
    assert FakeRuntimeService(tmp_path, device).jobs() == [] and book.accepted == []


def test_a_session_opens_for_busy_work_and_closes_when_idle_or_stopped(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.0, run_s=0.0)
    service = FakeRuntimeService(tmp_path, device)
    adapter = _adapter(device, tmp_path, mode="session", idle_close_s=0.3)
    adapter.run_sampler(_tasks(circuit), 5)
    adapter.run_sampler(_tasks(circuit), 6)
    (only,) = service.sessions().values()  # both runs shared one session
    assert only["mode"] == "session" and only["closed_at"] is None
    assert {j["session"] for j in service.jobs()} == {next(iter(service.sessions()))}
    deadline = time.monotonic() + 5
    while service.sessions()[next(iter(service.sessions()))]["closed_at"] is None:
        assert time.monotonic() < deadline, "the idle session was never closed"
        time.sleep(0.05)
    adapter.run_sampler(_tasks(circuit), 7)  # a new busy period: a new session
    assert len(service.sessions()) == 2
    adapter.close()
    assert all(s["closed_at"] is not None for s in service.sessions().values())


def test_taking_over_a_dead_workers_job_closes_its_session(
    device: object, circuit: QuantumCircuit, tmp_path: Path
) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.2, run_s=0.0)
    service = FakeRuntimeService(tmp_path, device)
    # What a worker killed mid-job leaves: an open batch, a submitted job, its refs in the book.
    orphan = service.open("batch", None)
    tasks = _tasks(circuit)
    job_id = service.submit(
        "sampler", [(circuit, tasks[0].values, 200)], seed=11, mode_id=orphan, tags=(),
        max_execution_s=None,
    )  # fmt: skip
    book = Book()
    book.refs = {(0, k): JobRef(job_id, 0, k, 11) for k in range(3)}
    out = _adapter(device, tmp_path, mode="batch").run_sampler_tracked(tasks, 9, book.tracking())
    assert len(service.jobs()) == 1 and out.seeds == ((11, 11, 11),)
    assert service.sessions()[orphan]["closed_at"] is not None


def test_the_estimator_reads_each_set_from_its_job(device: object, tmp_path: Path) -> None:
    FakeRuntimeService.configure(tmp_path, queue_s=0.0, run_s=0.0)
    theta = ParameterVector("a", 1)
    qc = QuantumCircuit(1)
    qc.ry(theta[0], 0)
    compiled = transpile(qc, device, seed_transpiler=1, optimization_level=1)
    observable = SparsePauliOp("Z").apply_layout(compiled.layout)
    values = np.array([[0.0], [np.pi]])
    task = EstimatorTask(compiled, observable, values, 0.01, (None, None))
    book = Book()
    out = _adapter(device, tmp_path).run_estimator_tracked([task], 2, book.tracking())
    local = IBMRuntimeAdapter("fake_manila", device).run_estimator([task], 2)
    assert out.evs == local.evs and out.evs[0][0] > 0.5 > -0.5 > out.evs[0][1]
    again = _adapter(device, tmp_path).run_estimator_tracked([task], 2, book.tracking())
    assert again.evs == out.evs and len(FakeRuntimeService(tmp_path, device).jobs()) == 1


def test_job_refs_round_trip_and_bad_policies_are_refused() -> None:
    ref = JobRef("job-1", 2, 5, None)
    assert JobRef.decode(ref.encode()) == ref
    with pytest.raises(ConfigurationError, match="one of"):
        ExecutionPolicy(mode="turbo")
    with pytest.raises(ConfigurationError, match="positive"):
        ExecutionPolicy(max_execution_s=0)


def test_local_testing_mode_runs_in_a_session_and_closes_it(
    device: object, circuit: QuantumCircuit
) -> None:
    """Without a service, a fake device in session mode runs through the runtime's own Session
    (local testing mode): same counts as job mode, nothing to re-attach, closed on close()."""
    adapter = IBMRuntimeAdapter(
        "fake_manila", device, policy=ExecutionPolicy(mode="session", idle_close_s=60)
    )
    out = adapter.run_sampler(_tasks(circuit), 4)
    local = IBMRuntimeAdapter("fake_manila", device).run_sampler(_tasks(circuit), 4)
    assert out.counts == local.counts and out.provider is None
    gateway = adapter.gateway
    assert not getattr(gateway, "durable", True)
    assert len(gateway._modes) == 1  # noqa: SLF001 - the open session, named locally
    adapter.close()
    assert gateway._modes == {}  # noqa: SLF001
