"""The drift canary as a stage: run reference circuits, publish the records, the sink stores them.

The circuits, the noise injection (``QLOOP_CANARY_NOISE_SCALE``) and the records live in
:mod:`processors.canary`; this module only picks the backends from settings and publishes each
round's :class:`~schemas.CanaryRun` records (key: backend, so one backend's series stays in
order on one partition) and :class:`~schemas.CalibrationSnapshot` records (key:
``backend/calibration_id``, the compaction key) with the idempotent producer. The sink stores
them in ``qloop.canary_runs`` / ``qloop.calibrations`` like any other record, so the canary
needs Kafka only: it no longer has to live in the process that owns the embedded engine.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from processors.backends.base import BackendAdapter, Price
from processors.backends.registry import build_registry
from processors.canary import (
    NOISE_SCALE_ENV,
    parse_noise_scale,
    run_canary_round,
    with_noise_scale,
)
from processors.compile_cache import CompileCache
from processors.errors import ConfigurationError
from schemas import CalibrationSnapshot, CanaryRun
from streams.config import Settings
from streams.kafka.clients import Publisher
from streams.kafka.topics import TopicNames, create_topics

log = logging.getLogger(__name__)


def canary_adapters(settings: Settings) -> list[tuple[str, BackendAdapter]]:
    """``(label, adapter)`` for every canary backend that the allow-list permits.

    Built with the same registry function as the worker, so the canary measures the backends
    the pipeline really uses (prices, per-submission overhead). A canary backend that is not
    allowed is skipped with a warning rather than failing the whole canary.
    """
    prices = {name: Price(**p) for name, p in settings.prices.items()}
    registry = build_registry(settings.allowed_backends, prices, settings.backend_overhead_ms)
    adapters = []
    for name in settings.canary_backends:
        if not registry.is_allowed(name):
            log.warning("canary backend %r is not in QLOOP_ALLOWED_BACKENDS; skipped", name)
            continue
        adapters.append((name, registry.get(name)))
    return adapters


def publish_round(
    publisher: Publisher,
    topics: TopicNames,
    runs: Sequence[CanaryRun],
    snapshots: Sequence[CalibrationSnapshot],
) -> None:
    """Publish one round's records and wait for the broker to acknowledge all of them.

    Snapshots go first, so a reader that sees a run can already explain it.

    Raises:
        PublishError: some record was not acknowledged (the round counts as failed).

    """
    for snapshot in snapshots:
        key = f"{snapshot.backend}/{snapshot.calibration_id}"
        publisher.publish(topics.calibrations, key, snapshot)
    for run in runs:
        publisher.publish(topics.canary_runs, run.backend, run)
    publisher.flush()


def canary_round(
    publisher: Publisher,
    topics: TopicNames,
    adapters: Sequence[tuple[str, BackendAdapter]],
    *,
    cache: CompileCache | None = None,
    noise_scale: dict[str, float] | None = None,
) -> tuple[list[CanaryRun], list[CalibrationSnapshot]]:
    """Run one round on ``adapters`` and publish it; return what was published.

    Raises:
        PublishError: the round ran but was not acknowledged.
        ConfigurationError: ``noise_scale`` is None and ``QLOOP_CANARY_NOISE_SCALE`` is invalid.

    """
    runs, snapshots = run_canary_round(adapters, cache=cache, noise_scale=noise_scale)
    publish_round(publisher, topics, runs, snapshots)
    return runs, snapshots


def canary_loop(
    publisher: Publisher,
    topics: TopicNames,
    adapters: Sequence[tuple[str, BackendAdapter]],
    interval_s: float,
    stop: threading.Event,
) -> None:
    """Run and publish a round every ``interval_s`` until ``stop`` is set.

    A failing round (a backend error, an unreachable broker) is logged and the next round comes
    as usual: the canary must never take its host down. The noise override is resolved and the
    compile cache kept once for the whole loop, so each round only samples and publishes.
    """
    cache = CompileCache()
    try:
        resolved = with_noise_scale(adapters, parse_noise_scale(os.environ.get(NOISE_SCALE_ENV)))
    except ConfigurationError:
        log.exception("canary disabled")
        return
    while not stop.is_set():
        try:
            runs, _ = canary_round(publisher, topics, resolved, cache=cache, noise_scale={})
            log.info("canary published %d run(s)", len(runs))
        except Exception:  # noqa: BLE001 - a canary must never take its host down
            log.exception("canary round failed")
        stop.wait(interval_s)


def _open(settings: Settings, create: bool) -> tuple[Publisher, TopicNames]:
    if create:  # idempotent, as the worker does: a fresh cluster gets the canary topics too
        create_topics(
            settings.librdkafka_config(),
            settings.topic_prefix,
            settings.topic_partitions,
            tenants=settings.topic_tenants,
            ledger_window_s=settings.ledger_window_s,
        )
    return Publisher.from_settings(settings), TopicNames(settings.topic_prefix)


def canary_once(
    settings: Settings, *, create: bool = True
) -> tuple[list[CanaryRun], list[CalibrationSnapshot]]:
    """One round on the configured backends, published and acknowledged (``qloop canary``).

    Raises:
        KafkaException: the broker did not answer while creating the topics.
        PublishError: the round ran but was not acknowledged.
        ConfigurationError: ``QLOOP_CANARY_NOISE_SCALE`` is invalid.

    """
    publisher, topics = _open(settings, create)
    try:
        return canary_round(publisher, topics, canary_adapters(settings))
    finally:
        publisher.close()


def run_canary(
    settings: Settings, interval_s: float, stop: threading.Event, *, create: bool = True
) -> None:
    """Blocking entry point: the configured backends, published every ``interval_s`` seconds.

    Raises:
        KafkaException: the broker did not answer while creating the topics.

    """
    publisher, topics = _open(settings, create)
    try:
        canary_loop(publisher, topics, canary_adapters(settings), interval_s, stop)
    finally:
        publisher.close()


__all__ = [
    "canary_adapters",
    "canary_loop",
    "canary_once",
    "canary_round",
    "publish_round",
    "run_canary",
]
