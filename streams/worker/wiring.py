"""How a worker's parts are built from settings: admission limits, backends (and the codec).

Shared by the processing worker and the canary, so both read one configuration the same way.
"""

from __future__ import annotations

from typing import Any

from processors.approval import ApprovalPolicy
from processors.backends.base import Price
from processors.backends.ibm_modes import ExecutionPolicy
from processors.backends.registry import BackendRegistry, build_registry
from processors.errors import ConfigurationError
from processors.retries import RetryPolicy
from processors.validation import Limits
from schemas import AvroCodec
from streams.config import Settings
from streams.kafka.approvals import ApprovalBoard
from streams.kafka.topics import TopicNames
from streams.worker.approval_gate import ApprovalGate


def make_limits(settings: Settings) -> Limits:
    """Admission limits from settings (a class with an allowed member is allowed too)."""
    classes = {
        name
        for name, members in settings.backend_classes.items()
        if set(members) & set(settings.allowed_backends)
    }
    return Limits(
        max_shots=settings.max_shots,
        default_shots=settings.default_shots,
        max_message_bytes=settings.max_message_bytes,
        allowed_backends=frozenset(settings.allowed_backends) | classes,
    )


def make_backends(settings: Settings) -> BackendRegistry:
    """The backend registry, with optional per-submission overhead (cloud-queue stand-in).

    Raises:
        ConfigurationError: a bad drill or IBM execution mode, or a fake IBM service
            directory that cannot be made (checked here, at start).

    """
    prices = {name: Price(**p) for name, p in settings.prices.items()}
    if settings.ibm_fake_service is not None:
        try:
            settings.ibm_fake_service.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"QLOOP_IBM_FAKE_SERVICE {settings.ibm_fake_service}: {exc.strerror}"
            ) from None
    modes = {"*": "job", **settings.ibm_modes}
    policies = {
        name: ExecutionPolicy(mode, settings.ibm_max_execution_s, settings.ibm_session_idle_s)
        for name, mode in modes.items()
    }
    return build_registry(
        settings.allowed_backends,
        prices,
        settings.backend_overhead_ms,
        settings.drill_backend_failures,
        policies,
        settings.ibm_fake_service,
    )


def make_retries(settings: Settings) -> RetryPolicy:
    """The job-level retry policy from settings."""
    return RetryPolicy(
        attempts=settings.retry_attempts,
        max_total_s=settings.retry_max_total_s,
        initial_s=settings.retry_initial_ms / 1000,
        max_wait_s=max(settings.retry_initial_ms / 1000, 30.0),
        throttled_max_s=settings.retry_throttled_max_s,
    )


def approval_gate(
    settings: Settings, topics: TopicNames, conf: dict[str, Any], codec: AvroCodec
) -> ApprovalGate | None:
    """The approval gate when rules are configured (its board is started with the worker)."""
    if not settings.approval_rules:
        return None
    prices = {name: Price(**p) for name, p in settings.prices.items()}
    policy = ApprovalPolicy.of(
        settings.approval_rules, prices, settings.default_shots, settings.approval_ttl_s
    )
    return ApprovalGate(policy, ApprovalBoard(conf, topics.approvals, codec), codec)


__all__ = ["approval_gate", "make_backends", "make_limits", "make_retries"]
