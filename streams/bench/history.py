"""``python -m streams.bench.history``: a worker's cost after a restart must not grow with history.

Rounds of estimator sets go through one worker on a broker of its own; after each round:

1. the worker is restarted at once, *within* the ledger's window, and the last ``--resend`` sets
   of the round are sent again: none may run again (the duplicates counter takes them all);
2. the worker stops, and the bench waits until Kafka's retention has deleted the round from the
   ledger topic (the window is short here, ``--window-s``, so that a run takes minutes);
3. the next round starts with a fresh worker: its start-to-first-result time (spawn to the
   result of one probe set), its RSS, and its ledger replay (records read, entries held, from
   its ``/metrics``) are recorded against the number of sets processed before it.

Prints one JSON object: the restarts and the growth per 100,000 sets of history, fitted over
every restart (the targets: under 20 MB and under 1 s).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from schemas import ParameterUpdate
from streams.bench.own_broker import run_and_emit
from streams.bench.workloads import estimator_case
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.kafka.topics import TopicNames
from streams.local.broker import free_port
from streams.local.stack import LocalStack, spawn_worker


def _metrics(port: int) -> dict[str, float]:
    """The worker's samples, by name (labels folded into the name as ``name{value}``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = ",".join(sample.labels.values())
            out[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
    return out


def _ledger_bounds(bootstrap: str, topic: str) -> tuple[int, int]:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        low, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        probe.close()


class HistoryRun:
    """One worker's life cycle per round on ``settings`` (its broker must be running)."""

    def __init__(self, settings: Settings, client: QloopClient) -> None:
        self.settings = settings
        self.client = client
        self.case = estimator_case(8)
        self.port = settings.worker_metrics_port or 0
        self.history = 0
        client.register_template(self.case.template)

    def _sets(self, n: int, experiment: str) -> list[ParameterUpdate]:
        values = self.case.values(n, seed=self.history)
        return [
            new_update(self.case.template, row.tolist(), experiment_id=experiment,
                       primitive=self.case.primitive, shots=None)
            for row in values
        ]  # fmt: skip

    def _run(self, updates: list[ParameterUpdate], timeout_s: float = 900.0) -> None:
        for future in self.client.submit(updates).values():
            future.result(timeout_s)

    def restart(self) -> dict[str, Any]:
        """Start a worker, time its first result, read its RSS and ledger; leave it running."""
        started = time.monotonic()
        self.proc = spawn_worker(self.settings, "history-worker")
        self._run(self._sets(1, f"probe-{uuid.uuid4().hex[:6]}"))
        first_result_s = time.monotonic() - started
        self.history += 1
        rss_mb = psutil.Process(self.proc.pid).memory_info().rss / 2**20
        metrics = _metrics(self.port)
        return {
            "history_sets": self.history - 1,
            "start_to_first_result_s": round(first_result_s, 2),
            "rss_mb": round(rss_mb, 1),
            "ledger_replayed_records": int(metrics["qloop_ledger_replayed_records"]),
            "ledger_replay_s": round(metrics["qloop_ledger_replay_seconds"], 3),
            "ledger_event_entries": int(metrics.get("qloop_ledger_entries{event}", 0)),
        }

    def stop(self) -> None:
        """Stop the running worker (SIGTERM, a clean shutdown)."""
        self.proc.terminate()
        self.proc.wait(60)

    def round(self, sets: int, resend: int) -> dict[str, Any]:
        """Run ``sets`` sets, restart within the window, re-send ``resend``; count re-runs."""
        updates = self._sets(sets, f"history-{uuid.uuid4().hex[:6]}")
        self._run(updates)
        self.history += sets
        self.stop()
        inside = self.restart()  # within the window: the round's ids are in the replayed ledger
        before = _metrics(self.port)
        self.client.submit(updates[-resend:])  # no result will come: nothing is awaited
        deadline = time.monotonic() + 60
        after = before
        while after["qloop_duplicates_total"] - before["qloop_duplicates_total"] < resend:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            after = _metrics(self.port)
        rerun = after["qloop_results_published_total"] - before["qloop_results_published_total"]
        dropped = after["qloop_duplicates_total"] - before["qloop_duplicates_total"]
        self.stop()
        return {
            "within_window_replayed_records": inside["ledger_replayed_records"],
            "within_window_rss_mb": inside["rss_mb"],
            "resent": resend,
            "resent_dropped": int(dropped),
            "resent_rerun": int(rerun),
        }

    def wait_deleted(self, timeout_s: float = 180.0) -> float:
        """Wait until retention has deleted everything in the ledger; return the seconds."""
        topic = TopicNames(self.settings.topic_prefix).ledger
        bootstrap = self.settings.bootstrap
        started = time.monotonic()
        _low, high = _ledger_bounds(bootstrap, topic)
        while _ledger_bounds(bootstrap, topic)[0] < high:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the ledger was not trimmed to its window in {timeout_s}s")
            time.sleep(1)
        return round(time.monotonic() - started, 1)


def run_history(
    bootstrap: str, rounds: int, sets: int, window_s: float, resend: int = 100
) -> dict[str, Any]:
    """``rounds`` rounds of ``sets`` sets; the report (see the module docstring)."""
    data = Path(tempfile.mkdtemp(prefix="qloop-history-"))
    settings = Settings(
        kafka_bootstrap=bootstrap,
        data_dir=data,
        topic_prefix=f"h{uuid.uuid4().hex[:8]}.",
        ledger_window_s=window_s,
        worker_metrics_port=free_port(),
    )
    restarts: list[dict[str, Any]] = []
    try:
        with LocalStack(settings, worker=False, sink=False), QloopClient(settings) as client:
            run = HistoryRun(settings, client)
            restarts.append(run.restart())
            for k in range(rounds):
                print(f"round {k + 1}/{rounds}: {sets} sets ...", file=sys.stderr)
                outcome = run.round(sets, resend)
                outcome["trimmed_after_s"] = run.wait_deleted()
                restarts[-1].update(outcome)
                restarts.append(run.restart())
            run.stop()
    except Exception:
        print(f"history bench failed; its logs are in {data}", file=sys.stderr)
        raise
    shutil.rmtree(data, ignore_errors=True)
    return {
        "window_s": window_s,
        "sets_per_round": sets,
        "restarts": restarts,
        "growth_per_100k_sets": {
            key: _slope_per_100k(restarts, key)
            for key in ("rss_mb", "start_to_first_result_s", "ledger_replay_s")
        },
    }


def _slope_per_100k(restarts: list[dict[str, Any]], key: str) -> float:
    """Least-squares growth of ``key`` per 100,000 sets of history, over every restart.

    A fit, not the last minus the first: a worker's start varies by a few tenths of a second
    (faust joining its group), which two points alone would read as growth.
    """
    history = np.array([r["history_sets"] for r in restarts], dtype=float)
    values = np.array([r[key] for r in restarts], dtype=float)
    if len(restarts) < 2 or np.ptp(history) == 0:
        return 0.0
    slope = np.polyfit(history, values, 1)[0]
    return round(float(slope) * 100_000, 3)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the history bench on a broker of its own; print the JSON object."""
    parser = argparse.ArgumentParser(prog="python -m streams.bench.history")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sets", type=int, default=25_000)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--resend", type=int, default=100)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args(argv)
    run_and_emit(
        "history",
        lambda bootstrap: run_history(
            bootstrap, args.rounds, args.sets, args.window_s, args.resend
        ),
        args.save,
    )


if __name__ == "__main__":
    main()
