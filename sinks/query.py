"""``query(dsn, sql, params)``: read-only SQL that works whether or not the engine is owned.

For a server DSN, or a chDB directory that is free (or owned by this very process), the query
runs directly. If another process owns the chDB directory, it goes through that owner's
:class:`~sinks.query_server.QueryServer`, whose address and token the owner advertises in its
lock file. Rows from the endpoint come back JSON-typed, except that DateTime columns are parsed
back into datetimes so both paths return comparable values.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.connection import chdb_path, connect
from sinks.errors import EngineLockedError, QueryRefusedError, SinkFatalError, SinkRetryableError
from sinks.lock import read_owner
from sinks.query_server import run_read_only


def query(
    dsn: str, sql: str, params: dict[str, Any] | None = None, *, timeout_s: float = 30.0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return ``(column names, rows)``.

    Args:
        dsn: As for :func:`sinks.connection.connect`.
        sql: One SELECT/SHOW/DESCRIBE/EXPLAIN/WITH statement with ``{name:Type}`` placeholders.
        params: Values for the placeholders (bound by the engine, never formatted into SQL).
        timeout_s: HTTP timeout when going through the owner's endpoint.

    Raises:
        QueryRefusedError: the statement is not read-only.
        EngineLockedError: the owner runs no query endpoint.
        SinkRetryableError: the owner's endpoint could not be reached.
        SinkFatalError: the engine rejected the query.

    """
    try:
        client = connect(dsn)
    except EngineLockedError as exc:
        if exc.endpoint is None or chdb_path(dsn) is None:
            raise
        return _via_owner(exc, sql, params or {}, timeout_s)
    try:
        columns, _types, rows = run_read_only(client, sql, params)
        return columns, rows
    except ClickHouseError as exc:
        raise SinkFatalError(f"query failed: {exc}") from exc
    finally:
        client.close()


def _via_owner(
    locked: EngineLockedError, sql: str, params: dict[str, Any], timeout_s: float
) -> tuple[list[str], list[tuple[Any, ...]]]:
    owner = read_owner(locked.path)
    endpoint = owner.endpoint or locked.endpoint
    body = json.dumps({"sql": sql, "params": {k: _param(v) for k, v in params.items()}}).encode()
    request = urllib.request.Request(  # noqa: S310 -- fixed http:// loopback URL from the lock
        f"http://{endpoint}/query",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {owner.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        if exc.code == 403:
            raise QueryRefusedError(detail) from exc
        raise SinkFatalError(
            f"query endpoint of pid {owner.pid} answered {exc.code}: {detail}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SinkRetryableError(f"query endpoint {endpoint} of pid {owner.pid}: {exc}") from exc
    columns: list[str] = answer["columns"]
    types: list[str] = answer["types"]
    rows = [tuple(_revive(t, v) for t, v in zip(types, row, strict=True)) for row in answer["rows"]]
    return columns, rows


def _param(value: Any) -> Any:
    """JSON-safe parameter; datetimes as UTC text that ClickHouse's DateTime64 parser accepts."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        # Whole seconds without a fraction, so a {x:DateTime} placeholder accepts it too.
        return value.strftime("%Y-%m-%d %H:%M:%S" + (".%f" if value.microsecond else ""))
    return value


def _revive(type_name: str, value: Any) -> Any:
    if isinstance(value, str) and "DateTime" in type_name and "Array" not in type_name:
        return datetime.fromisoformat(value)
    return value


__all__ = ["query"]


class QueryResult:
    """The part of clickhouse-connect's ``QueryResult`` that the report functions read."""

    def __init__(self, column_names: list[str], result_rows: list[tuple[Any, ...]]) -> None:
        self.column_names = column_names
        self.result_rows = result_rows


class ReadOnlyClient:
    """A client whose ``query`` goes through :func:`query`: direct, or via the engine's owner.

    Lets :func:`sinks.sli.sli_report` and :func:`sinks.drift.drift_report` run from a CLI while
    a sink process owns the embedded engine.
    """

    def __init__(self, dsn: str, timeout_s: float = 30.0) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only statement."""
        columns, rows = query(self._dsn, sql, parameters, timeout_s=self._timeout_s)
        return QueryResult(columns, rows)
