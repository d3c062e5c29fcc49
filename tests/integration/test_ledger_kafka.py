"""The ledger behaviour suite on the real ledger topic (the same suite runs on the twin)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ledger_contract import CHECKS

from schemas import AvroCodec
from streams.config import Settings
from streams.kafka.clients import consumer_config, producer_config
from streams.kafka.topics import TopicNames
from streams.ledger.kafka_store import KafkaLedgerStore


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_kafka_store(
    check,
    settings_factory: Callable[..., Settings],
    topic_factory: Callable[..., TopicNames],
) -> None:
    settings = settings_factory()
    topics = topic_factory()
    opened: list[KafkaLedgerStore] = []

    def open_store() -> KafkaLedgerStore:
        store = KafkaLedgerStore(
            producer_config(settings), consumer_config(settings, "unused"), topics, AvroCodec()
        )
        store.start()
        opened.append(store)
        return store

    try:
        check(open_store(), open_store)
    finally:
        for store in opened:
            store.close()
