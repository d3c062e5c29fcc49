"""S10 on a 3-broker KRaft cluster: a rebalance under load, and a broker killed, lose nothing.

The cluster is started by the project (``streams.local.cluster``): three combined nodes,
replication 3, ``min.insync.replicas`` 2. Under a steady load, worker b joins worker a (a
rebalance), then broker 3 is killed with SIGKILL (partition leaders and maybe the group
coordinator move), then worker b is killed (another rebalance). The S10 oracle judges the
outcome: one result per input, one charge per set, nothing lost.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import (
    FAST_GROUP,
    ResultWatcher,
    fault_settings,
    kill9,
    make_workload,
    measure,
    produce_in_background,
    report,
    settle,
    stop,
)
from pipeline_support import spawn_worker

from streams.local.cluster import LocalCluster
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path_factory.mktemp("cluster"), nodes=3).start()
    yield running
    running.stop()


def test_s10_on_three_brokers_with_a_broker_killed_mid_run(
    cluster: LocalCluster,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    settings = fault_settings(cluster.bootstrap, tmp_path, replication_factor=3)
    work = make_workload(500, name="s10-cluster")
    n = len(work.updates)
    with LocalStack(settings, worker=False) as stack:
        producer = produce_in_background(settings, work, per_second=10)  # 50 s of load
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "a", FAST_GROUP))
        watcher.wait_for(n // 5)
        procs.append(spawn_worker(settings, "b", FAST_GROUP))
        joined_at = watcher.distinct
        watcher.wait_for(max(n * 2 // 5, joined_at + 40))  # two workers at work
        assert cluster.brokers[2].kill()
        broker_killed_at, started = watcher.distinct, time.monotonic()
        watcher.wait_for(max(n * 3 // 5, broker_killed_at + 40))  # progress on two brokers
        kill9(procs[1])
        worker_killed_at = watcher.distinct
        producer.join(60)
        settle_s = settle(stack, work)
        stop(procs[0])
        figures = measure(stack, work)
    report(
        "S10 on 3 brokers",
        figures,
        b_joined_at=joined_at,
        broker_3_killed_at=broker_killed_at,
        b_killed_at=worker_killed_at,
        settle_s=round(settle_s, 1),
        since_broker_kill_s=round(time.monotonic() - started, 1),
    )
    assert figures.violations() == []
    assert joined_at < broker_killed_at < worker_killed_at < n  # each fault hit a running load
    assert not cluster.answering(3) and cluster.answering(2)  # it ran on two brokers
