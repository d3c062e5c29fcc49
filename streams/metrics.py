"""Prometheus metrics for the worker and the sink, read from their own state at scrape time.

The pipeline and the sink already count what they do (``PipelineStats``, ``BatchStats``,
``CacheStats``, the sink loop's counters); a collector turns those into Prometheus families when
``/metrics`` is scraped, so the hot path pays nothing. Names follow Prometheus conventions:
``qloop_`` prefix, ``_total`` counters, ``_seconds`` in base units, labels by backend, code or
stage, never by event id. Consumer lag per partition (the backpressure signal) is read from the
group's committed offsets and the partitions' high watermarks.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

#: Batch-size and sets-per-submission buckets (sets).
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: Insert-duration buckets (seconds).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Lag = Callable[[], dict[tuple[str, int], int]]


def group_lag(conf: dict[str, Any], group: str, topics: Iterable[str]) -> Lag:
    """A function that returns ``{(topic, partition): lag}`` for ``group`` on ``topics``.

    Lag is the high watermark minus the committed offset (the whole partition when nothing is
    committed yet). One consumer, never subscribed, serves every scrape.
    """
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False})
    lock = threading.Lock()
    wanted = list(topics)

    def lag() -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        with lock:
            try:
                meta = consumer.list_topics(timeout=5).topics
                partitions = [
                    TopicPartition(t, p) for t in wanted if t in meta for p in meta[t].partitions
                ]
                committed = consumer.committed(partitions, timeout=5)
                for tp in committed:
                    low, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
                    start = tp.offset if tp.offset >= 0 else low
                    out[(tp.topic, tp.partition)] = max(0, high - start)
            except KafkaException:
                return {}
        return out

    return lag


def _histogram(name: str, doc: str, sizes: Counter[int], buckets: tuple[float, ...]) -> Metric:
    cumulative, running = [], 0
    for bound in buckets:
        running = sum(n for size, n in sizes.items() if size <= bound)
        cumulative.append((str(float(bound)), running))
    total = sum(sizes.values())
    cumulative.append(("+Inf", total))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], cumulative, sum_value=float(sum(s * n for s, n in sizes.items())))
    return family


def _lag_family(name: str, lag: Lag | None) -> Iterator[Metric]:
    if lag is None:
        return
    family = GaugeMetricFamily(name, "Consumer lag: high watermark minus committed offset.",
                               labels=["topic", "partition"])  # fmt: skip
    for (topic, partition), value in sorted(lag().items()):
        family.add_metric([topic, str(partition)], value)
    yield family


class WorkerCollector:
    """The processing worker's state as Prometheus families (see the module docstring)."""

    def __init__(self, pipeline: Any, lag: Lag | None = None, ledger: Any = None) -> None:
        self._pipeline = pipeline
        self._lag = lag
        self._ledger = ledger  # the journal: entries(), replay_seconds, replayed_records

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus-client on every scrape."""
        p = self._pipeline
        stats, batches = p.stats, p.batcher.stats
        for name, doc, value in (
            ("qloop_updates_received", "Input messages taken (both hops).", stats.received),
            ("qloop_results_published", "Results published.", stats.results),
            ("qloop_submissions", "Backend submissions.", stats.submissions),
            ("qloop_dead_letters", "Dead letters published by this worker.", stats.dead_letters),
            ("qloop_duplicates", "Redelivered copies acknowledged without work.", stats.duplicates),
            ("qloop_updates_routed", "Updates forwarded by topology (hop 1).", stats.routed),
            (
                "qloop_updates_batched_at_entry",
                "Bulk updates batched at hop 1: their topology's partition is this worker's.",
                stats.shortcuts,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        closed = CounterMetricFamily(
            "qloop_batches_closed", "Batches closed, by reason.", labels=["reason"]
        )
        for reason, value in (
            ("size", batches.closed_by_size),
            ("age", batches.closed_by_time),
            ("drain", batches.closed_by_drain),
        ):
            closed.add_metric([reason], value)
        yield closed
        yield _histogram(
            "qloop_sets_per_submission",
            "Parameter sets per settled batch (one backend submission each).",
            stats.batch_sizes,
            SIZE_BUCKETS,
        )
        cache = p.executor.cache_stats
        compile_ops = CounterMetricFamily(
            "qloop_compile_cache", "Compile-cache lookups, by outcome.", labels=["outcome"]
        )
        compile_ops.add_metric(["hit"], cache.hits)
        compile_ops.add_metric(["miss"], cache.misses)
        yield compile_ops
        yield CounterMetricFamily(
            "qloop_compile_seconds", "Seconds spent transpiling.", value=cache.compile_seconds
        )
        in_flight = GaugeMetricFamily(
            "qloop_in_flight_submissions", "Submissions running, per backend.", labels=["backend"]
        )
        for backend, used in sorted(p.in_flight().items()):
            in_flight.add_metric([backend], used)
        yield in_flight
        yield GaugeMetricFamily(
            "qloop_parked_updates", "Updates waiting for their template.", value=len(p.parking)
        )
        yield from _lag_family("qloop_worker_consumer_lag", self._lag)
        yield from self._ledger_families()
        leases = p.ledger.store.leases
        if leases is not None:
            waited = CounterMetricFamily(
                "qloop_lease_wait_seconds",
                "Seconds submissions waited for a group-wide slot, by backend.",
                labels=["backend"],
            )
            for backend, seconds in sorted(leases.waited_s.items()):
                waited.add_metric([backend], seconds)
            yield waited
        if p.rate_limits is not None:
            waited = CounterMetricFamily(
                "qloop_rate_limit_wait_seconds",
                "Seconds sets waited for their tenant's rate limit, by tenant.",
                labels=["tenant"],
            )
            for tenant, seconds in sorted(p.rate_limits.waited_s.items()):
                waited.add_metric([tenant], seconds)
            yield waited

    def _ledger_families(self) -> Iterator[Metric]:
        """The ledger's size in memory and its start-up replay: flat over history, by design."""
        if self._ledger is None:
            return
        entries = GaugeMetricFamily(
            "qloop_ledger_entries", "Ledger entries held, by namespace.", labels=["namespace"]
        )
        for namespace, count in sorted(self._ledger.entries().items()):
            entries.add_metric([namespace.rstrip("/")], count)
        yield entries
        yield GaugeMetricFamily(
            "qloop_ledger_replay_seconds", "Seconds the start-up ledger replay took.",
            value=self._ledger.replay_seconds,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "qloop_ledger_replayed_records", "Ledger records read at start-up.",
            value=self._ledger.replayed_records,
        )  # fmt: skip


@dataclass(slots=True)
class SinkStats:
    """What the sink loop times for its metrics (rows and retries are the writer's own)."""

    flushes: Counter[float] = field(default_factory=Counter)  # duration bucket -> flushes
    flush_seconds: float = 0.0
    dead_letters: int = 0

    def flushed(self, seconds: float) -> None:
        """Record one flush that took ``seconds``."""
        bound = next((b for b in SECONDS_BUCKETS if seconds <= b), float("inf"))
        self.flushes[bound] += 1
        self.flush_seconds += seconds


class SinkCollector:
    """The sink's state as Prometheus families."""

    def __init__(self, sink: Any, stats: SinkStats, lag: Lag | None) -> None:
        self._sink = sink
        self._stats = stats
        self._lag = lag

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus-client on every scrape."""
        rows = CounterMetricFamily(
            "qloop_sink_rows_inserted", "Rows inserted into ClickHouse, by table.", labels=["table"]
        )
        for table, value in sorted(self._sink.inserted.items()):
            rows.add_metric([table], value)
        yield rows
        cumulative, running = [], 0
        for bound in SECONDS_BUCKETS:
            running += self._stats.flushes.get(bound, 0)
            cumulative.append((str(bound), running))
        cumulative.append(("+Inf", sum(self._stats.flushes.values())))
        seconds = HistogramMetricFamily("qloop_sink_insert_seconds", "Seconds per flush.")
        seconds.add_metric([], cumulative, sum_value=self._stats.flush_seconds)
        yield seconds
        yield CounterMetricFamily(
            "qloop_sink_insert_retries", "Insert attempts retried.", value=self._sink.retries
        )
        yield CounterMetricFamily(
            "qloop_sink_dead_letters", "Records the sink could not decode.",
            value=self._stats.dead_letters,
        )  # fmt: skip
        yield from _lag_family("qloop_sink_consumer_lag", self._lag)


def serve(port: int, host: str, collector: Any) -> Any:
    """Serve ``collector`` alone on ``http://host:port/metrics``; return the server."""
    registry = CollectorRegistry()
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


__all__ = [
    "SinkCollector",
    "SinkStats",
    "WorkerCollector",
    "group_lag",
    "serve",
]
