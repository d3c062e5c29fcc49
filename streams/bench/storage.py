"""``python -m streams.bench.storage``: bytes on disk per stored result, for the sizing guide.

Writes synthetic but realistic ``qloop.results`` rows through the sink's own row function into
a throw-away embedded engine (the shipped migrations, so the shipped codecs), merges them into
one part and reads ``system.parts``: an 8-qubit sampler set with 1024 shots spread over the 256
outcomes (Dirichlet 0.3: a few likely outcomes and a long tail, like a noisy circuit) and an
estimator set with one expectation value. Prints one JSON object.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from schemas import JobResult, Primitive, Reproducibility, ResultStatus, Timings
from sinks.connection import connect
from sinks.migrations import apply_migrations
from sinks.rows import COLUMNS, KafkaPosition, result_row

T0 = datetime(2026, 12, 3, tzinfo=UTC)


def _base() -> JobResult:
    bundle = Reproducibility(
        package_versions={"qiskit": "2.2.3", "qiskit-aer": "0.17.2", "numpy": "2.3.5"},
        code_version="v0.1.0-120-gabcdef0",
        transpiler_settings={"optimization_level": "1", "seed_transpiler": "1234"},
        backend_name="aer_simulator",
        seed_simulator=42,
        seed_transpiler=1234,
        compile_key="sha256:abc|aer:1|O1/seed1234|-|sampler",
    )
    return JobResult(
        event_id="", experiment_id="sizing", iteration=0, tenant="acme",
        template_id="sha256:abc", topology_key="topo:1", backend="aer_simulator",
        primitive=Primitive.SAMPLER, status=ResultStatus.SUCCEEDED, parameters=(),
        shots=1024, timings=Timings(1.0, 0.0, 3.0, 9.0), produced_at=T0, completed_at=T0,
        reproducibility=bundle, job_id="job-1", cost=0.0,
    )  # fmt: skip


def _rows(kind: str, n: int, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    base, rows = _base(), []
    for i in range(n):
        at = T0 + timedelta(milliseconds=i)
        if kind == "sampler_8q_1024_shots":
            hits = rng.multinomial(1024, rng.dirichlet(np.full(256, 0.3)))
            counts = {format(k, "08b"): int(v) for k, v in enumerate(hits) if v}
            result = replace(base, counts=counts, parameters=tuple(rng.uniform(-3, 3, 16)))
        else:
            result = replace(
                base, primitive=Primitive.ESTIMATOR, shots=0, counts=None,
                expectation_values=(float(rng.normal()),), standard_errors=(0.0,),
                parameters=tuple(rng.uniform(-3, 3, 6)),
            )  # fmt: skip
        result = replace(
            result, event_id=f"{kind}-{i}", iteration=i // 13, produced_at=at, completed_at=at
        )
        rows.append(result_row(result, KafkaPosition("qloop.job-results", i % 3, i)))
    return rows


def measure(n: int = 20_000) -> dict[str, dict[str, float]]:
    """Bytes on disk per results row, per kind of set, after a final merge."""
    rng = np.random.default_rng(1)
    folder = Path(tempfile.mkdtemp(prefix="qloop-sizing-"))
    client = connect(f"chdb://{folder}")
    try:
        apply_migrations(client)
        out = {}
        for kind in ("sampler_8q_1024_shots", "estimator"):
            client.command("TRUNCATE TABLE qloop.results")
            rows = _rows(kind, n, rng)
            for k in range(0, n, 5000):  # the sink's default block size
                client.insert("qloop.results", rows[k : k + 5000], column_names=COLUMNS["results"])
            client.command("OPTIMIZE TABLE qloop.results FINAL")
            size, count = client.query(
                "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts "
                "WHERE database = 'qloop' AND table = 'results' AND active"
            ).result_rows[0]
            out[kind] = {"rows": int(count), "bytes_per_row": round(int(size) / int(count), 1)}
        return out
    finally:
        client.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(measure()))
