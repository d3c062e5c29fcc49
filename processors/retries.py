"""Job-level retries: transient backend failures are retried with backoff, permanent ones not.

Transient: what the same submission can survive by waiting (timeouts, dropped connections,
HTTP 429 and 5xx, IBM Quantum's "too many pending jobs", error 3458). Permanent: everything
else (validation, entitlement, a circuit the device cannot run): retrying only delays the
failure. Backoff is tenacity's exponential with jitter, bounded by a count and a total time;
the sets were charged once at admission, so a retry is never charged again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

T = TypeVar("T")

#: HTTP statuses worth waiting out: throttling and server-side failures.
_TRANSIENT_HTTP = re.compile(r"\b(429|500|502|503|504)\b")
#: IBM Quantum's job-limit error, and the phrasing its services use for throttling.
_TRANSIENT_TEXT = re.compile(
    r"\b3458\b|too many (pending )?jobs|rate limit|temporar(il)?y unavailable|timed? ?out",
    re.IGNORECASE,
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_transient(exc: BaseException) -> bool:
    """Whether the failure of a submission may go away if the same submission is retried."""
    for cause in _chain(exc):
        if isinstance(cause, TimeoutError | ConnectionError):
            return True
        status = getattr(cause, "status_code", None) or getattr(cause, "status", None)
        if isinstance(status, int) and (status == 429 or 500 <= status < 600):
            return True
        text = str(cause)
        if _TRANSIENT_HTTP.search(text) or _TRANSIENT_TEXT.search(text):
            return True
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a submission gets, and how long it may take in all.

    Attributes:
        attempts: Attempts in all (1: never retry).
        max_total_s: Stop retrying once this much time has passed since the first attempt.
        initial_s: First backoff; it doubles per retry, plus up to ``initial_s`` of jitter.
        max_wait_s: Cap on one backoff.

    """

    attempts: int = 5
    max_total_s: float = 120.0
    initial_s: float = 0.5
    max_wait_s: float = 30.0


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying transient failures, and return its value.

    ``on_retry(attempt, error)`` is told before each retry, with the number of the attempt
    about to start. The last error propagates when a failure is permanent or the policy is
    spent.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(state.attempt_number + 1, error)

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_total_s),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_s, max=policy.max_wait_s, jitter=policy.initial_s
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)


__all__ = ["RetryPolicy", "call_with_retries", "is_transient"]
