"""Typed records for every Avro contract in this package.

Records are frozen, slotted dataclasses: past the decoding boundary the pipeline handles these,
never dicts. Field names and order mirror the ``.avsc`` files; arrays become tuples and maps
become ``dict`` (treat them as read-only). Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.enums import ApprovalStatus, Primitive, ResultStatus


@dataclass(frozen=True, slots=True)
class PauliTerm:
    """One weighted Pauli string of an observable (qubit 0 is the rightmost character)."""

    pauli: str
    coeff: float


@dataclass(frozen=True, slots=True)
class CircuitTemplate:
    """A registered parameterised circuit; ``template_id`` is its content hash."""

    template_id: str
    name: str
    qasm3: str
    qpy: bytes
    parameter_names: tuple[str, ...]
    num_qubits: int
    topology_key: str
    created_at: datetime
    observables: tuple[PauliTerm, ...] | None = None


@dataclass(frozen=True, slots=True)
class ParameterUpdate:
    """One parameter set to evaluate; ``event_id`` is the idempotency key."""

    event_id: str
    experiment_id: str
    iteration: int
    tenant: str
    template_id: str
    parameters: tuple[float, ...]
    primitive: Primitive
    produced_at: datetime
    shots: int | None = None
    precision: float | None = None
    backend: str = "aer_simulator"
    priority: int = 0
    deadline: datetime | None = None
    seed: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    trace_context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobSubmitted:
    """One backend submission covering many parameter sets."""

    job_id: str
    backend: str
    primitive: Primitive
    event_ids: tuple[str, ...]
    template_ids: tuple[str, ...]
    topology_keys: tuple[str, ...]
    tenants: tuple[str, ...]
    num_parameter_sets: int
    total_shots: int
    compile_cache_hit: bool
    queued_at: datetime
    submitted_at: datetime
    estimated_cost: float
    attempt: int = 1
    provider_job_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Timings:
    """Latency breakdown of one parameter set, in milliseconds."""

    queue_ms: float = 0.0
    compile_ms: float = 0.0
    execute_ms: float = 0.0
    end_to_end_ms: float = 0.0
    provider_queue_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Reproducibility:
    """Everything needed to replay a result: versions, transpiler settings, seeds, backend."""

    package_versions: dict[str, str]
    code_version: str
    transpiler_settings: dict[str, str]
    backend_name: str
    seed_simulator: int | None = None
    seed_transpiler: int | None = None
    calibration_id: str | None = None
    noise_model_id: str | None = None
    compile_key: str | None = None
    precision: float | None = None
    provider_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """The single outcome of one parameter set."""

    event_id: str
    experiment_id: str
    iteration: int
    tenant: str
    template_id: str
    topology_key: str
    backend: str
    primitive: Primitive
    status: ResultStatus
    parameters: tuple[float, ...]
    shots: int
    timings: Timings
    produced_at: datetime
    completed_at: datetime
    reproducibility: Reproducibility
    job_id: str | None = None
    counts: dict[str, int] | None = None
    expectation_values: tuple[float, ...] | None = None
    standard_errors: tuple[float, ...] | None = None
    error_code: str | None = None
    error_message: str | None = None
    cost: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected input, with where it came from and its (redacted) raw bytes."""

    error_code: str
    error_message: str
    stage: str
    source_topic: str
    source_partition: int
    source_offset: int
    raw_bytes: bytes
    occurred_at: datetime
    schema_fingerprint: str | None = None
    event_id: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class CompileRecord:
    """One transpilation, emitted on a compile-cache miss (compiler transparency)."""

    compile_key: str
    template_id: str
    topology_key: str
    backend: str
    transpiler_settings: dict[str, str]
    depth: int
    two_qubit_gates: int
    size: int
    duration_ms: float
    compiled_at: datetime
    calibration_id: str | None = None


@dataclass(frozen=True, slots=True)
class CanaryRun:
    """One drift-canary execution of a reference circuit: measured counts next to the ideal."""

    run_id: str
    backend: str
    template: str
    calibration_id: str
    shots: int
    counts: dict[str, int]
    ideal: dict[str, float]
    run_at: datetime
    expectation: float | None = None
    ideal_expectation: float | None = None


@dataclass(frozen=True, slots=True)
class QubitCalibration:
    """Calibration of one qubit in a :class:`CalibrationSnapshot` (times in microseconds)."""

    qubit: int
    t1_us: float
    t2_us: float
    readout_error: float


@dataclass(frozen=True, slots=True)
class CalibrationSnapshot:
    """A backend's per-qubit calibration as the canary saw it, so drift can say *why*."""

    backend: str
    calibration_id: str
    qubits: tuple[QubitCalibration, ...]
    captured_at: datetime


@dataclass(frozen=True, slots=True)
class ExperimentCheckpoint:
    """A hybrid loop's optimizer state after one iteration: what a resume starts from."""

    experiment_id: str
    iteration: int
    workload: str
    tenant: str
    optimizer: str
    optimizer_settings: dict[str, str]
    template_ids: tuple[str, ...]
    state: dict[str, list[float]]
    parameter_sets: int
    recorded_at: datetime
    seed: int | None = None
    value: float | None = None
    best_value: float | None = None
    finished: bool = False


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """An operator's mark on a backend: down (and why) or back up."""

    backend: str
    available: bool
    reason: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Approval:
    """A request of the approval gate, or a decision on one (see ``approval.avsc``)."""

    request_id: str
    status: ApprovalStatus
    tenant: str
    backend: str
    experiment_id: str
    template_id: str
    shots: int
    estimated_cost: float
    rule: str
    requested_at: datetime
    expires_at: datetime
    update: bytes
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


Record = (
    CircuitTemplate
    | ParameterUpdate
    | JobSubmitted
    | JobResult
    | DeadLetter
    | CompileRecord
    | CanaryRun
    | CalibrationSnapshot
    | ExperimentCheckpoint
    | BackendStatus
    | Approval
)

__all__ = [
    "Approval",
    "BackendStatus",
    "CalibrationSnapshot",
    "CanaryRun",
    "CircuitTemplate",
    "CompileRecord",
    "DeadLetter",
    "ExperimentCheckpoint",
    "JobResult",
    "JobSubmitted",
    "ParameterUpdate",
    "PauliTerm",
    "QubitCalibration",
    "Record",
    "Reproducibility",
    "Timings",
]
