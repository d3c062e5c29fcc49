"""qloop's processing core: pure logic between decoding and producing.

Templates, edge validation, topology batching, the compile cache, backend adapters, budgets,
idempotency and the batch executor. Imports ``schemas``, Qiskit, NumPy and the standard library
only; never Kafka or faust.
"""

from processors.backends import (
    AerAdapter,
    BackendAdapter,
    BackendRegistry,
    EstimatorOutput,
    EstimatorTask,
    IBMRuntimeAdapter,
    OverheadAdapter,
    Price,
    SamplerOutput,
    SamplerTask,
)
from processors.batcher import Batch, BatchStats, Group, TopologyBatcher
from processors.budget import Budget, BudgetLedger, check_budget, estimate_cost
from processors.capacity import check_compiled, check_shots, check_width
from processors.compile_cache import CacheStats, CompileCache, Compiled, TranspilerSettings
from processors.dead_letters import make_dead_letter
from processors.errors import (
    BackendError,
    BackendNotAllowedError,
    ConfigurationError,
    InvalidBudgetError,
    InvalidTemplateError,
    RejectedInputError,
)
from processors.executor import BatchExecutor, ExecutionOutcome, job_identity
from processors.idempotency import IdempotencyLedger, Seen, payload_digest
from processors.pending import PendingSet, SourceRef
from processors.redaction import contains_secret, redact
from processors.results import code_version, package_versions
from processors.template_builder import make_template
from processors.templates import (
    check_template,
    has_measurements,
    load_circuit,
    observable_of,
    topology_key_of,
)
from processors.validation import Limits, Rejection, validate_against_template, validate_update

__all__ = [
    "AerAdapter",
    "BackendAdapter",
    "BackendError",
    "BackendNotAllowedError",
    "BackendRegistry",
    "Batch",
    "BatchExecutor",
    "BatchStats",
    "Budget",
    "BudgetLedger",
    "CacheStats",
    "CompileCache",
    "Compiled",
    "ConfigurationError",
    "EstimatorOutput",
    "EstimatorTask",
    "ExecutionOutcome",
    "Group",
    "IBMRuntimeAdapter",
    "IdempotencyLedger",
    "InvalidBudgetError",
    "InvalidTemplateError",
    "Limits",
    "OverheadAdapter",
    "PendingSet",
    "Price",
    "RejectedInputError",
    "Rejection",
    "SamplerOutput",
    "SamplerTask",
    "Seen",
    "SourceRef",
    "TopologyBatcher",
    "TranspilerSettings",
    "check_budget",
    "check_compiled",
    "check_shots",
    "check_template",
    "check_width",
    "code_version",
    "contains_secret",
    "estimate_cost",
    "has_measurements",
    "job_identity",
    "load_circuit",
    "make_dead_letter",
    "make_template",
    "observable_of",
    "package_versions",
    "payload_digest",
    "redact",
    "topology_key_of",
    "validate_against_template",
    "validate_update",
]
