"""Budget claims on the real ledger topic: concurrent writers, one order, the same verdicts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from processors.budget import Budget, ClaimItem, SpendClaim
from processors.idempotency import IdempotencyLedger
from streams.config import Settings
from streams.kafka.clients import Publisher, consumer_config, producer_config
from streams.kafka.topics import TopicNames
from streams.ledger.journal import KafkaJournal
from streams.ledger.reconcile import reconcile_published


@pytest.fixture
def open_journal(
    settings_factory: Callable[..., Settings], topic_factory: Callable[..., TopicNames]
) -> Iterator[Callable[[], KafkaJournal]]:
    settings = settings_factory()
    topic = topic_factory().ledger  # its own prefix: each test's ledger starts empty
    opened: list[KafkaJournal] = []

    def make() -> KafkaJournal:
        journal = KafkaJournal(
            producer_config(settings), consumer_config(settings, "unused"), topic
        ).start()
        opened.append(journal)
        return journal

    yield make
    for journal in opened:
        journal.close()


def _claim(writer: str, k: int, shots: list[float], limit: float) -> SpendClaim:
    items = tuple(ClaimItem(f"{writer}-{k}-{j}", "d" * 64, s, 0.0) for j, s in enumerate(shots))
    return SpendClaim(f"{writer}-{k}", "acme", Budget(shots=limit), items)


def test_concurrent_writers_never_overspend_and_every_reader_agrees(
    open_journal: Callable[[], KafkaJournal],
) -> None:
    a, b = open_journal(), open_journal()
    limit, granted = 1000.0, {"a": 0.0, "b": 0.0}
    start = threading.Barrier(2)

    def spend(name: str, journal: KafkaJournal) -> None:
        start.wait()
        for k in range(40):  # 40 claims of 3 x 10 shots per writer: 1,200 asked each
            claim = _claim(name, k, [10, 10, 10], limit)
            for item, ok in zip(claim.items, journal.submit_claim(claim), strict=True):
                granted[name] += item.shots if ok else 0.0

    threads = [threading.Thread(target=spend, args=(n, j)) for n, j in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert granted["a"] + granted["b"] == limit  # 2,400 asked: exactly the budget granted
    late = open_journal()  # a reader that starts after the fact replays to the same totals
    for journal in (a, b, late):
        journal.wait_caught_up()
        assert journal.claims_spent("acme") == (limit, 0.0)
    # The granted sets are paid in every reader's view; refused ones are not.
    paid = {k for k in late.keys_in("event/") if str(late.get(f"event/{k}")).startswith("paid:")}
    assert len(paid) == limit / 10
    assert paid == {k for k in a.keys_in("event/") if str(a.get(f"event/{k}")).startswith("paid:")}


def test_unlimited_claims_are_granted_at_once_and_counted_after_the_flush(
    open_journal: Callable[[], KafkaJournal],
) -> None:
    journal = open_journal()
    claim = SpendClaim("u-1", "free", Budget(), (ClaimItem("e1", "d", 5, 0.5),))
    assert journal.submit_claim(claim) == (True,)
    assert str(journal.get("event/e1")).startswith("paid:")  # marked before any flush
    journal.flush()
    journal.wait_caught_up()
    assert journal.claims_spent("free") == (5.0, 0.5)


def test_reconcile_marks_done_the_paid_sets_whose_results_are_on_the_topic(
    open_journal: Callable[[], KafkaJournal],
    settings_factory: Callable[..., Settings],
    topic_factory: Callable[..., TopicNames],
) -> None:
    """The crash window: results acknowledged, ``done`` marks never written, worker killed."""
    settings, topics = settings_factory(), topic_factory()
    first = open_journal()
    items = tuple(ClaimItem(f"e{k}", f"{k:064d}", 1, 0.0) for k in range(3))
    first.submit_claim(SpendClaim("c-1", "acme", Budget(), items))
    first.flush()
    publisher = Publisher.from_settings(settings)
    for event_id in ("e0", "e2", "other"):  # e0 and e2 were published before the kill
        publisher.publish_raw(topics.results, event_id, b"result bytes")
    publisher.flush()
    restarted = open_journal()  # a new worker: e0..e2 are paid, not done
    assert set(restarted.outstanding_paid()) == {"e0", "e1", "e2"}
    ledger = IdempotencyLedger(restarted.view("event/"))

    def mark_done(event_ids: list[str]) -> None:
        ledger.complete(event_ids)
        restarted.flush()

    conf = consumer_config(settings, "unused")
    assert reconcile_published(restarted, conf, [topics.results], mark_done) == 2
    assert restarted.get("event/e0") == f"done:{0:064d}"
    assert restarted.get("event/e2") == f"done:{2:064d}"
    assert restarted.get("event/e1") == f"paid:{1:064d}"  # never published: run it again
    assert set(restarted.outstanding_paid()) == {"e1"}
    assert reconcile_published(restarted, conf, [topics.results], mark_done) == 0
