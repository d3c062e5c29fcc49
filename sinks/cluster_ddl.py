"""The migrations for a ClickHouse cluster: every statement ``ON CLUSTER``, every table Replicated.

The shipped migrations are written for one server. With ``QLOOP_CLICKHOUSE_CLUSTER`` set, each
statement is rewritten as it is applied: ``CREATE``/``ALTER`` run ``ON CLUSTER`` (every replica
gets the same schema through the distributed DDL queue), and each ``*MergeTree`` engine becomes
its ``Replicated*MergeTree`` twin with the conventional Keeper path
``/clickhouse/tables/{shard}/qloop/<table>`` and the ``{replica}`` macro, so that the replicas of
a shard hold the same data and an insert on one reaches the others. Deduplication of a retried
block then uses ``replicated_deduplication_window`` (same value). One shard is the model: a
sharded cluster also needs Distributed tables in front, which the sizing guide discusses.
"""

from __future__ import annotations

import re

_CREATE = re.compile(
    r"^(CREATE (?:DATABASE|TABLE|MATERIALIZED VIEW|VIEW) IF NOT EXISTS (?P<name>[\w.]+))"
)
_ALTER = re.compile(r"^(ALTER TABLE [\w.]+)")
_ENGINE = re.compile(r"ENGINE = (?P<kind>Replacing|Aggregating|Summing|Collapsing)?MergeTree"
                     r"(?:\((?P<args>[^)]*)\))?")  # fmt: skip
_NAME = re.compile(r"^[A-Za-z_][\w-]*$")


def check_cluster_name(cluster: str) -> str:
    """The cluster name, refused unless it is a plain identifier (it is quoted into DDL)."""
    if not _NAME.match(cluster):
        raise ValueError(f"QLOOP_CLICKHOUSE_CLUSTER={cluster!r}: expected a cluster name")
    return cluster


def on_cluster(statement: str, cluster: str) -> str:
    """``statement`` for every replica of ``cluster`` (see the module docstring)."""
    check_cluster_name(cluster)
    text = statement.strip()
    created = _CREATE.match(text)
    if created is not None:
        text = f"{created.group(1)} ON CLUSTER '{cluster}'{text[created.end() :]}"
        table = created.group("name").split(".")[-1]
        text = _ENGINE.sub(lambda m: _replicated(m, table), text, count=1)
    else:
        altered = _ALTER.match(text)
        if altered is not None:
            text = f"{altered.group(1)} ON CLUSTER '{cluster}'{text[altered.end() :]}"
    return text.replace("non_replicated_deduplication_window", "replicated_deduplication_window")


def _replicated(match: re.Match[str], table: str) -> str:
    kind = match.group("kind") or ""
    args = match.group("args")
    path = f"'/clickhouse/tables/{{shard}}/qloop/{table}', '{{replica}}'"
    return f"ENGINE = Replicated{kind}MergeTree({path}{', ' + args if args else ''})"


__all__ = ["check_cluster_name", "on_cluster"]
