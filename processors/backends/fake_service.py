"""A fake IBM Quantum runtime service whose jobs live on disk: for tests and drills.

What matters about the real service, and what a fake backend in local testing mode lacks: a
job outlives the process that submitted it (it queues, runs and finishes while its worker is
dead, and is found again by id), submissions can be refused for load (HTTP 429, IBM error
3458), jobs can fail transiently, and sessions and batches stay open until someone closes
them. This fake keeps each job and session as files under one directory, so every process
(workers, tests) sees the same service. A job runs on its fake device when its result is first
asked for after its queue and run time have passed, with the seed it was submitted with, so any
process that asks gets the same result.

Behaviour is scripted by ``script.json`` in the directory (:meth:`FakeRuntimeService.configure`):
seconds in the queue, seconds running, and how many submissions to throttle and jobs to fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle  # noqa: S403 - the fake's own files, written and read by this module only
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler

from processors.backends.provider_jobs import FinishedJob, JobTimes, Kind

SCRIPT = "script.json"
DEFAULT_SCRIPT: dict[str, float] = {"queue_s": 1.0, "run_s": 0.2, "throttle": 0, "fail": 0}


class FakeServiceError(RuntimeError):
    """What the fake service answers a refused submission or a failed job with."""


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _state(meta: dict[str, Any]) -> str:
    elapsed = time.time() - meta["created"]
    if elapsed < meta["queue_s"]:
        return "QUEUED"
    if elapsed < meta["queue_s"] + meta["run_s"]:
        return "RUNNING"
    return "ERROR" if meta["fails"] else "DONE"


class FakeRuntimeService:
    """:class:`~processors.backends.provider_jobs.RuntimeGateway` over files in ``root``.

    Args:
        root: The service's directory (created if missing); shared by every process.
        backend: The fake device jobs run on (``qiskit_ibm_runtime.fake_provider``).
        name: The backend's registry name, recorded with each job.

    """

    durable = True

    def __init__(self, root: Path, backend: Any, name: str = "") -> None:
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        (self.root / "sessions").mkdir(exist_ok=True)
        self._backend = backend
        self._name = name or str(getattr(backend, "name", "fake"))

    @staticmethod
    def configure(root: Path, **script: float) -> None:
        """Write the script (queue_s, run_s, throttle, fail); unnamed entries keep defaults."""
        unknown = set(script) - set(DEFAULT_SCRIPT)
        if unknown:
            raise ValueError(f"unknown fake service setting(s): {sorted(unknown)}")
        Path(root).mkdir(parents=True, exist_ok=True)
        _write_json(Path(root) / SCRIPT, {**DEFAULT_SCRIPT, **script})

    @contextmanager
    def _locked(self) -> Iterator[dict[str, float]]:
        """The script, under an exclusive lock shared by every process; saved on exit."""
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            path = self.root / SCRIPT
            script = {**DEFAULT_SCRIPT, **(json.loads(path.read_text()) if path.exists() else {})}
            yield script
            _write_json(path, script)

    def open(self, mode: str, max_time_s: float | None) -> str:
        """Open a session or batch (a file whose ``closed_at`` is null until closed)."""
        mode_id = f"{mode}-{uuid.uuid4().hex[:16]}"
        record = {"mode": mode, "backend": self._name, "opened_at": time.time(),
                  "closed_at": None, "max_time_s": max_time_s,
                  "opened_by": os.getpid()}  # fmt: skip
        _write_json(self.root / "sessions" / f"{mode_id}.json", record)
        return mode_id

    def close(self, mode_id: str) -> None:
        """Close a session or batch (again: nothing happens)."""
        path = self.root / "sessions" / f"{mode_id}.json"
        with self._locked():
            record = self._session(mode_id)
            if record["closed_at"] is None:
                record.update(closed_at=time.time(), closed_by=os.getpid())
                _write_json(path, record)

    def submit(
        self,
        kind: Kind,
        pubs: list[Any],
        *,
        seed: int | None,
        mode_id: str | None,
        tags: tuple[str, ...],
        max_execution_s: int | None,
    ) -> str:
        """Accept a job (or refuse it for load, as scripted)."""
        if mode_id is not None and self._session(mode_id)["closed_at"] is not None:
            raise FakeServiceError(f"session {mode_id} is closed; it accepts no new jobs")
        with self._locked() as script:
            throttled = script["throttle"] > 0
            fails = not throttled and script["fail"] > 0
            script["throttle"] -= throttled
            script["fail"] -= fails
            queue_s, run_s = script["queue_s"], script["run_s"]
        if throttled:
            raise FakeServiceError("HTTP 429: error code 3458, too many pending jobs (fake)")
        job_id = f"fake-{uuid.uuid4().hex[:20]}"
        jobs = self.root / "jobs"
        with (jobs / f"{job_id}.pubs").open("wb") as handle:
            pickle.dump(pubs, handle)
        meta = {"job_id": job_id, "backend": self._name, "kind": kind, "seed": seed,
                "session": mode_id, "tags": list(tags), "max_execution_s": max_execution_s,
                "created": time.time(), "queue_s": queue_s, "run_s": run_s,
                "fails": fails, "submitted_by": os.getpid()}  # fmt: skip
        _write_json(jobs / f"{job_id}.json", meta)  # last: the job exists once this does
        return job_id

    def _session(self, mode_id: str) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(
            (self.root / "sessions" / f"{mode_id}.json").read_text()
        )
        return record

    def _meta(self, job_id: str) -> dict[str, Any]:
        path = self.root / "jobs" / f"{job_id}.json"
        if not path.exists():
            raise LookupError(f"the fake service has no job {job_id}")
        meta: dict[str, Any] = json.loads(path.read_text())
        return meta

    def status(self, job_id: str) -> str:
        """Queued, then running, then done (or ERROR, as scripted), by the job's own clock."""
        return _state(self._meta(job_id))

    def result(self, job_id: str) -> FinishedJob:
        """Wait for the job's end; run it on the fake device with its seed."""
        meta = self._meta(job_id)
        created = meta["created"]
        running = created + meta["queue_s"]
        finished = running + meta["run_s"]
        time.sleep(max(0.0, finished - time.time()))
        if _state(meta) == "ERROR":
            raise FakeServiceError(
                f"job {job_id} failed: HTTP 503, service temporarily unavailable"
            )
        with (self.root / "jobs" / f"{job_id}.pubs").open("rb") as handle:
            pubs = pickle.load(handle)  # noqa: S301 - written by submit() above
        primitive: Any = (Sampler if meta["kind"] == "sampler" else Estimator)(mode=self._backend)
        if meta["seed"] is not None:
            primitive.options.simulator.seed_simulator = meta["seed"]
        times = JobTimes(*(datetime.fromtimestamp(t, UTC) for t in (created, running, finished)))
        return FinishedJob(primitive.run(pubs).result(), times, meta["session"])

    def jobs(self) -> list[dict[str, Any]]:
        """Every job ever accepted, oldest first (what a test counts submissions with)."""
        metas = [json.loads(p.read_text()) for p in (self.root / "jobs").glob("*.json")]
        return sorted(metas, key=lambda m: m["created"])

    def sessions(self) -> dict[str, dict[str, Any]]:
        """Every session and batch ever opened, by id, with when (and whether) it closed."""
        return {p.stem: json.loads(p.read_text()) for p in (self.root / "sessions").glob("*.json")}


__all__ = ["DEFAULT_SCRIPT", "FakeRuntimeService", "FakeServiceError"]
