"""Backpressure: a 20,000-update backlog against a slow backend keeps the worker's memory flat.

The backlog is produced before the worker starts. With ``max_in_flight`` submissions of
``max_batch`` sets each and a fixed overhead per submission, the worker can hold at most a few
batches plus faust's bounded stream buffer; everything else must stay in Kafka as consumer lag.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pipeline_support import (
    batched_topic,
    committed_offsets,
    end_offsets,
    processor_group,
    sampler_circuit,
    stack_settings,
)

from processors import make_template
from streams.client import new_update
from streams.kafka.clients import Publisher
from streams.kafka.topics import create_topics
from streams.local.stack import LocalStack, process_rss_mb

pytestmark = pytest.mark.integration

BACKLOG = 20_000
MAX_BATCH = 50
OVERHEAD_MS = 200
WINDOW_S = 20.0
#: Allowed RSS growth over the window, after the first batches have warmed every cache. Each
#: set the worker holds costs a few KiB (faust event and message, decoded record, raw bytes,
#: PendingSet); pulling the >12,000 sets still in Kafka at the end of the window into memory
#: would add well over 25 MiB, while a worker that only holds its in-flight batches grows by
#: its ledger entries alone (~0.3 KiB per executed set: measured +4 MiB).
GROWTH_BOUND_MB = 25.0


def test_backlog_against_slow_backend_keeps_rss_bounded(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path,
        max_batch=MAX_BATCH,
        max_wait_ms=50,
        backend_overhead_ms=OVERHEAD_MS,
    )
    create_topics(settings.librdkafka_config(), settings.topic_prefix, settings.topic_partitions)
    template = make_template(sampler_circuit(4, prefix="m"), "ra4-backlog")
    rng = np.random.default_rng(3)
    values = rng.uniform(0, np.pi, (BACKLOG, len(template.parameter_names)))
    publisher = Publisher.from_settings(settings)
    publisher.publish(f"{settings.topic_prefix}circuit-templates", template.template_id, template)
    started = time.monotonic()
    for row in values:
        update = new_update(template, row, experiment_id="backlog", shots=32)
        publisher.publish(f"{settings.topic_prefix}parameter-updates", template.template_id, update)
    publisher.flush(60)
    produce_s = time.monotonic() - started

    with LocalStack(settings, sink=False) as stack:
        pid = stack.worker_pid
        assert pid is not None
        # "Done" is the last hop's committed offsets (with topology routing, hop 1 forwards
        # the backlog into updates-by-topology, which is still Kafka, not worker memory).
        group, topic = processor_group(stack.topics), batched_topic(settings)
        total = sum(end_offsets(kafka_bootstrap, stack.topics.updates).values())
        assert total == BACKLOG

        def done() -> int:
            return sum(max(o, 0) for o in committed_offsets(kafka_bootstrap, group, topic).values())

        # Baseline once the first few batches have gone through (imports, Aer, compile cache).
        deadline = time.monotonic() + 60
        while done() < 4 * MAX_BATCH:
            stack.check()
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.2)
        baseline = process_rss_mb(pid)
        first_done, window_start = done(), time.monotonic()
        samples: list[tuple[float, float, int]] = []  # (t, rss MiB, lag)
        while time.monotonic() - window_start < WINDOW_S:
            stack.check()
            samples.append((time.monotonic() - window_start, process_rss_mb(pid), BACKLOG - done()))
            time.sleep(0.5)
        processed = done() - first_done
        rate = processed / WINDOW_S
        peak = max(rss for _t, rss, _lag in samples)
        lags = [lag for _t, _rss, lag in samples]
        print(
            f"\nbacklog {BACKLOG} produced in {produce_s:.1f}s; window {WINDOW_S:.0f}s: "
            f"{processed} sets ({rate:.0f}/s, ceiling {2 * MAX_BATCH * 1000 / OVERHEAD_MS:.0f}/s);"
            f" RSS baseline {baseline:.1f} MiB, peak {peak:.1f} MiB "
            f"(+{peak - baseline:.1f}); lag {lags[0]} -> {lags[-1]}"
        )
        # Backpressure: the backlog stays in Kafka (lag), the worker takes only what it runs.
        assert processed > 0 and lags[-1] < lags[0]
        assert lags[-1] > BACKLOG / 2
        # Throughput is capped by in-flight slots x batch size / overhead, not by input rate.
        assert rate <= 2 * MAX_BATCH * 1000 / OVERHEAD_MS * 1.1
        assert peak - baseline < GROWTH_BOUND_MB, samples
