"""The ledger's window on the real broker: ids forgotten after it, budgets kept past retention."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from processors.budget import Budget, ClaimItem, SpendClaim
from processors.idempotency import IdempotencyLedger, Seen
from schemas import AvroCodec
from streams.config import Settings
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.topics import TopicNames, create_topics
from streams.ledger.journal import KafkaJournal
from streams.ledger.kafka_store import KafkaLedgerStore

WINDOW_S = 8.0
DIGEST = "d" * 64


def _claim(claim_id: str, sets: int) -> SpendClaim:
    items = tuple(ClaimItem(f"{claim_id}-{k}", DIGEST, 10.0, 0.0) for k in range(sets))
    return SpendClaim(claim_id, "acme", Budget(shots=1000), items)


def _log_start(bootstrap: str, topic: str) -> int:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        low, _high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low)
    finally:
        probe.close()


def test_ids_are_forgotten_after_the_window_and_budgets_survive_the_claims_deletion(
    settings_factory: Callable[..., Settings], kafka_bootstrap: str
) -> None:
    settings = settings_factory()
    prefix = f"w{uuid.uuid4().hex[:12]}."
    conf = {"bootstrap.servers": kafka_bootstrap}
    create_topics(conf, prefix, 1, ledger_window_s=WINDOW_S)
    topic = TopicNames(prefix).ledger
    admin = AdminClient(conf)
    (described,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
    configs = {k: v.value for k, v in described.result(10).items()}
    assert configs["cleanup.policy"] == "delete"
    assert configs["retention.ms"] == "8000" and configs["segment.ms"] == "1000"

    def journal() -> KafkaJournal:
        made = KafkaJournal(
            producer_config(settings), consumer_config(settings, "unused"), topic, WINDOW_S
        )
        return made.start()

    first = journal()
    try:
        ledger = IdempotencyLedger(first.view("event/"))
        assert first.submit_claim(_claim("c0", 30)) == (True,) * 30
        ledger.complete([f"c0-{k}" for k in range(30)])
        first.flush()
        written_through = first._position  # noqa: SLF001 - the claim and marks are below it
        assert ledger.check("c0-0", DIGEST) is Seen.DUPLICATE  # within the window: not re-run
        assert first.entries()["event/"] == 30

        # Kafka deletes the old segments (retention checked every 30 s on the local broker);
        # the journal forgets the ids in memory a window and at most a bucket later.
        deadline = time.monotonic() + 120
        while _log_start(kafka_bootstrap, topic) <= written_through:
            assert time.monotonic() < deadline, "the ledger's old segments were never deleted"
            time.sleep(1)
        assert first.entries()["event/"] == 0
        assert ledger.check("c0-0", DIGEST) is Seen.NEW  # past the window: new work

        # A restarted reader replays only the window, yet knows what acme spent.
        second = journal()
        try:
            assert second.replayed_records < 30  # totals only: no claim, no done mark
            assert second.claims_spent("acme") == (300.0, 0.0)
            verdicts = second.submit_claim(_claim("c1", 80))  # 800 shots asked, 700 left
            assert sum(verdicts) == 70 and verdicts[:70] == (True,) * 70
            first.wait_caught_up()
            assert first.claims_spent("acme") == second.claims_spent("acme") == (1000.0, 0.0)
        finally:
            second.close()
    finally:
        first.close()


def test_an_existing_compacted_ledger_is_aligned_to_its_window_once_totals_are_written(
    settings_factory: Callable[..., Settings], kafka_bootstrap: str
) -> None:
    """A ledger made by an older qloop (compacted, kept forever) gets the window's retention."""
    settings = settings_factory()
    topics = TopicNames(f"w{uuid.uuid4().hex[:12]}.")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    old = NewTopic(topics.ledger, 1, 1, config={"cleanup.policy": "compact"})
    admin.create_topics([old])[topics.ledger].result(30)
    create_topics({"bootstrap.servers": kafka_bootstrap}, topics.prefix, 1)
    store = KafkaLedgerStore(
        producer_config(settings),
        consumer_config(settings, "unused"),
        topics,
        AvroCodec(),
        window_s=3600,
    )
    store.start()
    try:
        (described,) = admin.describe_configs([ConfigResource("topic", topics.ledger)]).values()
        configs = {k: v.value for k, v in described.result(10).items()}
        assert configs["cleanup.policy"] == "delete"
        assert (configs["retention.ms"], configs["segment.ms"]) == ("3600000", "450000")
    finally:
        store.close()
