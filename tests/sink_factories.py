"""Record factories shared by the sink integration tests (imported as ``sink_factories``).

Every factory makes a record that the real AvroCodec round-trips; the tests below prove it, so a
contract change that breaks a factory fails here first rather than deep inside a sink test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from schemas import (
    AvroCodec,
    CompileRecord,
    DeadLetter,
    JobResult,
    JobSubmitted,
    Primitive,
    Reproducibility,
    ResultStatus,
    Timings,
)
from sinks import apply_migrations, connect

# Recent, because TTLs (dead letters 90 days, SLI views 400 days) drop expired rows on insert.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def make_result(
    i: int = 0,
    *,
    backend: str = "aer_simulator",
    tenant: str = "acme",
    status: ResultStatus = ResultStatus.SUCCEEDED,
    end_to_end_ms: float = 100.0,
    completed_at: datetime | None = None,
    event_id: str | None = None,
) -> JobResult:
    done = completed_at or T0 + timedelta(seconds=i)
    return JobResult(
        event_id=event_id or f"ev-{i}",
        experiment_id="exp-1",
        iteration=i,
        tenant=tenant,
        template_id="tpl-1",
        topology_key="line-2",
        backend=backend,
        primitive=Primitive.SAMPLER,
        status=status,
        parameters=(0.1 * i, -0.5),
        shots=1000,
        timings=Timings(
            queue_ms=end_to_end_ms * 0.2,
            compile_ms=end_to_end_ms * 0.1,
            execute_ms=end_to_end_ms * 0.6,
            end_to_end_ms=end_to_end_ms,
        ),
        produced_at=done - timedelta(milliseconds=end_to_end_ms),
        completed_at=done,
        reproducibility=Reproducibility(
            package_versions={"qiskit": "2.1.0"},
            code_version="abc123",
            transpiler_settings={"optimization_level": "1"},
            backend_name=backend,
            seed_simulator=7,
            calibration_id="cal-1",
        ),
        job_id="job-1",
        counts={"00": 510, "11": 490},
        cost=0.01,
        labels={"note": "x'); DROP TABLE qloop.results; --"},
    )


def make_job(i: int = 0, event_ids: tuple[str, ...] = ("ev-0",)) -> JobSubmitted:
    return JobSubmitted(
        job_id=f"job-{i}",
        backend="aer_simulator",
        primitive=Primitive.SAMPLER,
        event_ids=event_ids,
        template_ids=("tpl-1",),
        topology_keys=("line-2",),
        tenants=("acme",),
        num_parameter_sets=len(event_ids),
        total_shots=1000 * len(event_ids),
        compile_cache_hit=False,
        queued_at=T0,
        submitted_at=T0 + timedelta(milliseconds=5),
        estimated_cost=0.5,
    )


def make_compile(i: int = 0) -> CompileRecord:
    return CompileRecord(
        compile_key=f"ck-{i}",
        template_id="tpl-1",
        topology_key="line-2",
        backend="aer_simulator",
        transpiler_settings={"optimization_level": "1"},
        depth=12,
        two_qubit_gates=3,
        size=20,
        duration_ms=4.5,
        compiled_at=T0,
    )


def make_dead_letter(offset: int = 0) -> DeadLetter:
    return DeadLetter(
        error_code="deserialization_error",
        error_message="bad magic",
        stage="decode",
        source_topic="qloop.parameters",
        source_partition=0,
        source_offset=offset,
        raw_bytes=b"\x00\xffnot avro",
        occurred_at=T0,
    )


@pytest.fixture
def chdb_dsn(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'clickhouse'}"


@pytest.fixture
def ch(chdb_dsn: str) -> Iterator[Client]:
    client = connect(chdb_dsn)
    apply_migrations(client)
    try:
        yield client
    finally:
        client.close()


def count(client: Client, sql: str, **params: object) -> int:
    return int(client.query(sql, parameters=params).result_rows[0][0])


@pytest.mark.parametrize(
    "record", [make_result(), make_job(), make_compile(), make_dead_letter()], ids=type
)
def test_factories_make_valid_contracts(record: object) -> None:
    codec = AvroCodec()
    assert codec.decode(type(record), codec.encode(record)) == record
