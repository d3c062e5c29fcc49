"""What the fault suite shares: the workload, the producers, the result watcher and the oracle.

Every scenario (``test_faults.py``, ``test_chaos.py``) is judged by :meth:`Figures.violations`:
one result record per accepted input on the result topic and one row in ClickHouse (plain
``count()``, ``count() FINAL`` and ``uniqExact``); one dead letter per bad input injected; the
budget ledger charged exactly the shots of the distinct accepted inputs (so at most one paid
submission per id); zero lag for the processor and sink groups.
"""

from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from pipeline_support import (
    claimed_shots,
    committed_offsets,
    end_offsets,
    processor_group,
    read_records,
    sampler_circuit,
    stack_settings,
    wait_until,
)

from processors import make_template
from schemas import AvroCodec, CircuitTemplate, JobResult, JobSubmitted, ParameterUpdate
from sinks import query
from streams.client import new_update
from streams.config import Settings
from streams.kafka.clients import Publisher
from streams.kafka.topics import TopicNames
from streams.local.stack import LocalStack

TENANT = "faults"
#: faust reads these from the environment: a killed or stopped member leaves the group after
#: 6 s instead of 60 s (the broker's group.min.session.timeout.ms is 6 s).
FAST_GROUP = {"BROKER_SESSION_TIMEOUT": "6", "BROKER_HEARTBEAT_INTERVAL": "1"}
SETTLE_S = 120.0


# --------------------------------------------------------------------------- workload


@dataclass
class FaultLoad:
    """What a test fed the pipeline: accepted updates and the number of bad inputs."""

    template: CircuitTemplate
    updates: list[ParameterUpdate]
    bad: int

    @property
    def ids(self) -> set[str]:
        return {u.event_id for u in self.updates}

    @property
    def shots(self) -> int:
        return sum(u.shots or 0 for u in self.updates)


def make_workload(n: int, *, shots: int | None = None, name: str = "faults") -> FaultLoad:
    template = make_template(sampler_circuit(3, prefix=name[:2]), f"ra3-{name}")
    width = len(template.parameter_names)
    updates = [
        new_update(
            template,
            [0.01 * (k % 300) + 0.001 * j for j in range(width)],
            experiment_id=name,
            iteration=k,
            tenant=TENANT,
            shots=shots if shots is not None else 10 + k % 7,
        )
        for k in range(n)
    ]
    return FaultLoad(template, updates, bad=2)


def produce(
    settings: Settings, work: FaultLoad, *, bad: bool = True, per_second: float | None = None
) -> None:
    """Template first, then the updates keyed by event id (spread over partitions).

    Two bad inputs (non-Avro bytes, NaN parameters) go in the first tenth of the stream.
    ``per_second`` paces the stream (flushing every 10 updates) instead of a burst.
    """
    started = time.monotonic()
    topics = TopicNames(settings.topic_prefix)
    publisher = Publisher.from_settings(settings)
    publisher.publish(topics.templates, work.template.template_id, work.template)
    publisher.flush()
    for k, update in enumerate(work.updates):
        publisher.publish(topics.updates, update.event_id, update)
        if per_second is not None and k % 10 == 9:
            publisher.flush()
            time.sleep(max(0.0, started + (k + 1) / per_second - time.monotonic()))
        if bad and k == len(work.updates) // 20:
            publisher.publish_raw(topics.updates, "poison", b"\x00\x01 not avro at all")
        if bad and k == len(work.updates) // 10:
            nan = new_update(
                work.template,
                [math.nan] * len(work.template.parameter_names),
                experiment_id="bad",
                tenant=TENANT,
                shots=10,
            )
            publisher.publish(topics.updates, nan.event_id, nan)
    publisher.flush()
    publisher.close()


class ResultWatcher:
    """Counts result records (and distinct ids) on the result topic, from the beginning."""

    def __init__(self, settings: Settings) -> None:
        topic = TopicNames(settings.topic_prefix).results
        self._consumer = Consumer(
            {
                **settings.librdkafka_config(),
                "group.id": f"watch-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        parts = self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._codec = AvroCodec()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(500, 0.1):
                if msg.error() is None and msg.value():
                    self.counts[self._codec.decode(JobResult, msg.value() or b"").event_id] += 1
        self._consumer.close()

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def wait_for(self, count: int, timeout_s: float = 120) -> None:
        wait_until(lambda: self.distinct >= count, timeout_s, f"{count} distinct results")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def produce_in_background(
    settings: Settings, work: FaultLoad, per_second: float
) -> threading.Thread:
    thread = threading.Thread(
        target=produce, args=(settings, work), kwargs={"per_second": per_second}, daemon=True
    )
    thread.start()
    return thread


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0


# --------------------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class Figures:
    """Everything the oracle looks at, measured after the pipeline settled."""

    accepted: int
    bad: int
    expected_shots: float
    topic_records: int
    topic_distinct: int
    ch_plain: int
    ch_final: int
    ch_distinct: int
    dlq_topic: int
    dlq_ch: int
    executions: int  # (JobSubmitted, accepted id) pairs: > accepted means re-executions
    reexecuted_ids: int
    spent_shots: float
    lag: int
    statuses: dict[str, int]

    def violations(self) -> list[str]:
        """What breaks the oracle: every count exact, kill -9 or not.

        (Killed between publishing a batch's results and making their ``done`` marks durable,
        a worker used to leave a second result record per such id; ``streams.ledger.reconcile`` now
        finds those results on the topic before the sets are run again.)
        """
        n = self.accepted
        checks = {
            "result records on the topic": (self.topic_records, n),
            "distinct ids on the topic": (self.topic_distinct, n),
            "result rows in ClickHouse (count())": (self.ch_plain, n),
            "result rows in ClickHouse (count() FINAL)": (self.ch_final, n),
            "distinct ids in ClickHouse": (self.ch_distinct, n),
            "dead letters on the topic": (self.dlq_topic, self.bad),
            "dead letters in ClickHouse": (self.dlq_ch, self.bad),
            "shots charged (paid submissions)": (self.spent_shots, self.expected_shots),
            "consumer lag": (self.lag, 0),
        }
        return [f"{name}: {got} != {want}" for name, (got, want) in checks.items() if got != want]


def spent_shots(settings: Settings) -> float:
    """The tenant's shots granted by the budget claims on the ledger topic."""
    return claimed_shots(settings.bootstrap, TopicNames(settings.topic_prefix).ledger, TENANT)


def total_lag(settings: Settings) -> int:
    topics = TopicNames(settings.topic_prefix)
    bootstrap = settings.bootstrap
    groups = [
        (processor_group(topics), topics.updates),
        (processor_group(topics), topics.by_topology),
    ]
    groups += [
        (f"{topics.prefix}sink", t)
        for t in (topics.results, topics.jobs, topics.dead_letters, topics.compilations)
    ]
    lag = 0
    for group, topic in groups:
        done = committed_offsets(bootstrap, group, topic)
        for partition, end in end_offsets(bootstrap, topic).items():
            lag += max(0, end - max(done.get(partition, 0), 0))
    return lag


def _ch(settings: Settings, work: FaultLoad) -> tuple[int, int, int, int]:
    ids = sorted(work.ids)
    _cols, rows = query(
        settings.dsn,
        "SELECT (SELECT count() FROM qloop.results WHERE event_id IN {ids:Array(String)}),"
        " (SELECT count() FROM qloop.results FINAL WHERE event_id IN {ids:Array(String)}),"
        " (SELECT uniqExact(event_id) FROM qloop.results WHERE event_id IN {ids:Array(String)}),"
        " (SELECT count() FROM qloop.dead_letters WHERE source_topic = {t:String})",
        {"ids": ids, "t": TopicNames(settings.topic_prefix).updates},
    )
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2]), int(rows[0][3])


def settle(stack: LocalStack, work: FaultLoad, timeout_s: float = SETTLE_S) -> float:
    """Wait until every input has a result in ClickHouse and every group has zero lag."""
    started = time.monotonic()

    def done() -> bool:
        stack.check()
        _plain, _final, distinct, dlq = _ch(stack.settings, work)
        return distinct >= len(work.updates) and dlq >= work.bad and total_lag(stack.settings) == 0

    deadline = started + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)
    return time.monotonic() - started


def measure(
    stack: LocalStack, work: FaultLoad, expected_shots: float | None = None, *, bad: bool = True
) -> Figures:
    settings, topics = stack.settings, stack.topics
    ids = work.ids
    results = [r for r in read_records(settings.bootstrap, topics.results, JobResult)]
    mine = [r for r in results if r.event_id in ids]
    per_id: Counter[str] = Counter()
    for job in read_records(settings.bootstrap, topics.jobs, JobSubmitted):
        per_id.update(set(job.event_ids) & ids)
    letters = read_topic_count(settings.bootstrap, topics.dead_letters)
    plain, final, distinct, dlq = _ch(settings, work)
    return Figures(
        accepted=len(ids),
        bad=work.bad if bad else 0,
        expected_shots=work.shots if expected_shots is None else expected_shots,
        topic_records=len(mine),
        topic_distinct=len({r.event_id for r in mine}),
        ch_plain=plain,
        ch_final=final,
        ch_distinct=distinct,
        dlq_topic=letters,
        dlq_ch=dlq,
        executions=sum(per_id.values()),
        reexecuted_ids=sum(1 for c in per_id.values() if c > 1),
        spent_shots=spent_shots(settings),
        lag=total_lag(settings),
        statuses=dict(Counter(str(r.status) for r in {r.event_id: r for r in mine}.values())),
    )


def read_topic_count(bootstrap: str, topic: str) -> int:
    ends = end_offsets(bootstrap, topic)
    return sum(ends.values())  # dead letters are only ever appended by the worker


def report(name: str, figures: Figures, **extra: Any) -> None:
    print(f"\n{name}: {figures}")
    for key, value in extra.items():
        print(f"  {key}: {value}")


def fault_settings(bootstrap: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "max_batch": 20,
        "max_wait_ms": 50,
        "backend_overhead_ms": 200,
        "budgets": {TENANT: {"shots": 1e9}},
    }
    values.update(overrides)
    return stack_settings(bootstrap, tmp_path, **values)
