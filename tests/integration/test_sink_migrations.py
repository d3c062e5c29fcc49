"""Migrations on the real chDB engine: ordered, recorded, idempotent."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from sink_factories import ch, chdb_dsn  # noqa: F401 -- fixtures

from sinks import applied_migrations, apply_migrations, load_migrations


def test_apply_twice_is_a_no_op(ch: Client) -> None:  # noqa: F811
    versions = [m.version for m in load_migrations()]
    assert sorted(applied_migrations(ch)) == versions
    assert apply_migrations(ch) == []
    tables = {r[0] for r in ch.query("SHOW TABLES FROM qloop").result_rows}
    assert {"results", "jobs", "compilations", "dead_letters", "calibrations", "canary_runs",
            "sli_results_minute", "sli_jobs_minute", "sink_batches"} <= tables  # fmt: skip
    rows = ch.query("SELECT count() FROM qloop.schema_migrations").result_rows
    assert rows[0][0] == len(versions)


def test_every_sink_table_keeps_a_dedup_log(ch: Client) -> None:  # noqa: F811
    for table in ("results", "jobs", "compilations", "dead_letters", "sli_results_minute",
                  "sli_jobs_minute", "canary_runs"):  # fmt: skip
        ddl = ch.query("SHOW CREATE TABLE qloop." + table).result_rows[0][0]
        assert "non_replicated_deduplication_window = 1000" in ddl, table


def test_every_cluster_statement_parses_on_the_real_engine(ch: Client) -> None:  # noqa: F811
    """The ON CLUSTER / Replicated rewrite is valid ClickHouse SQL (parsed, not run: one
    embedded engine has no Keeper and no cluster to run it on)."""
    from sinks.cluster_ddl import on_cluster

    statements = [s for m in load_migrations() for s in m.statements]
    assert len(statements) > 20
    for statement in statements:
        rewritten = on_cluster(statement, "qloop")
        ast = str(ch.command(f"EXPLAIN AST {rewritten}"))
        assert "Query" in ast, rewritten
