"""Fault scenarios S4 and S7, judged by the fault suite's oracle, each with a negative control.

S4: every event sent 2-3 times; then the processor group reset to offset 0 and everything
replayed. Still one result per id, no extra paid submission. Control: the same with the
idempotency ledger switched off, which the oracle must catch.

S7: the ClickHouse sink slowed to 5 s per flush. Memory stays bounded (the sink's buffer never
exceeds one block plus one poll), the sink never leaves its group (no rebalance loop), and
nothing is lost. Control: a flush slower than the consumer's max.poll.interval.ms, which the
rebalance check must catch.

Both run in ``make chaos``; S4 also in ``make test`` (S7 spends a minute sleeping on purpose).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from fault_support import (
    FAST_GROUP,
    FaultLoad,
    fault_settings,
    make_workload,
    measure,
    produce,
    report,
    settle,
    stop,
)
from pipeline_support import end_offsets, processor_group, spawn_worker, wait_until

from sinks.writer import ClickHouseSink
from streams.config import Settings
from streams.kafka.clients import Publisher
from streams.kafka.topics import TopicNames
from streams.local.stack import LocalStack
from streams.sink import worker as sink_worker

pytestmark = pytest.mark.integration


def produce_copies(settings: Settings, work: FaultLoad) -> int:
    """Every update 2 or 3 times (after the first pass with the bad inputs); return copies."""
    produce(settings, work)
    publisher = Publisher.from_settings(settings)
    topic = TopicNames(settings.topic_prefix).updates
    copies = len(work.updates)
    for extra in (1, 2):
        for k, update in enumerate(work.updates):
            if extra == 1 or k % 2:
                publisher.publish(topic, update.event_id, update)
                copies += 1
    publisher.flush()
    publisher.close()
    return copies


def reset_to_zero(settings: Settings) -> int:
    """Move the (empty) processor group back to offset 0 on its input topics; return how many
    messages that puts back in front of it."""
    names = TopicNames(settings.topic_prefix)
    ends = {t: end_offsets(settings.bootstrap, t) for t in (names.updates, names.by_topology)}
    group = processor_group(names)
    partitions = [TopicPartition(t, p, 0) for t, parts in ends.items() for p in parts]
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})

    def reset() -> bool:
        futures = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, partitions)]
        )
        try:
            for future in futures.values():
                future.result(10)
        except Exception:  # noqa: BLE001 - the group may still be emptying after the stop
            return False
        return True

    wait_until(reset, 60, "the processor group to accept an offset reset")
    return sum(sum(parts.values()) for parts in ends.values())


@pytest.mark.parametrize("ledger", [True, False], ids=["ledger-on", "ledger-off-control"])
def test_s4_duplicates_then_a_replay_from_offset_zero(
    kafka_bootstrap: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]], ledger: bool
) -> None:
    settings = fault_settings(kafka_bootstrap, tmp_path, backend_overhead_ms=50)
    work = make_workload(150, name="s4")
    env = {} if ledger else {"QLOOP_UNSAFE_DISABLE_LEDGER": "1"}
    with LocalStack(settings, worker=False) as stack:
        copies = produce_copies(settings, work)
        procs.append(spawn_worker(settings, "w0", {**FAST_GROUP, **env}))
        settle(stack, work)
        stop(procs[0])
        replayed = reset_to_zero(settings)
        procs.append(spawn_worker(settings, "w1", {**FAST_GROUP, **env}))
        settle(stack, work)
        time.sleep(1)  # let the sink commit whatever the replay produced
        settle(stack, work)
        stop(procs[1])
        figures = measure(stack, work)
    report(
        f"S4 ({'ledger on' if ledger else 'LEDGER OFF'})",
        figures,
        copies_sent=copies,
        messages_replayed=replayed,
    )
    if ledger:
        assert figures.violations() == []
        assert figures.executions == figures.accepted and figures.reexecuted_ids == 0
    else:
        problems = figures.violations()
        print("  oracle violations:", problems)
        assert any("shots charged" in p for p in problems), problems
        assert figures.reexecuted_ids > 0


class SlowSink:
    """Instruments the in-process sink: a slow flush, its largest buffer, its rebalances."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, flush_s: float, **consumer: Any) -> None:
        self.max_buffered = 0
        self.flushes = 0
        self.lost_or_revoked = 0
        self.running = True
        slow_flush, add = ClickHouseSink.flush, ClickHouseSink.add
        on_revoke, on_lost = sink_worker._SinkLoop.on_revoke, sink_worker._SinkLoop.on_lost

        def flush(sink: ClickHouseSink, *args: Any, **kwargs: Any) -> Any:
            if sink.buffered_rows:
                time.sleep(flush_s)
                self.flushes += 1
            return slow_flush(sink, *args, **kwargs)

        def counting_add(sink: ClickHouseSink, *args: Any, **kwargs: Any) -> None:
            add(sink, *args, **kwargs)
            self.max_buffered = max(self.max_buffered, sink.buffered_rows)

        def revoked(loop: Any, *args: Any) -> None:
            self.lost_or_revoked += self.running
            on_revoke(loop, *args)

        def lost(loop: Any, *args: Any) -> None:
            self.lost_or_revoked += self.running
            on_lost(loop, *args)

        monkeypatch.setattr(ClickHouseSink, "flush", flush)
        monkeypatch.setattr(ClickHouseSink, "add", counting_add)
        monkeypatch.setattr(sink_worker._SinkLoop, "on_revoke", revoked)
        monkeypatch.setattr(sink_worker._SinkLoop, "on_lost", lost)
        if consumer:
            real = sink_worker.Consumer
            monkeypatch.setattr(sink_worker, "Consumer", lambda conf: real({**conf, **consumer}))


BLOCK_ROWS = 100
POLL_ROWS = 1000  # the sink consumes at most this many messages per poll


@pytest.mark.chaos
@pytest.mark.parametrize("control", [False, True], ids=["slow-sink", "slower-than-poll-control"])
def test_s7_sink_slowed_to_5s_per_flush(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    control: bool,
) -> None:
    settings = fault_settings(
        kafka_bootstrap, tmp_path, backend_overhead_ms=0, sink_batch_rows=BLOCK_ROWS
    )
    work = make_workload(400, name="s7")
    # The control: a flush longer than the sink consumer's poll interval gets it thrown out.
    if control:
        slow = SlowSink(
            monkeypatch, 10.0, **{"session.timeout.ms": 6000, "max.poll.interval.ms": 6000}
        )
    else:
        slow = SlowSink(monkeypatch, 5.0)
    with LocalStack(settings, worker=False) as stack:
        produce(settings, work)
        procs.append(spawn_worker(settings, "w0", FAST_GROUP))
        if control:
            wait_until(lambda: slow.lost_or_revoked > 0, 120, "the stuck sink to leave its group")
        settled_s = 0.0 if control else settle(stack, work, timeout_s=400)
        stop(procs[0])
        rebalances = slow.lost_or_revoked
        slow.running = False
        figures = measure(stack, work)
    report(
        f"S7 ({'control' if control else 'slow sink'})",
        figures,
        flushes=slow.flushes,
        max_buffered_rows=slow.max_buffered,
        rebalances=rebalances,
        settle_s=round(settled_s, 1),
    )
    if control:
        assert rebalances > 0, "a sink stuck past max.poll.interval.ms must leave its group"
        return
    assert figures.violations() == []
    assert slow.flushes >= 2
    assert slow.max_buffered <= BLOCK_ROWS + POLL_ROWS
    assert rebalances == 0
