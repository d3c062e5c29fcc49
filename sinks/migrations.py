"""Ordered, idempotent schema migrations, applied at start.

Migrations are the packaged files ``sinks/migrations/NNN_name.sql``, applied in NNN order and
recorded in ``qloop.schema_migrations`` with a checksum. Every statement is written to be
idempotent (``IF NOT EXISTS``), so a migration interrupted half-way is simply applied again.
An applied migration whose file changed is refused: shipped migrations are append-only, a change
goes into a new file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.cluster_ddl import on_cluster
from sinks.errors import SinkFatalError

_FILE_RE = re.compile(r"^(\d{3})_(\w+)\.sql$")
_STATEMENT_END_RE = re.compile(r";\s*(?:\n|$)")

_BOOTSTRAP = (
    "CREATE DATABASE IF NOT EXISTS qloop",
    """CREATE TABLE IF NOT EXISTS qloop.schema_migrations
    (
        version    UInt32,
        name       String,
        checksum   String,
        applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
    )
    ENGINE = ReplacingMergeTree(applied_at)
    ORDER BY version""",
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version, name, statements and SHA-256 of its text."""

    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(sql: str) -> tuple[str, ...]:
    """Split a migration into statements; full-line ``--`` comments are dropped first.

    Statements end with ``;`` at the end of a line, so a ``;`` inside a string literal or an
    inline comment never splits one.
    """
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in _STATEMENT_END_RE.split(code) if s.strip())


def load_migrations() -> tuple[Migration, ...]:
    """Every packaged migration, in version order."""
    found = []
    for entry in resources.files("sinks").joinpath("migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        text = entry.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=split_statements(text),
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SinkFatalError(f"duplicate migration versions: {versions}")
    return tuple(found)


def applied_migrations(client: Client) -> dict[int, str]:
    """Version -> checksum of the migrations recorded in ``qloop.schema_migrations``."""
    rows = client.query(
        "SELECT version, argMax(checksum, applied_at) FROM qloop.schema_migrations GROUP BY version"
    ).result_rows
    return {int(v): str(c) for v, c in rows}


def apply_migrations(client: Client, cluster: str | None = None) -> list[int]:
    """Apply every pending migration in order; return the versions applied by this call.

    With ``cluster``, every statement runs ``ON CLUSTER`` with Replicated engines
    (:mod:`sinks.cluster_ddl`).

    Raises:
        SinkFatalError: a statement failed, or an applied migration's file has changed.

    """

    def run(statement: str) -> None:
        client.command(statement if cluster is None else on_cluster(statement, cluster))

    try:
        for statement in _BOOTSTRAP:
            run(statement)
        done = applied_migrations(client)
        newly: list[int] = []
        for migration in load_migrations():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise SinkFatalError(
                        f"migration {migration.version:03d}_{migration.name} changed after it "
                        "was applied; add a new migration instead of editing a shipped one"
                    )
                continue
            for statement in migration.statements:
                run(statement)
            client.insert(
                "qloop.schema_migrations",
                [[migration.version, migration.name, migration.checksum]],
                column_names=["version", "name", "checksum"],
            )
            newly.append(migration.version)
        return newly
    except ClickHouseError as exc:
        raise SinkFatalError(f"schema migration failed: {exc}") from exc


__all__ = [
    "Migration",
    "applied_migrations",
    "apply_migrations",
    "load_migrations",
    "split_statements",
]
