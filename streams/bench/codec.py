"""``python -m streams.bench.codec``: what a result's counts cost to encode and decode.

A sampler result carries its counts as an Avro map (bitstring -> count). With 1,024 shots on 12
qubits a set has up to ~900 distinct outcomes, and the map is then encoded once (worker) and
decoded twice (the client's listener, the sink) per set. This times ``AvroCodec`` on real
``JobResult`` records by number of outcomes, and, for comparison, fastavro alone on the same
counts as a map and as two parallel arrays of longs (the shape a v2 result contract could use).
"""

from __future__ import annotations

import io
import json
import random
import timeit
from datetime import UTC, datetime
from typing import Any

import fastavro

from schemas import AvroCodec, JobResult, Primitive, Reproducibility, ResultStatus, Timings

_MAP = fastavro.parse_schema(
    {
        "type": "record",
        "name": "CountsMap",
        "fields": [{"name": "counts", "type": {"type": "map", "values": "long"}}],
    }
)
_ARRAYS = fastavro.parse_schema(
    {
        "type": "record",
        "name": "CountsArrays",
        "fields": [
            {"name": "outcomes", "type": {"type": "array", "items": "long"}},
            {"name": "counts", "type": {"type": "array", "items": "long"}},
        ],
    }
)


def _result(counts: dict[str, int]) -> JobResult:
    now = datetime.now(UTC)
    return JobResult(
        event_id="ev",
        experiment_id="bench",
        iteration=0,
        tenant="default",
        template_id="sha256:" + "0" * 64,
        topology_key="t",
        backend="aer_simulator",
        primitive=Primitive.SAMPLER,
        status=ResultStatus.SUCCEEDED,
        parameters=(0.1,) * 24,
        shots=sum(counts.values()),
        counts=counts,
        timings=Timings(queue_ms=1.0, compile_ms=0.0, execute_ms=1.0, end_to_end_ms=2.0),
        produced_at=now,
        completed_at=now,
        reproducibility=Reproducibility(
            package_versions={"qiskit": "2"},
            code_version="bench",
            transpiler_settings={"optimization_level": "1"},
            backend_name="aer",
        ),
    )


def _us(fn: Any, number: int) -> float:
    return round(timeit.timeit(fn, number=number) / number * 1e6, 1)


def measure(sizes: tuple[int, ...] = (1, 100, 900), number: int = 300) -> dict[str, Any]:
    """Microseconds per record, by number of distinct outcomes."""
    codec, rng, out = AvroCodec(), random.Random(7), {}  # noqa: S311 - test data, not keys
    for n in sizes:
        counts = {format(i, "012b"): rng.randint(1, 3) for i in range(n)}
        record = _result(counts)
        raw = codec.encode(record)
        arrays = {"outcomes": [int(k, 2) for k in counts], "counts": list(counts.values())}

        def fast(schema: Any, rec: dict[str, Any]) -> bytes:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, rec)
            return buf.getvalue()

        as_map, as_arrays = fast(_MAP, {"counts": counts}), fast(_ARRAYS, arrays)
        out[str(n)] = {
            "job_result_bytes": len(raw),
            "job_result_encode_us": _us(lambda r=record: codec.encode(r), number),
            "job_result_decode_us": _us(lambda b=raw: codec.decode(JobResult, b), number),
            "fastavro_map": {
                "bytes": len(as_map),
                "decode_us": _us(
                    lambda b=as_map: fastavro.schemaless_reader(io.BytesIO(b), _MAP), number
                ),
            },
            "fastavro_arrays": {
                "bytes": len(as_arrays),
                "decode_us": _us(
                    lambda b=as_arrays: fastavro.schemaless_reader(io.BytesIO(b), _ARRAYS),
                    number,
                ),
            },
        }
    return out


__all__ = ["measure"]

if __name__ == "__main__":  # pragma: no cover - python -m streams.bench.codec
    print(json.dumps(measure(), indent=2))  # noqa: T201
