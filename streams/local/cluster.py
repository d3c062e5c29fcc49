"""A local KRaft cluster of several combined nodes, for tests that need replication.

Each node is a :class:`~streams.local.broker.LocalBroker` in its own directory with its own
ports; all share one cluster id and one controller quorum. Topics get the cluster's
replication factor (3 for three nodes) and ``min.insync.replicas`` one less, so that one node
can be killed without losing an acknowledged write.

``qloop broker start --nodes 3`` starts one from the command line: the cluster's layout (its
nodes' directories and ports) is kept in ``cluster.json`` in its directory, so that ``stop``
and ``status`` find every node again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from streams.local.broker import (
    BrokerError,
    BrokerStatus,
    ClusterNode,
    LocalBroker,
    free_port,
    metadata_ok,
    quiet_logger,
)
from streams.local.broker_config import kraft_cluster_id


class LocalCluster:
    """Start, stop and kill the nodes of a cluster that lives in ``data_dir``."""

    def __init__(self, data_dir: Path, nodes: int = 3, base_port: int | None = None) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir).absolute()
        ports = [base_port + k if base_port else free_port() for k in range(nodes)]
        controllers = [free_port() for _ in range(nodes)]
        voters = ",".join(f"{k + 1}@127.0.0.1:{port}" for k, port in enumerate(controllers))
        cluster_id = kraft_cluster_id()
        self.brokers = [
            LocalBroker(
                self.data_dir / f"node-{k + 1}",
                port=ports[k],
                heap="384m",
                node=ClusterNode(k + 1, controllers[k], voters, cluster_id, nodes),
            )
            for k in range(nodes)
        ]

    @property
    def bootstrap(self) -> str:
        """Every node's listener, comma-separated."""
        return ",".join(f"127.0.0.1:{b.port}" for b in self.brokers)

    @classmethod
    def existing(cls, data_dir: Path) -> LocalCluster | None:
        """The cluster recorded in ``data_dir`` by an earlier start (None: there is none)."""
        layout = Path(data_dir).absolute() / CLUSTER_FILE
        if not layout.exists():
            return None
        recorded = json.loads(layout.read_text())
        cluster = cls.__new__(cls)
        cluster.data_dir = layout.parent
        cluster.brokers = [
            LocalBroker(cluster.data_dir / name, port=port)
            for name, port in zip(recorded["nodes"], recorded["ports"], strict=True)
        ]
        return cluster

    def start(self, timeout_s: float = 120.0) -> LocalCluster:
        """Launch every node, then wait until metadata lists all of them."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / CLUSTER_FILE).write_text(
            json.dumps(
                {
                    "nodes": [b.data_dir.name for b in self.brokers],
                    "ports": [b.port for b in self.brokers],
                    "bootstrap": self.bootstrap,
                }
            )
        )
        try:
            for broker in self.brokers:
                broker.start(wait=False)
        except BrokerError:  # e.g. a port in use: leave no node of a half-started cluster
            self.stop()
            raise
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.answering(len(self.brokers)):
                return self
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"the {len(self.brokers)}-node cluster did not form in {timeout_s:.0f}s")

    def answering(self, nodes: int) -> bool:
        """Whether metadata lists at least ``nodes`` live brokers."""
        from confluent_kafka.admin import AdminClient

        if not metadata_ok(self.bootstrap, 2.0):
            return False
        conf = {"bootstrap.servers": self.bootstrap, "log_level": 0, "logger": quiet_logger()}
        admin = AdminClient(conf)
        return len(admin.list_topics(timeout=5).brokers) >= nodes

    def status(self) -> list[BrokerStatus]:
        """Each node's status, in node order."""
        return [broker.status() for broker in self.brokers]

    def stop(self, timeout_s: float = 10.0) -> int:
        """Stop every node, with SIGKILL after ``timeout_s``; return how many were running.

        A shrinking quorum can stall a controlled shutdown, and a local cluster holds nothing
        worth waiting for.
        """
        return sum(bool(broker.stop(timeout_s)) for broker in self.brokers)


CLUSTER_FILE = "cluster.json"

__all__ = ["CLUSTER_FILE", "LocalCluster"]
