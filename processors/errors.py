"""Errors raised by the processing core, typed by what the caller does next.

* :class:`RejectedInputError` and its subclasses: dead-letter the input with ``code`` and carry on.
* :class:`BackendError`: the backend failed a submission; turn its sets into ``FAILED`` results.
* :class:`ConfigurationError`: the worker was started with a broken configuration; crash at start.
"""

from __future__ import annotations

from schemas import ErrorCode


class RejectedInputError(Exception):
    """An input that cannot be processed: dead-letter it with :attr:`code`, then continue."""

    code: ErrorCode = ErrorCode.INVALID_TEMPLATE

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidTemplateError(RejectedInputError):
    """A circuit template that cannot be serialised, loaded or trusted."""

    code = ErrorCode.INVALID_TEMPLATE


class BackendNotAllowedError(RejectedInputError):
    """A backend name that is unknown or not on the allow-list."""

    code = ErrorCode.BACKEND_NOT_ALLOWED


class InvalidBudgetError(RejectedInputError):
    """A budget that is negative, zero, NaN or otherwise malformed."""

    code = ErrorCode.INVALID_BUDGET


class BackendError(Exception):
    """A backend failed to run a submission; every set in it gets a ``FAILED`` result."""


class ConfigurationError(Exception):
    """The processors were configured inconsistently; fail fast at start-up."""


__all__ = [
    "BackendError",
    "BackendNotAllowedError",
    "ConfigurationError",
    "InvalidBudgetError",
    "InvalidTemplateError",
    "RejectedInputError",
]
