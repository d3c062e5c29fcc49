"""The sink as configured: which topics it stores and how it is started from settings.

One entry point for every host of the sink (``qloop sink``, the local stack's thread), so the
topics and the tuning cannot differ between them.
"""

from __future__ import annotations

import os
import threading

from schemas import JobResult
from streams.config import Settings
from streams.kafka.codec import make_codec
from streams.kafka.probe import check_kafka, with_client_logger
from streams.kafka.topics import TopicNames
from streams.sink.worker import run_sink


def sink_topics(topics: TopicNames, tenants: tuple[str, ...] = ()) -> dict[str, type]:
    """What the sink stores: every public record but the parameter updates themselves.

    ``tenants``: in multi-tenant mode, each tenant's own result topic too.
    """
    wanted = {
        topics.templates,
        topics.results,
        topics.jobs,
        topics.compilations,
        topics.dead_letters,
        topics.canary_runs,
        topics.calibrations,
        topics.experiments,
        topics.backend_status,
        topics.approvals,
    }
    stored = {t: cls for t, cls in topics.record_types().items() if t in wanted}
    return {**stored, **{topics.tenant_results(t): JobResult for t in tenants}}


#: Written in the data dir once the sink consumes, removed when it stops (healthchecks).
READY_FILE = "sink.ready"


def run_configured_sink(settings: Settings, stop: threading.Event) -> None:
    """Run :func:`~streams.sink.worker.run_sink` for ``settings`` until ``stop`` is set.

    Raises:
        BrokerUnreachableError: no bootstrap server answers (one line for the user).

    """
    check_kafka(settings)
    ready = settings.data_dir / READY_FILE

    def mark_ready() -> None:
        ready.write_text(str(os.getpid()))

    try:
        run_sink(
            with_client_logger(settings.librdkafka_config()),
            sink_topics(TopicNames(settings.topic_prefix), settings.topic_tenants),
            settings.dsn,
            f"{settings.topic_prefix}sink",
            stop,
            **settings.sink_tuning(),
            codec=make_codec(settings),
            on_ready=mark_ready,
            cluster=settings.clickhouse_cluster,
            metrics=(
                (settings.metrics_host, settings.sink_metrics_port)
                if settings.sink_metrics_port is not None
                else None
            ),
        )
    finally:
        ready.unlink(missing_ok=True)


__all__ = ["run_configured_sink", "sink_topics"]
