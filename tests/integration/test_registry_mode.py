"""Registry mode end to end against a real registry (Apicurio, Confluent-compatible API).

With ``QLOOP_SCHEMA_REGISTRY_URL`` set, the client SDK, the worker, the sink and ``qloop topics
tail`` all write and read the Confluent wire format; a consumer with confluent-kafka's own
``AvroDeserializer`` (no qloop code) reads the results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pipeline_support import read_topic, sampler_circuit, stack_settings, wait_for_sink
from registry_support import running_registry

from processors import make_template
from schemas import ResultStatus
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration
SETS = 10


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_registry(tmp_path_factory.mktemp("registry")) as url:
        yield url


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, registry: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path_factory.mktemp("registry-stack"),
        max_wait_ms=200,
        schema_registry_url=registry,
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_every_component_speaks_the_registry_wire_format(
    stack: LocalStack, registry: str, tmp_path: Path
) -> None:
    settings = stack.settings
    template = make_template(sampler_circuit(3), "registry-ra3")
    rng = np.random.default_rng(5)
    updates = [
        new_update(
            template,
            rng.uniform(0, np.pi, len(template.parameter_names)),
            experiment_id="registry",
            iteration=i,
            shots=128,
        )
        for i in range(SETS)
    ]
    with QloopClient(settings) as client:  # encodes with the registry, decodes results with it
        client.register_template(template)
        results = client.evaluate(updates, timeout_s=120)
    assert [r.event_id for r in results] == [u.event_id for u in updates]
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)

    # On the wire: Confluent framing (magic 0, 4-byte schema id), not single-object.
    values = [v for _p, _o, v in read_topic(settings.bootstrap, stack.topics.results)]
    assert len(values) == SETS and all(v[:1] == b"\x00" for v in values)
    with urllib.request.urlopen(f"{registry}/subjects") as answer:  # noqa: S310 - loopback http
        subjects = set(json.load(answer))
    assert {"io.qloop.v1.ParameterUpdate", "io.qloop.v1.JobResult"} <= subjects

    # Another team's consumer: confluent-kafka's own deserializer, no qloop code.
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    context = SerializationContext(stack.topics.results, MessageField.VALUE)
    decoded = [deserialize(v, context) for v in values]
    assert sorted(d["event_id"] for d in decoded) == sorted(u.event_id for u in updates)

    # The sink decoded them too.
    wait_for_sink(stack, [u.event_id for u in updates])

    # qloop topics tail decodes registry-framed records.
    env = {
        **os.environ,
        "QLOOP_KAFKA_BOOTSTRAP": settings.bootstrap,
        "QLOOP_TOPIC_PREFIX": settings.topic_prefix,
        "QLOOP_SCHEMA_REGISTRY_URL": registry,
        "QLOOP_DATA_DIR": str(tmp_path),
    }
    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams",
            "topics",
            "tail",
            "job-results",
            "--from-beginning",
            "--json",
            "--max",
            str(SETS),
            "--idle-exit",
            "30",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert sorted(line["value"]["event_id"] for line in lines) == sorted(
        u.event_id for u in updates
    )
