"""``python -m streams.bench.lanes``: interactive latency under a bulk backlog, and idle.

One worker on a broker of its own. Interactive sets (4-qubit sampler, priority 1) are sent one
at a time at a steady rate, first on an idle pipeline, then while a backlog of bulk sets
(8-qubit estimator, priority 0; 20,000 by default) is being worked off. For contrast, a few
bulk-lane sets are sent into the same backlog: what an interactive set would wait without its
lane. Prints one JSON object; the target is an interactive p99 under the backlog within twice
the idle one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.bench.own_broker import run_and_emit
from streams.bench.pipeline_run import interactive_latency
from streams.bench.workloads import estimator_case, sampler_case
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.local.stack import LocalStack


def run_lanes(bootstrap: str, backlog: int, rate_per_s: float, duration_s: float) -> dict[str, Any]:
    """Idle, then under ``backlog`` bulk sets; the report (see the module docstring)."""
    data = Path(tempfile.mkdtemp(prefix="qloop-lanes-"))
    settings = Settings(
        kafka_bootstrap=bootstrap, data_dir=data, topic_prefix=f"l{uuid.uuid4().hex[:8]}."
    )
    small, bulk = sampler_case(4, reps=1), estimator_case(8)
    try:
        with LocalStack(settings, sink=False), QloopClient(settings) as client:
            client.register_template(small.template)
            client.register_template(bulk.template)
            interactive_latency(client, small, rate_per_s, 1.0, priority=1)  # warm-up
            idle = interactive_latency(client, small, rate_per_s, duration_s, priority=1)
            print(f"idle p99 {idle['p99']} ms; producing {backlog} bulk sets", file=sys.stderr)
            started = time.perf_counter()
            rows = bulk.values(backlog, seed=3)
            futures = client.submit(
                new_update(bulk.template, row.tolist(), experiment_id="lanes-bulk",
                           primitive=bulk.primitive)
                for row in rows
            )  # fmt: skip
            loaded = interactive_latency(client, small, rate_per_s, duration_s, priority=1)
            in_bulk_lane = interactive_latency(client, small, 2.0, 2.0, priority=0, timeout_s=900.0)
            for future in futures.values():
                future.result(900)
            bulk_s = time.perf_counter() - started
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return {
        "backlog_sets": backlog,
        "interactive_rate_per_s": rate_per_s,
        "idle": idle,
        "under_backlog": loaded,
        "bulk_lane_under_backlog": in_bulk_lane,
        "p99_ratio": round(loaded["p99"] / idle["p99"], 2),
        "bulk_sets_per_s": round(backlog / bulk_s, 1),
        "backlog_outlived_measurement": bulk_s > duration_s + 4.0,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the lanes bench on a broker of its own; print the JSON object."""
    parser = argparse.ArgumentParser(prog="python -m streams.bench.lanes")
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args(argv)
    run_and_emit(
        "lanes",
        lambda bootstrap: run_lanes(bootstrap, args.backlog, args.rate, args.seconds),
        args.save,
    )


if __name__ == "__main__":
    main()
