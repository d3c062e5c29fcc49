"""ClickHouse roles: every statement is valid ClickHouse, the analyst can only read, and the
embedded engine (which has no access management) says so in one line.

No ClickHouse server runs here, so the statements are checked with the real engine's parser
(``EXPLAIN AST`` in chDB) and by what they grant, not applied to a server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from sink_factories import ch, chdb_dsn  # noqa: F401

from sinks.access import ANALYST_ROLE, INGEST_ROLE, ROLE_STATEMENTS, apply_roles
from sinks.errors import SinkFatalError

pytestmark = pytest.mark.integration


def test_every_role_statement_parses(ch: Client) -> None:  # noqa: F811
    for statement in ROLE_STATEMENTS:
        kind = ch.command(f"EXPLAIN AST {statement}")
        assert "Query" in str(kind), statement


def test_the_analyst_reads_only_and_the_ingest_role_cannot_drop() -> None:
    grants = {s.split(" TO ")[1]: s for s in ROLE_STATEMENTS if s.startswith("GRANT")}
    assert grants[ANALYST_ROLE] == f"GRANT SELECT ON qloop.* TO {ANALYST_ROLE}"
    ingest = grants[INGEST_ROLE]
    assert "ON qloop.*" in ingest
    assert not any(word in ingest for word in ("DROP", "ALL", "*.*", "DELETE", "UPDATE"))
    # Migrations only ever add columns; no other ALTER is granted.
    assert ingest.count("ALTER") == ingest.count("ALTER ADD COLUMN") == 1
    profile = next(s for s in ROLE_STATEMENTS if "SETTINGS PROFILE IF NOT EXISTS" in s)
    assert "readonly = 1" in profile and "max_execution_time" in profile


def test_the_embedded_engine_refuses_roles_clearly(ch: Client) -> None:  # noqa: F811
    with pytest.raises(SinkFatalError, match="need a ClickHouse server"):
        apply_roles(ch)


def test_qloop_db_roles_on_chdb_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams", "db", "roles"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "QLOOP_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "chDB" in lines[0] and "QLOOP_CLICKHOUSE_DSN" in lines[0]
