"""The migrations rewritten for a ClickHouse cluster: ON CLUSTER everywhere, Replicated engines."""

from __future__ import annotations

import re

import pytest

from sinks.cluster_ddl import on_cluster
from sinks.migrations import load_migrations

STATEMENTS = [s for m in load_migrations() for s in m.statements]


def test_every_create_and_alter_runs_on_the_cluster() -> None:
    for statement in STATEMENTS:
        rewritten = on_cluster(statement, "qloop")
        if statement.startswith(("CREATE", "ALTER")):
            head = rewritten.split("\n", 1)[0]
            assert " ON CLUSTER 'qloop'" in head, head
        assert "non_replicated_deduplication_window" not in rewritten


def test_every_table_is_replicated_under_its_own_keeper_path() -> None:
    tables = 0
    for statement in STATEMENTS:
        created = re.match(r"CREATE TABLE IF NOT EXISTS qloop\.(\w+)", statement)
        if created is None:
            continue
        tables += 1
        rewritten = on_cluster(statement, "qloop")
        engine = re.search(r"ENGINE = (\w+)\((.*)\)$", rewritten, re.M)
        assert engine is not None, rewritten
        assert engine.group(1).startswith("Replicated") and engine.group(1).endswith("MergeTree")
        path = f"'/clickhouse/tables/{{shard}}/qloop/{created.group(1)}', '{{replica}}'"
        assert engine.group(2).startswith(path), engine.group(0)
    assert tables >= 13


def test_engine_arguments_are_kept() -> None:
    ddl = (
        "CREATE TABLE IF NOT EXISTS qloop.t\n(a UInt8, v DateTime)\n"
        "ENGINE = ReplacingMergeTree(v)\nORDER BY a"
    )
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/qloop/t', '{replica}', v)" in (
        on_cluster(ddl, "c1")
    )


def test_a_cluster_name_that_could_inject_sql_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a cluster name"):
        on_cluster("CREATE DATABASE IF NOT EXISTS qloop", "x' SETTINGS y=1 --")
