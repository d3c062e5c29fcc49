"""Enumerations shared by the Avro contracts.

Values equal the Avro enum symbols (or, for :class:`ErrorCode`, the string stored in
``DeadLetter.error_code`` / ``JobResult.error_code``), so a record and its wire form agree.
"""

from __future__ import annotations

from enum import StrEnum


class Primitive(StrEnum):
    """Which Qiskit V2 primitive evaluates a parameter set."""

    SAMPLER = "SAMPLER"
    ESTIMATOR = "ESTIMATOR"


class ApprovalStatus(StrEnum):
    """Where a request of the approval gate stands; every status but PENDING is a decision."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class ResultStatus(StrEnum):
    """Outcome of one parameter set; exactly one JobResult carries it."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    DEGRADED = "DEGRADED"


class ErrorCode(StrEnum):
    """Why an input was dead-lettered or a set was not executed (the bad-input catalogue)."""

    DESERIALIZATION_ERROR = "deserialization_error"
    UNKNOWN_SCHEMA = "unknown_schema"
    SCHEMA_RESOLUTION_ERROR = "schema_resolution_error"
    NON_FINITE_PARAMETER = "non_finite_parameter"
    PARAMETER_COUNT_MISMATCH = "parameter_count_mismatch"
    UNKNOWN_TEMPLATE = "unknown_template"
    SHOTS_OUT_OF_RANGE = "shots_out_of_range"
    PRECISION_OUT_OF_RANGE = "precision_out_of_range"
    QUBITS_OVER_CAPACITY = "qubits_over_capacity"
    CIRCUIT_OVER_LIMITS = "circuit_over_limits"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_BUDGET = "invalid_budget"
    IDEMPOTENCY_KEY_CONFLICT = "idempotency_key_conflict"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    EXPIRED = "expired"
    MISSING_TENANT = "missing_tenant"
    TENANT_NOT_ALLOWED = "tenant_not_allowed"
    BACKEND_NOT_ALLOWED = "backend_not_allowed"
    SECRET_IN_PAYLOAD = "secret_in_payload"  # noqa: S105 - an error code, not a secret
    MISSING_OBSERVABLE = "missing_observable"
    BUDGET_EXCEEDED = "budget_exceeded"
    BACKEND_ERROR = "backend_error"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    APPROVAL_REJECTED = "approval_rejected"
    APPROVAL_EXPIRED = "approval_expired"
    INVALID_TEMPLATE = "invalid_template"
    INVALID_QASM = "invalid_qasm"
    TEMPLATE_ID_MISMATCH = "template_id_mismatch"
    QPY_MISMATCH = "qpy_mismatch"


__all__ = ["ApprovalStatus", "ErrorCode", "Primitive", "ResultStatus"]
