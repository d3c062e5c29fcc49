"""qloop's public contracts: Avro schemas, typed records and the codec.

This package is the leaf of the dependency graph: it imports nothing else of qloop.
"""

from schemas.codec import AvroCodec, check_resolvable
from schemas.contracts import Contract, avsc_path, contract_for, contract_from_json
from schemas.enums import ApprovalStatus, ErrorCode, Primitive, ResultStatus
from schemas.errors import (
    ContractError,
    DeserializationError,
    SchemaResolutionError,
    UnknownSchemaError,
)
from schemas.framing import SINGLE_OBJECT_MAGIC, Framing, SingleObjectFraming
from schemas.records import (
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
    ParameterUpdate,
    PauliTerm,
    QubitCalibration,
    Record,
    Reproducibility,
    Timings,
)

__all__ = [
    "SINGLE_OBJECT_MAGIC",
    "Approval",
    "ApprovalStatus",
    "AvroCodec",
    "BackendStatus",
    "CalibrationSnapshot",
    "CanaryRun",
    "CircuitTemplate",
    "CompileRecord",
    "Contract",
    "ContractError",
    "DeadLetter",
    "ExperimentCheckpoint",
    "DeserializationError",
    "ErrorCode",
    "Framing",
    "JobResult",
    "JobSubmitted",
    "ParameterUpdate",
    "PauliTerm",
    "Primitive",
    "QubitCalibration",
    "Record",
    "Reproducibility",
    "ResultStatus",
    "SchemaResolutionError",
    "SingleObjectFraming",
    "Timings",
    "UnknownSchemaError",
    "avsc_path",
    "check_resolvable",
    "contract_for",
    "contract_from_json",
]
