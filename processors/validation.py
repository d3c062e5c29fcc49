"""Edge validation of decoded parameter updates: the bad-input catalogue.

Two stages, both pure and cheap: :func:`validate_update` needs only the update and its size;
:func:`validate_against_template` needs the registered template. Every failure is a
:class:`Rejection` that the caller turns into exactly one dead letter; nothing here raises for
bad input. Capacity checks that depend on the backend live in :mod:`processors.capacity`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from processors.errors import InvalidTemplateError
from processors.redaction import contains_secret
from processors.templates import has_measurements
from schemas import CircuitTemplate, ErrorCode, ParameterUpdate, Primitive

_AMPLITUDE_BYTES = 16  # one complex128 amplitude of a statevector


@dataclass(frozen=True, slots=True)
class Limits:
    """Admission limits, one object from configuration.

    Attributes:
        max_shots: Cap on sampler shots per set.
        default_shots: Shots used when an update leaves ``shots`` null.
        max_message_bytes: Application cap on one encoded message (below the broker's 1 MB).
        max_future_skew_s: How far ``produced_at`` may lie in the future (clock skew).
        ttl_s: Updates older than this are expired, not executed.
        allowed_tenants: Tenants this worker's credentials serve; None means any non-empty one.
        allowed_backends: Backend names updates may ask for; None means any the registry knows.
        memory_cap_bytes: Statevector memory a simulator may use (16 B x 2**n).
        max_depth: Cap on the compiled circuit depth.
        max_two_qubit_gates: Cap on two-qubit gates in the compiled circuit.
        max_circuit_chars: Cap on a template's OpenQASM 3 text.

    """

    max_shots: int = 100_000
    default_shots: int = 1024
    max_message_bytes: int = 512 * 1024
    max_future_skew_s: float = 60.0
    ttl_s: float = 86_400.0
    allowed_tenants: frozenset[str] | None = None
    allowed_backends: frozenset[str] | None = None
    memory_cap_bytes: int = 4 * 1024**3
    max_depth: int = 10_000
    max_two_qubit_gates: int = 5_000
    max_circuit_chars: int = 200_000

    @property
    def max_qubits_statevector(self) -> int:
        """Largest width whose statevector fits the memory cap."""
        return max(0, (self.memory_cap_bytes // _AMPLITUDE_BYTES).bit_length() - 1)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input was refused: dead-letter it (or emit a REJECTED result) with ``code``."""

    code: ErrorCode
    message: str


def _strings(update: ParameterUpdate) -> Iterator[tuple[str, str]]:
    yield "event_id", update.event_id
    yield "experiment_id", update.experiment_id
    yield "tenant", update.tenant
    yield "template_id", update.template_id
    yield "backend", update.backend
    for mapping_name, mapping in (
        ("labels", update.labels),
        ("trace_context", update.trace_context),
    ):
        for key, value in mapping.items():
            yield f"{mapping_name} key", key
            yield f"{mapping_name}[{key[:32]!r}]", value


def _check_secrets(update: ParameterUpdate) -> Rejection | None:
    # One scan over all fields joined (the common, clean case), then per field to decide and
    # to name where. Every per-field match is also a match in the joined text, so the fast
    # path never misses one; a match spanning the joining newline falls through to per field.
    if not contains_secret("\n".join(text for _where, text in _strings(update))):
        return None
    for where, text in _strings(update):
        if contains_secret(text):
            # Never echo the value: the message ends up in logs and the dead-letter topic.
            return Rejection(ErrorCode.SECRET_IN_PAYLOAD, f"token-shaped secret in {where}")
    return None


def _check_numbers(update: ParameterUpdate, limits: Limits) -> Rejection | None:
    bad = [i for i, v in enumerate(update.parameters) if not math.isfinite(v)]
    if bad:
        return Rejection(ErrorCode.NON_FINITE_PARAMETER, f"non-finite parameter at index {bad}")
    if update.primitive is Primitive.SAMPLER and update.shots is not None:
        if not 0 < update.shots <= limits.max_shots:
            return Rejection(
                ErrorCode.SHOTS_OUT_OF_RANGE,
                f"shots={update.shots} outside 1..{limits.max_shots}",
            )
    if update.precision is not None and not (
        math.isfinite(update.precision) and update.precision >= 0.0
    ):
        return Rejection(
            ErrorCode.PRECISION_OUT_OF_RANGE, f"precision={update.precision} must be >= 0"
        )
    return None


def _check_time(update: ParameterUpdate, limits: Limits, now: datetime) -> Rejection | None:
    if update.produced_at > now + timedelta(seconds=limits.max_future_skew_s):
        return Rejection(
            ErrorCode.TIMESTAMP_IN_FUTURE,
            f"produced_at {update.produced_at.isoformat()} is beyond now + "
            f"{limits.max_future_skew_s:g}s",
        )
    if update.produced_at < now - timedelta(seconds=limits.ttl_s):
        return Rejection(
            ErrorCode.EXPIRED,
            f"produced_at {update.produced_at.isoformat()} is older than {limits.ttl_s:g}s",
        )
    if update.deadline is not None and update.deadline < now:
        return Rejection(ErrorCode.EXPIRED, f"deadline {update.deadline.isoformat()} has passed")
    return None


def _check_tenant(update: ParameterUpdate, limits: Limits) -> Rejection | None:
    if not update.tenant.strip():
        return Rejection(ErrorCode.MISSING_TENANT, "tenant is empty")
    if limits.allowed_tenants is not None and update.tenant not in limits.allowed_tenants:
        return Rejection(ErrorCode.TENANT_NOT_ALLOWED, "tenant is not served by this worker")
    return None


def validate_update(
    update: ParameterUpdate, *, message_bytes: int, limits: Limits, now: datetime
) -> Rejection | None:
    """Check everything that needs no template; return the first problem or None.

    Secrets are checked first so no later message can quote one.
    """
    if message_bytes > limits.max_message_bytes:
        return Rejection(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"message of {message_bytes} bytes over cap {limits.max_message_bytes}",
        )
    return (
        _check_secrets(update)
        or _check_tenant(update, limits)
        or _check_numbers(update, limits)
        or _check_time(update, limits, now)
    )


def validate_against_template(
    update: ParameterUpdate, template: CircuitTemplate | None, *, limits: Limits
) -> Rejection | None:
    """Check the update against its template and the backend allow-list."""
    if template is None:
        return Rejection(ErrorCode.UNKNOWN_TEMPLATE, f"unknown template {update.template_id}")
    if len(update.parameters) != len(template.parameter_names):
        return Rejection(
            ErrorCode.PARAMETER_COUNT_MISMATCH,
            f"{len(update.parameters)} parameters for a template of "
            f"{len(template.parameter_names)}",
        )
    if limits.allowed_backends is not None and update.backend not in limits.allowed_backends:
        return Rejection(
            ErrorCode.BACKEND_NOT_ALLOWED, f"backend {update.backend!r} is not allowed"
        )
    if len(template.qasm3) > limits.max_circuit_chars:
        return Rejection(
            ErrorCode.CIRCUIT_OVER_LIMITS,
            f"circuit text of {len(template.qasm3)} chars over cap {limits.max_circuit_chars}",
        )
    if update.primitive is Primitive.ESTIMATOR and not template.observables:
        return Rejection(
            ErrorCode.MISSING_OBSERVABLE, "estimator update for a template without observables"
        )
    if update.primitive is Primitive.SAMPLER:
        try:
            measures = has_measurements(template)
        except InvalidTemplateError as exc:
            return Rejection(ErrorCode.INVALID_TEMPLATE, str(exc))
        if not measures:
            return Rejection(
                ErrorCode.INVALID_TEMPLATE, "sampler update for a template that measures nothing"
            )
    return None


__all__ = ["Limits", "Rejection", "validate_against_template", "validate_update"]
