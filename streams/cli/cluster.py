"""``qloop broker start --nodes N``: a local KRaft cluster, for trying replication and failover.

The nodes are combined broker-controllers on loopback, PLAINTEXT, with ports PORT, PORT+1, ...;
their layout is kept in ``cluster.json`` so that ``qloop broker stop`` and ``status`` (which
call in here when it exists) reach every node.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from streams.cli.output import console, fail
from streams.local.broker import BrokerError
from streams.local.cluster import LocalCluster


def cluster_start(data_dir: Path, base_port: int, security: str, nodes: int) -> None:
    """Start ``nodes`` nodes in ``data_dir`` and print how to point qloop at them."""
    if security != "none":
        raise fail("a local cluster runs PLAINTEXT only; use one node for --security sasl_ssl")
    previous = LocalCluster.existing(data_dir)
    if previous is not None and any(s.running for s in previous.status()):
        raise fail(f"a cluster is already running from {data_dir}; stop it first")
    cluster = LocalCluster(data_dir, nodes, base_port=base_port)
    try:
        with console.status(f"starting a {nodes}-node Kafka cluster on {cluster.bootstrap} …"):
            cluster.start()
    except BrokerError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"cluster running: {nodes} nodes, bootstrap {cluster.bootstrap}, data {data_dir}\n"
        f"use it with QLOOP_KAFKA_BOOTSTRAP={cluster.bootstrap} "
        f"QLOOP_REPLICATION_FACTOR={min(nodes, 3)}",
        soft_wrap=True,  # one line each, whatever the terminal's width: users copy them
    )


def cluster_status(cluster: LocalCluster, as_json: bool) -> None:
    """Each node's state; exit 3 when no node runs."""
    nodes = cluster.status()
    running = [n for n in nodes if n.running]
    if as_json:
        report = {
            "running": bool(running),
            "answering": bool(running) and cluster.answering(len(running)),
            "bootstrap": cluster.bootstrap,
            "nodes": [
                {"port": n.port, "pid": n.pid, "running": n.running, "data_dir": str(n.data_dir)}
                for n in nodes
            ],
        }
        print(json.dumps(report))
    else:
        for n in nodes:
            state = f"running (pid {n.pid})" if n.running else "not running"
            console.print(f"node {n.data_dir.name}: port {n.port}, {state}")
    if not running:
        raise typer.Exit(3)


__all__ = ["cluster_start", "cluster_status"]
