"""Errors raised at the decoding boundary, typed by what the caller does next.

Every subclass of :class:`ContractError` means "dead-letter this input with ``code`` and carry
on"; none of them should ever crash a worker.
"""

from __future__ import annotations

from schemas.enums import ErrorCode


class ContractError(Exception):
    """An input that breaks the public contract: dead-letter it with :attr:`code`."""

    code: ErrorCode = ErrorCode.DESERIALIZATION_ERROR

    def __init__(self, message: str, *, fingerprint: str | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class DeserializationError(ContractError):
    """Bytes that are not a well-formed message of a known schema (bad magic, truncated body)."""

    code = ErrorCode.DESERIALIZATION_ERROR


class UnknownSchemaError(ContractError):
    """A well-framed message whose writer-schema fingerprint or registry id is not known."""

    code = ErrorCode.UNKNOWN_SCHEMA


class SchemaResolutionError(ContractError):
    """Writer and reader schemas cannot be resolved (e.g. reader needs a field with no default)."""

    code = ErrorCode.SCHEMA_RESOLUTION_ERROR


__all__ = [
    "ContractError",
    "DeserializationError",
    "SchemaResolutionError",
    "UnknownSchemaError",
]
