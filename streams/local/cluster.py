"""A local KRaft cluster of several combined nodes, for tests that need replication.

Each node is a :class:`~streams.local.broker.LocalBroker` in its own directory with its own
ports; all share one cluster id and one controller quorum. Topics get the cluster's
replication factor (3 for three nodes) and ``min.insync.replicas`` one less, so that one node
can be killed without losing an acknowledged write.
"""

from __future__ import annotations

import time
from pathlib import Path

from streams.local.broker import (
    BrokerError,
    ClusterNode,
    LocalBroker,
    free_port,
    metadata_ok,
)
from streams.local.broker_config import kraft_cluster_id


class LocalCluster:
    """Start, stop and kill the nodes of a cluster that lives in ``data_dir``."""

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        controllers = [free_port() for _ in range(nodes)]
        voters = ",".join(f"{k + 1}@127.0.0.1:{port}" for k, port in enumerate(controllers))
        cluster_id = kraft_cluster_id()
        self.brokers = [
            LocalBroker(
                Path(data_dir) / f"node-{k + 1}",
                port=free_port(),
                heap="384m",
                node=ClusterNode(k + 1, controllers[k], voters, cluster_id, nodes),
            )
            for k in range(nodes)
        ]

    @property
    def bootstrap(self) -> str:
        """Every node's listener, comma-separated."""
        return ",".join(f"127.0.0.1:{b.port}" for b in self.brokers)

    def start(self, timeout_s: float = 120.0) -> LocalCluster:
        """Launch every node, then wait until metadata lists all of them."""
        for broker in self.brokers:
            broker.start(wait=False)
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
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        return len(admin.list_topics(timeout=5).brokers) >= nodes

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every node, with SIGKILL after ``timeout_s``.

        A shrinking quorum can stall a controlled shutdown, and a test cluster holds nothing
        worth waiting for.
        """
        for broker in self.brokers:
            broker.stop(timeout_s)


__all__ = ["LocalCluster"]
