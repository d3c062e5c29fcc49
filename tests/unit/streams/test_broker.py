"""The local broker's pure helpers: KRaft cluster ids."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.local import broker_config


def _uuids(*first_bytes: int) -> Iterator[uuid.UUID]:
    for first in first_bytes:
        yield uuid.UUID(bytes=bytes([first]) + bytes(15))


def test_an_id_that_would_start_with_a_dash_is_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to '-' as the first urlsafe base64 character; kafka-storage's
    # argument parser reads such an id as an option (a CI run failed on this).
    draws = _uuids(0xF8, 0xF9, 0x12)
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    cluster_id = broker_config.kraft_cluster_id()
    assert not cluster_id.startswith("-")
    assert base64.urlsafe_b64decode(cluster_id + "==")[0] == 0x12


def test_ids_are_22_char_kafka_uuids() -> None:
    ids = {broker_config.kraft_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_a_cluster_node_names_the_quorum_and_replicates_with_one_node_to_spare(
    tmp_path: Path,
) -> None:
    voters = "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    text = broker_config.server_properties(
        tmp_path, 9093, 9102, node_id=2, voters=voters, replication=3
    )
    lines = set(text.splitlines())
    assert {"node.id=2", f"controller.quorum.voters={voters}"} <= lines
    assert {"default.replication.factor=3", "min.insync.replicas=2"} <= lines
    assert "offsets.topic.replication.factor=3" in lines
    single = set(broker_config.server_properties(tmp_path, 9092, 9100).splitlines())
    assert {"node.id=1", "controller.quorum.voters=1@127.0.0.1:9100"} <= single
    assert "min.insync.replicas=1" in single
