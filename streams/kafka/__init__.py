"""Kafka plumbing shared by every stage: configured clients, topics, table readers, framing.

Lives here: confluent-kafka producers and consumers configured the qloop way and the typed
:class:`Publisher` (:mod:`~streams.kafka.clients`), the one definition of every topic
(:mod:`~streams.kafka.topics`), the tailing reader of compacted topics
(:mod:`~streams.kafka.table_reader`) and the Confluent registry framing
(:mod:`~streams.kafka.registry_framing`). May import ``schemas`` and ``streams.config`` only.
"""

from streams.kafka.clients import (
    Publisher,
    PublishError,
    consumer_config,
    make_consumer,
    producer_config,
)
from streams.kafka.table_reader import CompactedTopicReader, high_watermark
from streams.kafka.topics import TOPIC_SPECS, TopicNames, create_topics

__all__ = [
    "TOPIC_SPECS",
    "CompactedTopicReader",
    "PublishError",
    "Publisher",
    "TopicNames",
    "consumer_config",
    "create_topics",
    "high_watermark",
    "make_consumer",
    "producer_config",
]
