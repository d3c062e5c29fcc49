"""ClickHouse for qloop: migrations, the idempotent batched sink, SLI and drift queries.

Imports only :mod:`schemas`, clickhouse-connect, numpy and the standard library; Kafka lives in
``streams``.
"""

from sinks.connection import DATABASE, chdb_path, connect
from sinks.errors import (
    EngineLockedError,
    QueryRefusedError,
    SinkError,
    SinkFatalError,
    SinkRetryableError,
)
from sinks.experiments import (
    ExperimentJobs,
    ExperimentSummary,
    StoredResults,
    experiment_jobs,
    experiment_summary,
    stored_events,
    stored_results,
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
    "ExperimentJobs",
    "ExperimentSummary",
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
    "StoredResults",
    "TopicPartition",
    "applied_migrations",
    "apply_migrations",
    "chdb_path",
    "check_read_only",
    "connect",
    "experiment_jobs",
    "experiment_summary",
    "held_engine_lock",
    "load_migrations",
    "query",
    "read_owner",
    "serve_owner_queries",
    "stored_events",
    "stored_results",
    "to_row",
]
