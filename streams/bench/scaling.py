"""``python -m streams.bench.scaling``: throughput with 1, 2 and 4 workers in one group.

The backend is the remote-overhead stand-in (every submission waits ``overhead_ms``, as a
cloud queue does) with small batches, so one worker's bound is its in-flight submissions, not
the CPU: ``max_in_flight x max_batch / overhead`` sets per second. More workers in the group
share the partitions (the topology hop off, so that the partition of an update's key is the one
that batches it) and should add their slots. The client keys updates by template id, so a single
template's sets all land on one partition, hence one worker: ``--templates`` spreads the sets
over that many templates (32 by default; 1 shows the single-template case). ``--balanced``
picks templates whose ids fall evenly on the partitions (librdkafka's default partitioner is
CRC-32 of the key), which separates the workers' scaling from the key skew. Each run: a fresh
topic prefix, N sets of 2-qubit circuits produced at once, timed from the first produce to the
last result received. Prints one JSON object; ``--save`` also writes it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qiskit.circuit.library import real_amplitudes

from processors.template_builder import make_template
from schemas import CircuitTemplate
from streams.bench.own_broker import emit, own_broker
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.local.stack import LocalStack, spawn_worker

PARTITIONS = 8


def _templates(count: int, balanced: bool) -> list[CircuitTemplate]:
    """``count`` templates with distinct ids; ``balanced``: the same number per partition."""
    made: list[CircuitTemplate] = []
    per_partition = Counter[int]()
    k = 0
    while len(made) < count:
        circuit = real_amplitudes(2, reps=1, parameter_prefix=f"t{k}_")
        circuit.measure_all()
        template = make_template(circuit, f"scaling-{k}")
        k += 1
        partition = zlib.crc32(template.template_id.encode()) % PARTITIONS
        if balanced and per_partition[partition] >= -(-count // PARTITIONS):
            continue
        per_partition[partition] += 1
        made.append(template)
    return made


def run_once(
    bootstrap: str,
    workers: int,
    sets: int,
    overhead_ms: float,
    templates: int,
    balanced: bool = False,
) -> dict[str, Any]:
    """One measurement: ``workers`` workers, ``sets`` sets over ``templates`` templates."""
    data = Path(tempfile.mkdtemp(prefix="qloop-scaling-"))
    settings = Settings(
        kafka_bootstrap=bootstrap,
        data_dir=data,
        topic_prefix=f"s{uuid.uuid4().hex[:8]}.",
        topic_partitions=PARTITIONS,
        route_by_topology=False,
        backend_overhead_ms=overhead_ms,
        max_batch=10,
        max_wait_ms=20,
        max_in_flight=2,
    )
    made = _templates(templates, balanced)  # distinct ids (parameter names): distinct keys
    with LocalStack(settings, worker=False, sink=False):
        procs = [spawn_worker(settings, f"w{k}") for k in range(workers)]
        try:
            time.sleep(5)  # let the group settle: every worker holds partitions
            with QloopClient(settings) as client:
                for template in made:
                    client.register_template(template)
                updates = [
                    new_update(made[i % templates], [0.001 * i, 0.2, 0.3, 0.4],
                               experiment_id="scaling", shots=16)
                    for i in range(sets)
                ]  # fmt: skip
                started = time.monotonic()
                futures = client.submit(updates)
                for future in futures.values():
                    future.result(600)
                seconds = time.monotonic() - started
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            shutil.rmtree(data, ignore_errors=True)
    return {"workers": workers, "templates": templates, "balanced": balanced, "sets": sets,
            "seconds": round(seconds, 2), "sets_per_s": round(sets / seconds, 1)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """Measure 1, 2 and 4 workers on a broker of its own; print the JSON object."""
    parser = argparse.ArgumentParser(prog="python -m streams.bench.scaling")
    parser.add_argument("--sets", type=int, default=1200)
    parser.add_argument("--overhead-ms", type=float, default=500.0)
    parser.add_argument("--templates", type=int, default=32)
    parser.add_argument("--balanced", action="store_true")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args(argv)
    runs = []
    with own_broker("scaling") as bootstrap:
        for workers in (1, 2, 4):
            print(f"{workers} worker(s) ...", file=sys.stderr)
            runs.append(
                run_once(
                    bootstrap, workers, args.sets, args.overhead_ms, args.templates, args.balanced
                )
            )
    one = runs[0]["sets_per_s"]
    report = {
        "overhead_ms": args.overhead_ms,
        "max_batch": 10,
        "max_in_flight": 2,
        "partitions": PARTITIONS,
        "runs": runs,
        "speedup_vs_one": {str(r["workers"]): round(r["sets_per_s"] / one, 2) for r in runs},
    }
    emit(report, args.save)


if __name__ == "__main__":
    main()
