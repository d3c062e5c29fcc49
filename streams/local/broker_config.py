"""What the local broker's files say: ``server.properties``, its log4j2 config, a cluster id."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path


def server_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    security: list[str] | None = None,
    *,
    node_id: int = 1,
    voters: str | None = None,
    replication: int = 1,
) -> str:
    """``server.properties`` of one combined node; ``security`` replaces the listeners.

    One node by default; in a local cluster (:mod:`streams.local.cluster`) ``voters`` names
    every node's controller and ``replication`` is the cluster's replication factor, with
    ``min.insync.replicas`` one less, so that one node may be down without losing a write.
    """
    logs = data_dir / "logs"
    min_isr = max(1, replication - 1)
    listeners = security or [
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters or f'1@127.0.0.1:{controller_port}'}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            f"log.dirs={logs}",
            "num.partitions=3",
            f"default.replication.factor={replication}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={replication}",
            "offsets.topic.num.partitions=10",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replication}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.retention.hours=168",
            # Time retention is checked every 30 s rather than 5 min: the ledger's window can
            # be set short for a test, and on one local node the scan costs nothing.
            "log.retention.check.interval.ms=30000",
            "",
        ]
    )


LOG4J2 = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


def kraft_cluster_id() -> str:
    """A Kafka-style base64 UUID that never starts with '-'.

    One id in 64 would otherwise begin with '-', and kafka-storage's argument
    parser then reads it as an option (this failed CI once). Kafka's own
    ``Uuid.randomUuid`` redraws in that case; so do we, and the caller also
    passes it as ``--cluster-id=<id>``.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


__all__ = ["LOG4J2", "kraft_cluster_id", "server_properties"]
