"""Records to row tuples: the one place that knows each table's column order.

The writer inserts with ``column_names=COLUMNS[table]`` and these functions return values in
exactly that order, so a column added to a migration is added here once. Columns with a DEFAULT
(``ingested_at``) are left to the engine. Most records are one row; a calibration snapshot is
one row per qubit (:func:`to_rows`). The canary tables carry no Kafka coordinates: their rows
are identified by ``run_id`` and ``(backend, calibration_id, qubit)``, and the writer's block
tokens already make a redelivered block a no-op.

Avro nulls map to ClickHouse as follows: ``Nullable`` for genuinely optional scalars
(``job_id``, seeds, ``calibration_id``), and empty containers for optional maps and arrays
(``counts`` -> ``{}`` with ``has_counts`` false, ``expectation_values`` -> ``[]``), because
ClickHouse cannot make a Map or Array Nullable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas import (
    Approval,
    BackendStatus,
    CalibrationSnapshot,
    CanaryRun,
    CircuitTemplate,
    CompileRecord,
    DeadLetter,
    ExperimentCheckpoint,
    JobResult,
    JobSubmitted,
)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class KafkaPosition:
    """Where a record was read from: its topic, partition and offset."""

    topic: str
    partition: int
    offset: int
    #: The W3C trace id the message's headers carry ("" when none): results store it.
    trace_id: str = ""


_KAFKA = ("kafka_topic", "kafka_partition", "kafka_offset")

COLUMNS: dict[str, tuple[str, ...]] = {
    "results": (
        "event_id", "job_id", "experiment_id", "iteration", "tenant", "template_id",
        "topology_key", "backend", "primitive", "status", "parameters", "shots", "counts",
        "has_counts", "expectation_values", "standard_errors", "error_code", "error_message",
        "cost", "queue_ms", "compile_ms", "execute_ms", "end_to_end_ms", "produced_at",
        "completed_at", "package_versions", "code_version", "transpiler_settings",
        "backend_name", "seed_simulator", "seed_transpiler", "calibration_id", "labels",
        *_KAFKA, "trace_id", "noise_model_id", "compile_key", "precision", "provider_job_id",
        "provider_queue_ms",
    ),
    "templates": (
        "template_id", "name", "qasm3", "parameter_names", "num_qubits", "topology_key",
        "observables", "created_at", *_KAFKA,
    ),
    "jobs": (
        "job_id", "backend", "primitive", "event_ids", "template_ids", "topology_keys",
        "tenants", "num_parameter_sets", "total_shots", "compile_cache_hit", "queued_at",
        "submitted_at", "estimated_cost", *_KAFKA, "attempts", "provider_job_ids",
    ),
    "compilations": (
        "compile_key", "template_id", "topology_key", "backend", "calibration_id",
        "transpiler_settings", "depth", "two_qubit_gates", "size", "duration_ms", "compiled_at",
        *_KAFKA,
    ),
    "dead_letters": (
        "error_code", "error_message", "stage", "source_topic", "source_partition",
        "source_offset", "schema_fingerprint", "event_id", "tenant", "raw_bytes", "occurred_at",
        *_KAFKA,
    ),
    "canary_runs": (
        "run_id", "backend", "template", "calibration_id", "shots", "counts", "ideal",
        "expectation", "ideal_expectation", "run_at",
    ),
    "calibrations": (
        "backend", "calibration_id", "qubit", "t1_us", "t2_us", "readout_error", "captured_at",
    ),
    "experiment_checkpoints": (
        "experiment_id", "iteration", "workload", "tenant", "optimizer", "optimizer_settings",
        "seed", "template_ids", "state", "value", "best_value", "parameter_sets", "finished",
        "recorded_at", *_KAFKA,
    ),
    "backend_status": (
        "backend", "available", "reason", "changed_by", "changed_at", *_KAFKA,
    ),
    "approvals": (
        "request_id", "status", "tenant", "backend", "experiment_id", "template_id", "shots",
        "estimated_cost", "rule", "requested_at", "expires_at", "decided_by", "decided_at",
        "reason", *_KAFKA,
    ),
}  # fmt: skip


def _pos(pos: KafkaPosition) -> Row:
    return (pos.topic, pos.partition, pos.offset)


def result_row(r: JobResult, pos: KafkaPosition) -> Row:
    """Row of ``qloop.results`` for one parameter-set outcome."""
    t, rep = r.timings, r.reproducibility
    return (
        r.event_id, r.job_id, r.experiment_id, r.iteration, r.tenant, r.template_id,
        r.topology_key, r.backend, str(r.primitive), str(r.status), list(r.parameters), r.shots,
        dict(r.counts or {}), r.counts is not None, list(r.expectation_values or ()),
        list(r.standard_errors or ()), r.error_code or "", r.error_message or "", r.cost,
        t.queue_ms, t.compile_ms, t.execute_ms, t.end_to_end_ms, r.produced_at, r.completed_at,
        dict(rep.package_versions), rep.code_version, dict(rep.transpiler_settings),
        rep.backend_name, rep.seed_simulator, rep.seed_transpiler, rep.calibration_id,
        dict(r.labels), *_pos(pos), pos.trace_id, rep.noise_model_id, rep.compile_key,
        rep.precision, rep.provider_job_id, t.provider_queue_ms,
    )  # fmt: skip


def template_row(t: CircuitTemplate, pos: KafkaPosition) -> Row:
    """Row of ``qloop.templates`` for one registration, as sent."""
    terms = [(term.pauli, term.coeff) for term in t.observables or ()]
    return (
        t.template_id, t.name, t.qasm3, list(t.parameter_names), t.num_qubits, t.topology_key,
        terms, t.created_at, *_pos(pos),
    )  # fmt: skip


def job_row(j: JobSubmitted, pos: KafkaPosition) -> Row:
    """Row of ``qloop.jobs`` for one backend submission."""
    return (
        j.job_id, j.backend, str(j.primitive), list(j.event_ids), list(j.template_ids),
        list(j.topology_keys), list(j.tenants), j.num_parameter_sets, j.total_shots,
        j.compile_cache_hit, j.queued_at, j.submitted_at, j.estimated_cost, *_pos(pos),
        j.attempt, list(j.provider_job_ids),
    )  # fmt: skip


def compilation_row(c: CompileRecord, pos: KafkaPosition) -> Row:
    """Row of ``qloop.compilations`` for one transpilation."""
    return (
        c.compile_key, c.template_id, c.topology_key, c.backend, c.calibration_id,
        dict(c.transpiler_settings), c.depth, c.two_qubit_gates, c.size, c.duration_ms,
        c.compiled_at, *_pos(pos),
    )  # fmt: skip


def dead_letter_row(d: DeadLetter, pos: KafkaPosition) -> Row:
    """Row of ``qloop.dead_letters`` for one rejected input."""
    return (
        d.error_code, d.error_message, d.stage, d.source_topic, d.source_partition,
        d.source_offset, d.schema_fingerprint, d.event_id, d.tenant, d.raw_bytes, d.occurred_at,
        *_pos(pos),
    )  # fmt: skip


def canary_run_row(c: CanaryRun, _pos: KafkaPosition) -> Row:
    """Row of ``qloop.canary_runs`` for one reference-circuit execution."""
    return (
        c.run_id, c.backend, c.template, c.calibration_id, c.shots, dict(c.counts),
        dict(c.ideal), c.expectation, c.ideal_expectation, c.run_at,
    )  # fmt: skip


def calibration_rows(s: CalibrationSnapshot, _pos: KafkaPosition) -> list[Row]:
    """Rows of ``qloop.calibrations``: one per qubit (repeats collapse in ReplacingMergeTree)."""
    return [
        (s.backend, s.calibration_id, q.qubit, q.t1_us, q.t2_us, q.readout_error, s.captured_at)
        for q in s.qubits
    ]


def checkpoint_row(c: ExperimentCheckpoint, pos: KafkaPosition) -> Row:
    """Row of ``qloop.experiment_checkpoints`` for one iteration of a hybrid loop."""
    return (
        c.experiment_id, c.iteration, c.workload, c.tenant, c.optimizer,
        dict(c.optimizer_settings), c.seed, list(c.template_ids),
        {k: list(v) for k, v in c.state.items()}, c.value, c.best_value, c.parameter_sets,
        c.finished, c.recorded_at, *_pos(pos),
    )  # fmt: skip


def backend_status_row(s: BackendStatus, pos: KafkaPosition) -> Row:
    """Row of ``qloop.backend_status`` for one operator mark."""
    return (s.backend, s.available, s.reason, s.changed_by, s.changed_at, *_pos(pos))


def approval_row(a: Approval, pos: KafkaPosition) -> Row:
    """Row of ``qloop.approvals`` for one request or decision (the held update is not kept)."""
    return (
        a.request_id, str(a.status), a.tenant, a.backend, a.experiment_id, a.template_id,
        a.shots, a.estimated_cost, a.rule, a.requested_at, a.expires_at, a.decided_by,
        a.decided_at, a.reason, *_pos(pos),
    )  # fmt: skip


RowFunction = Callable[[Any, KafkaPosition], Row]
RowsFunction = Callable[[Any, KafkaPosition], list[Row]]


def _one(fn: RowFunction) -> RowsFunction:
    return lambda record, pos: [fn(record, pos)]


TABLE_FOR: dict[type[Any], tuple[str, RowsFunction]] = {
    JobResult: ("results", _one(result_row)),
    JobSubmitted: ("jobs", _one(job_row)),
    CircuitTemplate: ("templates", _one(template_row)),
    CompileRecord: ("compilations", _one(compilation_row)),
    DeadLetter: ("dead_letters", _one(dead_letter_row)),
    CanaryRun: ("canary_runs", _one(canary_run_row)),
    CalibrationSnapshot: ("calibrations", calibration_rows),
    ExperimentCheckpoint: ("experiment_checkpoints", _one(checkpoint_row)),
    BackendStatus: ("backend_status", _one(backend_status_row)),
    Approval: ("approvals", _one(approval_row)),
}


def to_rows(record: Any, pos: KafkaPosition) -> tuple[str, list[Row]]:
    """Route ``record`` to its table and rows (none, for a snapshot without qubits).

    Raises:
        TypeError: for a record type the sink does not store (a wiring bug, not bad input).

    """
    try:
        table, fn = TABLE_FOR[type(record)]
    except KeyError:
        raise TypeError(f"no ClickHouse table for {type(record).__name__}") from None
    return table, fn(record, pos)


def to_row(record: Any, pos: KafkaPosition) -> tuple[str, Row]:
    """Route a one-row ``record`` to its table and row.

    Raises:
        TypeError: for a record type the sink does not store (a wiring bug, not bad input).
        ValueError: ``record`` maps to other than exactly one row (use :func:`to_rows`).

    """
    table, rows = to_rows(record, pos)
    if len(rows) != 1:
        raise ValueError(f"{type(record).__name__} maps to {len(rows)} rows; use to_rows")
    return table, rows[0]


__all__ = [
    "COLUMNS",
    "TABLE_FOR",
    "KafkaPosition",
    "Row",
    "calibration_rows",
    "approval_row",
    "backend_status_row",
    "canary_run_row",
    "checkpoint_row",
    "compilation_row",
    "dead_letter_row",
    "job_row",
    "result_row",
    "to_row",
    "to_rows",
]
