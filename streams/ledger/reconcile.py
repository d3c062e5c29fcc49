"""Close the crash window between publishing a batch's results and marking its sets done.

A worker killed after its results were acknowledged but before their ``done`` marks reached the
ledger leaves those sets ``paid``: the next owner would execute them again (free) and publish a
second result record for each. Before it processes anything (at start and on every partition
assignment) a worker therefore looks for the results of every outstanding paid set on the
result topic itself (results are keyed by event id, so no decoding is needed), from shortly
before the oldest of them was paid, and marks the ones it finds ``done``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.kafka.table_reader import high_watermark
from streams.ledger.journal import KafkaJournal

log = logging.getLogger(__name__)

#: Read from this long before the oldest outstanding claim (producer clocks may differ).
CLOCK_SLACK_S = 30.0
_ATTEMPTS = 4


def published_among(
    reader_conf: dict[str, Any], topic: str, wanted: set[str], since_ms: int
) -> set[str]:
    """Keys of ``wanted`` found on ``topic`` in records written at or after ``since_ms``."""
    consumer = Consumer(
        {
            **reader_conf,
            "group.id": f"qloop-reconcile-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    found: set[str] = set()
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        starts = consumer.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in partitions], timeout=30
        )
        ends: dict[int, int] = {}
        assignment = []
        for start in starts:
            high = high_watermark(consumer, topic, start.partition, time.monotonic() + 30)
            if 0 <= start.offset < high:  # -1: nothing written since
                ends[start.partition] = high
                assignment.append(TopicPartition(topic, start.partition, start.offset))
        if not assignment:
            return found
        consumer.assign(assignment)
        positions = {tp.partition: tp.offset - 1 for tp in assignment}
        while any(positions[p] + 1 < ends[p] for p in ends):
            for msg in consumer.consume(1000, 1.0):
                if msg.error() is not None:
                    continue
                positions[msg.partition() or 0] = msg.offset() or 0
                key = (msg.key() or b"").decode("utf-8", "replace")
                if key in wanted:
                    found.add(key)
    finally:
        consumer.close()
    return found


def reconcile_published(
    journal: KafkaJournal,
    reader_conf: dict[str, Any],
    results_topics: list[str],
    mark_done: Callable[[list[str]], None],
) -> int:
    """Mark ``done`` every outstanding paid set whose result is already published.

    ``results_topics``: the shared result topic, or every tenant's in multi-tenant mode.
    """
    outstanding = journal.outstanding_paid()
    if not outstanding:
        return 0
    since_ms = max(0, int((min(outstanding.values()) - CLOCK_SLACK_S) * 1000))
    found: set[str] = set()
    for results_topic in results_topics:
        for attempt in range(_ATTEMPTS):
            try:
                found |= published_among(reader_conf, results_topic, set(outstanding), since_ms)
                break
            except KafkaException as exc:  # metadata still settling (a new topic, a leader)
                if attempt + 1 == _ATTEMPTS:
                    # Not fatal: the sets run again (free) and may publish a second result
                    # record, which is what happened before this check existed.
                    log.warning("could not read %s to reconcile paid sets: %s", results_topic, exc)
                    break
                time.sleep(1.0 + attempt)
    if found:
        log.warning("%d paid set(s) already have a published result: marked done", len(found))
        mark_done(sorted(found))
    return len(found)


__all__ = ["CLOCK_SLACK_S", "published_among", "reconcile_published"]
