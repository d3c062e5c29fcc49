"""ClickHouse for qloop: migrations, the idempotent batched sink, SLI and drift queries.

Imports only :mod:`schemas`, clickhouse-connect, numpy and the standard library; Kafka lives in
``streams``.
"""

from sinks.client import DATABASE, chdb_path, connect
from sinks.errors import (
    EngineLockedError,
    QueryRefusedError,
    SinkError,
    SinkFatalError,
    SinkRetryableError,
)
from sinks.lock import EngineLock, OwnerInfo, held_engine_lock, read_owner
from sinks.migrations import Migration, applied_migrations, apply_migrations, load_migrations
from sinks.query import ReadOnlyClient, query
from sinks.query_server import QueryServer, check_read_only, serve_owner_queries
from sinks.retry import RetryPolicy
from sinks.rows import COLUMNS, KafkaPosition, to_row
from sinks.writer import ClickHouseSink, TopicPartition

__all__ = [
    "COLUMNS",
    "DATABASE",
    "ClickHouseSink",
    "EngineLock",
    "EngineLockedError",
    "KafkaPosition",
    "Migration",
    "OwnerInfo",
    "QueryRefusedError",
    "QueryServer",
    "ReadOnlyClient",
    "RetryPolicy",
    "SinkError",
    "SinkFatalError",
    "SinkRetryableError",
    "TopicPartition",
    "applied_migrations",
    "apply_migrations",
    "chdb_path",
    "check_read_only",
    "connect",
    "held_engine_lock",
    "load_migrations",
    "query",
    "read_owner",
    "serve_owner_queries",
    "to_row",
]
