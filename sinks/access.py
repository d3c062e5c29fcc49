"""Who may do what in ClickHouse: an ingest role that writes, an analyst role that only reads.

A ClickHouse server (an ``http(s)://`` DSN) is shared by the sink, dashboards and people; none of
them should hold more than their job needs. ``qloop db roles`` (run once by an administrator)
creates two roles and a settings profile, idempotently:

* ``qloop_ingest_role``: what the sink does: read and insert rows in ``qloop.*`` and create the
  tables and views of a new migration; no ``ALTER ... DELETE``, no ``DROP``, nothing outside
  ``qloop``;
* ``qloop_analyst_role``: ``SELECT`` on ``qloop.*`` only, under a profile that pins
  ``readonly = 1``, a 60 s execution limit and a million result rows, so a dashboard can neither
  write nor read files nor run a query that takes the server down.

Users are then the operator's: ``CREATE USER grafana IDENTIFIED BY '…' DEFAULT ROLE
qloop_analyst_role``. The embedded engine (chDB) has no access management; these statements
need a server.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sinks.errors import SinkFatalError

INGEST_ROLE, ANALYST_ROLE = "qloop_ingest_role", "qloop_analyst_role"
ANALYST_PROFILE = "qloop_analyst_profile"

ROLE_STATEMENTS: tuple[str, ...] = (
    f"CREATE ROLE IF NOT EXISTS {INGEST_ROLE}",
    # ALTER ADD COLUMN: later migrations add columns (005, 007) as the sink starts.
    "GRANT SELECT, INSERT, CREATE TABLE, CREATE VIEW, ALTER ADD COLUMN "
    f"ON qloop.* TO {INGEST_ROLE}",
    f"CREATE SETTINGS PROFILE IF NOT EXISTS {ANALYST_PROFILE} "
    "SETTINGS readonly = 1, max_execution_time = 60, max_result_rows = 1000000",
    f"CREATE ROLE IF NOT EXISTS {ANALYST_ROLE} SETTINGS PROFILE '{ANALYST_PROFILE}'",
    f"GRANT SELECT ON qloop.* TO {ANALYST_ROLE}",
)


def apply_roles(client: Client) -> list[str]:
    """Create the roles and profile on ``client``'s server; return the statements run.

    Raises:
        SinkFatalError: the server refused (no access management, or not enough privileges),
            with its reason.

    """
    for statement in ROLE_STATEMENTS:
        try:
            client.command(statement)
        except ClickHouseError as exc:
            reason = str(exc).strip().splitlines()[0]
            raise SinkFatalError(
                f"could not create the qloop roles ({reason}); they need a ClickHouse server "
                "and a user with access management"
            ) from None
    return list(ROLE_STATEMENTS)


__all__ = ["ANALYST_PROFILE", "ANALYST_ROLE", "INGEST_ROLE", "ROLE_STATEMENTS", "apply_roles"]
