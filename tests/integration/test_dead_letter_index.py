"""A dead letter already on the topic counts as done, even if its ledger mark never landed."""

from __future__ import annotations

from collections.abc import Callable

from sink_factories import make_dead_letter

from schemas import AvroCodec
from streams.config import Settings
from streams.kafka.clients import Publisher, consumer_config
from streams.kafka.topics import TopicNames
from streams.ledger.dead_letter_index import DeadLetterIndex, source_key


def test_published_dead_letters_are_known_after_a_restart_and_while_tailing(
    settings_factory: Callable[..., Settings], topic_factory: Callable[..., TopicNames]
) -> None:
    settings, topics = settings_factory(), topic_factory()
    publisher = Publisher.from_settings(settings)
    publisher.publish(topics.dead_letters, None, make_dead_letter(7))  # killed before marking it
    publisher.publish_raw(topics.dead_letters, None, b"\x00 not a dead letter")
    publisher.flush()
    ledger: dict[str, str] = {"qloop.parameters:0:3": "done"}
    index = DeadLetterIndex(
        ledger, consumer_config(settings, "unused"), topics.dead_letters, AvroCodec()
    ).start()
    try:
        assert source_key(make_dead_letter(7)) in index  # from the topic alone
        assert "qloop.parameters:0:3" in index  # from the ledger alone
        assert "qloop.parameters:0:9" not in index
        publisher.publish(topics.dead_letters, None, make_dead_letter(9))  # another worker, later
        publisher.flush()
        index.wait_caught_up()
        assert index["qloop.parameters:0:9"] == "done"
        index["qloop.parameters:0:11"] = "done"  # writes go to the ledger
        assert ledger["qloop.parameters:0:11"] == "done" and len(index) == 2
    finally:
        index.stop()
