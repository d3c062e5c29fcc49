"""A loopback, read-only SQL endpoint served by the process that owns a chDB directory.

Only one process can open a chDB directory (:mod:`sinks.lock`); while the sink worker runs, this
endpoint is how ``qloop query`` and ``qloop sli`` read the data. It is deliberately tiny: stdlib
``http.server`` in a daemon thread, bound to 127.0.0.1, one route::

    POST /query  {"sql": "...", "params": {...}}  ->  {"columns", "types", "rows"}

Defence in depth: a bearer token that only the owner's lock file (mode 0600) reveals, a
statement allow-list (SELECT/SHOW/DESCRIBE/EXPLAIN/WITH, one statement), and the ClickHouse
setting ``readonly=1`` on every query, which the engine itself enforces.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.connection import chdb_path
from sinks.errors import QueryRefusedError, SinkFatalError
from sinks.lock import held_engine_lock

READ_ONLY_KEYWORDS = frozenset({"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH"})
MAX_REQUEST_BYTES = 1 << 20
_COMMENT_RE = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.|'')*'")
# `INTO OUTFILE` is executed by the client side of the engine, which chDB runs in this very
# process: `readonly=1` does not stop it from writing a file. Table functions that reach files,
# hosts or processes are refused by `readonly=1` already; refusing them here gives a clear
# message and does not depend on the engine's version.
_OUTFILE_RE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_EXTERNAL_FUNCTIONS = (
    "file|fileCluster|url|urlCluster|s3|s3Cluster|gcs|azureBlobStorage|azureBlobStorageCluster|"
    "hdfs|hdfsCluster|remote|remoteSecure|cluster|clusterAllReplicas|mysql|postgresql|sqlite|"
    "mongodb|redis|jdbc|odbc|executable|executablePool|input|iceberg|deltaLake|hudi"
)
_TABLE_FUNCTION_RE = re.compile(rf"\b({_EXTERNAL_FUNCTIONS})\s*\(", re.IGNORECASE)
_SETTINGS_RE = re.compile(r"\bSETTINGS\b", re.IGNORECASE)


def check_read_only(sql: str) -> None:
    """Raise :class:`QueryRefusedError` unless ``sql`` is one read-only statement.

    Refuses more than one statement, any statement but a read, ``INTO OUTFILE``, table
    functions that reach files, hosts or processes, and ``SETTINGS`` overrides. The engine's
    ``readonly=1`` on every query stays the second guard.
    """
    body = _COMMENT_RE.sub(" ", sql).strip().rstrip(";").strip()
    code = _LITERAL_RE.sub("''", body)  # keywords inside string literals are data, not SQL
    if ";" in code:
        raise QueryRefusedError("only one statement per query")
    if _OUTFILE_RE.search(code):
        raise QueryRefusedError("refused INTO OUTFILE: queries return rows, they write no files")
    function = _TABLE_FUNCTION_RE.search(code)
    if function:
        raise QueryRefusedError(
            f"refused table function {function.group(1)}(): only qloop's tables may be read"
        )
    if _SETTINGS_RE.search(code):
        raise QueryRefusedError("refused SETTINGS: query settings are fixed (readonly=1)")
    first = body.lstrip("(").split(None, 1)[0].upper() if body else ""
    if first not in READ_ONLY_KEYWORDS:
        allowed = ", ".join(sorted(READ_ONLY_KEYWORDS))
        raise QueryRefusedError(f"refused {first or 'empty'} statement: only {allowed} allowed")


def run_read_only(
    client: Client, sql: str, params: dict[str, Any] | None
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Check and run ``sql`` with ``readonly=1``; return column names, types and rows."""
    check_read_only(sql)
    result = client.query(sql, parameters=params or {}, settings={"readonly": 1})
    types = [t.name for t in result.column_types]
    return list(result.column_names), types, [tuple(r) for r in result.result_rows]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


class QueryServer:
    """Serves read-only queries on ``client`` at ``http://127.0.0.1:<port>/query``.

    Args:
        client: A client of the owned engine (the server serialises nothing itself: the
            clickhouse-connect chDB backend serialises calls per client).
        token: Bearer token every request must present.
        host: Bind address; keep it loopback.
        port: 0 picks a free port; read it back from :attr:`address`.

    """

    def __init__(self, client: Client, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._client = client
        self._token = token
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._on_stop: list[Callable[[], None]] = []

    @property
    def address(self) -> str:
        """``host:port`` the server listens on."""
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> QueryServer:
        """Serve in a daemon thread; returns ``self`` for chaining."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="qloop-query-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (the client stays open: the caller owns it)."""
        for hook in self._on_stop:
            hook()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Silence per-request stderr logging."""

            def do_POST(self) -> None:  # noqa: N802
                """Answer one query."""
                auth = self.headers.get("Authorization", "")
                if not hmac.compare_digest(auth, f"Bearer {server._token}"):
                    self._reply(401, {"error": "missing or wrong bearer token"})
                    return
                if self.path != "/query":
                    self._reply(404, {"error": "POST /query"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._reply(413, {"error": "request too large"})
                    return
                try:
                    request = json.loads(self.rfile.read(length))
                    sql, params = str(request["sql"]), request.get("params") or {}
                    columns, types, rows = run_read_only(server._client, sql, params)
                except QueryRefusedError as exc:
                    self._reply(403, {"error": str(exc), "kind": "refused"})
                except (ValueError, KeyError, TypeError) as exc:
                    self._reply(400, {"error": f"bad request: {exc}"})
                except ClickHouseError as exc:
                    self._reply(422, {"error": str(exc), "kind": "clickhouse"})
                else:
                    self._reply(200, {"columns": columns, "types": types, "rows": rows})

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=_json_default).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def serve_owner_queries(client: Client, dsn: str) -> QueryServer:
    """Start the endpoint for the chDB engine this process owns and advertise it in the lock.

    Other processes then find it through :func:`sinks.lock.read_owner` (``sinks.query`` does).
    :meth:`QueryServer.stop` withdraws the advertisement.

    Raises:
        SinkFatalError: ``dsn`` is not a chDB DSN whose lock this process holds.

    """
    path = chdb_path(dsn)
    lock = held_engine_lock(path) if path else None
    if lock is None:
        raise SinkFatalError(f"this process does not own a chDB engine at {dsn}")
    server = QueryServer(client, lock.token).start()
    lock.set_endpoint(server.address)
    server._on_stop.append(lambda: lock.set_endpoint(None))
    return server


__all__ = [
    "READ_ONLY_KEYWORDS",
    "QueryServer",
    "check_read_only",
    "run_read_only",
    "serve_owner_queries",
]
