"""Every contract survives a trip through the real broker, and topics are created idempotently."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import avro.io
import avro.schema
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, ConfigResource
from samples import all_samples

from schemas import AvroCodec, JobResult, avsc_path
from streams.config import Settings
from streams.kafka.clients import Publisher
from streams.kafka.topics import TOPIC_SPECS, TopicNames, create_topics


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    import time

    deadline = time.monotonic() + timeout_s
    while len(values) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
    consumer.close()
    return values


def test_every_schema_round_trips_through_kafka(
    settings_factory: Callable[..., Settings], topic_factory: Callable[..., TopicNames]
) -> None:
    topics = topic_factory()
    settings = settings_factory()
    publisher = Publisher.from_settings(settings)
    samples = all_samples()
    for record in samples:
        publisher.publish(topics.results, None, record)
    publisher.flush()
    # one partition order is not guaranteed across keys=None; compare as multisets by type
    values = consume_all(settings.bootstrap, topics.results, len(samples))
    assert len(values) == len(samples)
    codec = AvroCodec()
    decoded = []
    for value in values:
        for record_type in {type(s) for s in samples}:
            try:
                decoded.append(codec.decode(record_type, value))
                break
            except Exception:  # noqa: BLE001, S112 - try the next contract
                continue
    assert sorted(map(repr, decoded)) == sorted(map(repr, samples))


def test_apache_avro_reads_a_result_produced_by_qloop(
    settings_factory: Callable[..., Settings], topic_factory: Callable[..., TopicNames]
) -> None:
    topics = topic_factory()
    settings = settings_factory()
    result = next(s for s in all_samples() if isinstance(s, JobResult))
    publisher = Publisher.from_settings(settings)
    publisher.publish(topics.results, result.event_id, result)
    publisher.flush()
    (value,) = consume_all(settings.bootstrap, topics.results, 1)
    with open(avsc_path(JobResult)) as fh:
        schema = avro.schema.parse(fh.read())
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(value[10:])))
    assert datum["event_id"] == result.event_id
    assert datum["counts"] == result.counts
    assert datum["status"] == "SUCCEEDED"


def test_topics_are_created_idempotently_with_their_configs(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    conf = {"bootstrap.servers": kafka_bootstrap}
    first = create_topics(conf, prefix, partitions=2)
    second = create_topics(conf, prefix, partitions=2)
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"exists"}
    assert set(first) == {prefix + s.suffix for s in TOPIC_SPECS}
    admin = AdminClient(conf)
    meta = admin.list_topics(timeout=10).topics
    assert len(meta[prefix + "parameter-updates"].partitions) == 2
    resource = ConfigResource("topic", prefix + "circuit-templates")
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"
