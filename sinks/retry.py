"""Exponential backoff around engine calls, and the retryable/fatal classification.

ClickHouse reports what went wrong with a numeric code; the codes below are the ones where the
same statement can succeed later (overload, timeouts, network, too many parts, read-only replica,
unknown insert status). Everything else (syntax, types, unknown table) is a bug that retrying
only hides, so it becomes :class:`~sinks.errors.SinkFatalError` at once.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from sinks.errors import SinkFatalError, SinkRetryableError

T = TypeVar("T")

RETRYABLE_CODES = frozenset({
    3, 32, 159, 173, 202, 209, 210, 236, 241, 242, 243, 252, 319, 394, 425, 999, 1000,
})  # fmt: skip
_CODE_RE = re.compile(r"\bCode:\s*(\d+)")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a retryable engine error.

    Delays grow as ``base_delay_s * 2**attempt``, capped at ``max_delay_s``, with +-25 % jitter
    so that several workers do not hammer a recovering server in lockstep.
    """

    attempts: int = 6
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        raw = min(self.max_delay_s, self.base_delay_s * float(2**attempt))
        return float(raw * random.uniform(0.75, 1.25))  # noqa: S311 -- jitter, not cryptography


def error_code(exc: BaseException) -> int | None:
    """Return the ClickHouse error code of ``exc``, from its attribute or its message."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    match = _CODE_RE.search(str(exc))
    return int(match.group(1)) if match else None


def is_retryable(exc: BaseException) -> bool:
    """Tell whether the failed call may succeed if simply repeated."""
    if isinstance(exc, OperationalError | OSError | TimeoutError):
        return True
    return error_code(exc) in RETRYABLE_CODES


def with_retry(
    call: Callable[[], T],
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying retryable failures per ``policy``.

    Raises:
        SinkRetryableError: still failing after ``policy.attempts`` tries (nothing is lost: the
            caller keeps its buffer and tries again later).
        SinkFatalError: a failure that retrying cannot fix.

    """
    last: BaseException | None = None
    for attempt in range(policy.attempts):
        try:
            return call()
        except (ClickHouseError, OSError) as exc:
            if not is_retryable(exc):
                raise SinkFatalError(f"{what} failed: {exc}") from exc
            last = exc
            if attempt + 1 < policy.attempts:
                sleep(policy.delay(attempt))
    raise SinkRetryableError(f"{what} failed after {policy.attempts} attempts: {last}") from last


__all__ = ["RETRYABLE_CODES", "RetryPolicy", "error_code", "is_retryable", "with_retry"]
