"""One owner per chDB directory: a clear error for others, and reads through the owner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from sink_factories import ch, chdb_dsn, make_result  # noqa: F401

from sinks import ClickHouseSink, QueryServer, serve_owner_queries

REPO = Path(__file__).resolve().parents[2]

_OTHER = textwrap.dedent(
    """
    import json, sys
    from sinks import EngineLockedError, QueryRefusedError, connect, query
    dsn, action = sys.argv[1], sys.argv[2]
    try:
        if action == "connect":
            connect(dsn).close()
            print(json.dumps({"ok": True}))
        elif action == "query":
            cols, rows = query(dsn, "SELECT count(), max(completed_at) FROM qloop.results"
                               " WHERE tenant = {t:String}", {"t": "acme"})
            print(json.dumps({"cols": cols, "count": rows[0][0], "ts": type(rows[0][1]).__name__}))
        elif action == "write":
            query(dsn, "INSERT INTO qloop.results (event_id) VALUES ('x')")
    except EngineLockedError as exc:
        print(json.dumps({"locked": exc.owner_pid, "endpoint": exc.endpoint, "msg": str(exc)}))
    except QueryRefusedError as exc:
        print(json.dumps({"refused": str(exc)}))
    """
)


def _other(dsn: str, action: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _OTHER, dsn, action],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def endpoint(ch: Client, chdb_dsn: str) -> Iterator[QueryServer]:  # noqa: F811
    sink = ClickHouseSink(ch)
    for i in range(7):
        sink.add("results", 0, i, make_result(i))
    sink.flush()
    server = serve_owner_queries(ch, chdb_dsn)
    yield server
    server.stop()


def test_second_process_gets_engine_locked_error(ch: Client, chdb_dsn: str) -> None:  # noqa: F811
    answer = _other(chdb_dsn, "connect")
    assert answer["locked"] == os.getpid()
    assert f"owned by process {os.getpid()}" in str(answer["msg"])


def test_query_goes_through_the_owner(endpoint: QueryServer, chdb_dsn: str) -> None:  # noqa: F811
    answer = _other(chdb_dsn, "query")
    assert answer["count"] == 7 and answer["ts"] == "datetime"


def test_owner_endpoint_refuses_writes(endpoint: QueryServer, chdb_dsn: str) -> None:  # noqa: F811
    assert "refused INSERT" in str(_other(chdb_dsn, "write")["refused"])


def test_lock_is_released_when_the_owner_closes(chdb_dsn: str) -> None:  # noqa: F811
    from sinks import connect

    connect(chdb_dsn).close()
    assert _other(chdb_dsn, "connect") == {"ok": True}
