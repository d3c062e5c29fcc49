"""What the local broker's files say: ``server.properties``, its log4j2 config, a cluster id."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path


def server_properties(
    data_dir: Path, port: int, controller_port: int, security: list[str] | None = None
) -> str:
    """``server.properties`` of the single combined node; ``security`` replaces the listeners."""
    logs = data_dir / "logs"
    listeners = security or [
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ]
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            f"log.dirs={logs}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
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
