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


_ESCAPES = [
    ("SELECT 1 INTO OUTFILE '{out}'", "INTO OUTFILE"),
    ("SELECT * FROM file('/etc/hostname', 'LineAsString')", "file()"),
    ("SELECT * FROM url('http://127.0.0.1:9/x', CSV, 'a String')", "url()"),
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
]


@pytest.mark.parametrize(("sql", "why"), _ESCAPES)
def test_qloop_query_refuses_escapes_with_one_line(tmp_path: Path, sql: str, why: str) -> None:
    """Direct path (the engine is free): refused before the engine sees it, no file written."""
    out = tmp_path / "x.csv"
    done = subprocess.run(
        [sys.executable, "-m", "streams", "query", sql.format(out=out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "QLOOP_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and lines[0].startswith("error:"), done.stderr
    assert not out.exists()


@pytest.mark.parametrize(("sql", "why"), _ESCAPES)
def test_owner_endpoint_refuses_escapes(
    endpoint: QueryServer,  # noqa: F811
    chdb_dsn: str,  # noqa: F811
    tmp_path: Path,
    sql: str,
    why: str,
) -> None:
    out = tmp_path / "x.csv"
    status, body = _post(endpoint, {"sql": sql.format(out=out)}, token=endpoint._token)
    assert status == 403 and why in body["error"]
    assert not out.exists()


def test_owner_endpoint_refuses_a_request_without_its_token(endpoint: QueryServer) -> None:
    assert _post(endpoint, {"sql": "SELECT 1"}, token=None)[0] == 401
    assert _post(endpoint, {"sql": "SELECT 1"}, token="guess")[0] == 401  # noqa: S106
    assert _post(endpoint, {"sql": "SELECT 1"}, token=endpoint._token)[0] == 200
    assert endpoint.address.startswith("127.0.0.1:")


def _post(server: QueryServer, body: dict[str, object], token: str | None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - loopback endpoint under test
        f"http://{server.address}/query", data=json.dumps(body).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_qloop_sli_and_drift_work_while_a_sink_owns_the_engine(
    endpoint: QueryServer,  # noqa: F811
    chdb_dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Through the owner's endpoint, time parameters with microseconds must bind (was error 457)."""
    env = {**os.environ, "QLOOP_CLICKHOUSE_DSN": chdb_dsn, "QLOOP_DATA_DIR": str(tmp_path)}
    for command in (["sli", "--json"], ["drift", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "streams", *command],
            cwd=REPO, capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)
