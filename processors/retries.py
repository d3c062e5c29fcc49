"""Job-level retries: transient backend failures are retried with backoff, permanent ones not.

Transient: what the same submission can survive by waiting (timeouts, dropped connections,
HTTP 429 and 5xx, IBM Quantum's "too many pending jobs", error 3458). Permanent: everything
else (validation, entitlement, a circuit the device cannot run): retrying only delays the
failure. Backoff is tenacity's exponential with jitter, bounded by a count and a total time;
the sets were charged once at admission, so a retry is never charged again.

Throttling (HTTP 429, IBM's 3458 "too many pending jobs", "rate limit") is the provider asking
for less, not a failure: it is waited out with the same backoff for up to ``throttled_max_s``
(an hour by default) and does not use up the attempts or the total time that failures get.
The submission keeps its in-flight slot while it waits, so a throttled worker stops taking
input and the backlog stays in Kafka as consumer lag: throttling is backpressure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

T = TypeVar("T")

#: The provider asking for less: waited out, never a failure (see the module docstring).
_THROTTLED_TEXT = re.compile(
    r"\b429\b|\b3458\b|too many (pending )?jobs|too many requests|rate limit", re.IGNORECASE
)
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
    if is_throttled(exc):
        return True
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


def is_throttled(exc: BaseException) -> bool:
    """Whether the provider refused the submission for now because of load (429, 3458)."""
    for cause in _chain(exc):
        status = getattr(cause, "status_code", None) or getattr(cause, "status", None)
        if status == 429 or _THROTTLED_TEXT.search(str(cause)):
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
        throttled_max_s: How long throttling is waited out, in all, before it fails.

    """

    attempts: int = 5
    max_total_s: float = 120.0
    initial_s: float = 0.5
    max_wait_s: float = 30.0
    throttled_max_s: float = 3600.0


class _Budget:
    """Tenacity's stop condition: failures and throttles are counted apart."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._failures = 0
        self._throttled_s = 0.0  # time spent on throttled attempts and their backoffs
        self._last = 0.0

    def __call__(self, state: RetryCallState) -> bool:
        elapsed = state.seconds_since_start or 0.0
        step, self._last = elapsed - self._last, elapsed
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None and is_throttled(error):
            self._throttled_s += step
            return self._throttled_s >= self._policy.throttled_max_s
        self._failures += 1
        spent = elapsed - self._throttled_s
        return self._failures >= self._policy.attempts or spent >= self._policy.max_total_s


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
        stop=_Budget(policy),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_s, max=policy.max_wait_s, jitter=policy.initial_s
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)


__all__ = ["RetryPolicy", "call_with_retries", "is_throttled", "is_transient"]
