"""Offline contracts of sinks: read-only check, retry classification, SLO config, migrations."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from sinks import (
    QueryRefusedError,
    RetryPolicy,
    SinkFatalError,
    SinkRetryableError,
    check_read_only,
)
from sinks.connection import chdb_path
from sinks.migrations import load_migrations, split_statements
from sinks.retry import is_retryable, with_retry
from sinks.sli import LATENCY_BUCKETS_MS, SLO, Indicator, glob_to_like


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1", "  -- hi\n select 1;", "WITH 1 AS x SELECT x", "SHOW TABLES",
     "DESCRIBE qloop.results", "EXPLAIN SELECT 1", "(SELECT 1) UNION ALL (SELECT 2)",
     "/* c */ SELECT ';'", "SELECT 'INTO OUTFILE x'",
     "SELECT count() FROM qloop.dead_letters WHERE error_message LIKE '%file(%'",
     "SELECT profile FROM qloop.results"],
)  # fmt: skip
def test_read_only_statements_pass(sql: str) -> None:
    check_read_only(sql)  # keywords inside string literals are data


@pytest.mark.parametrize(
    ("sql", "why"),
    [("SELECT 1 INTO OUTFILE '/tmp/x.csv'", "INTO OUTFILE"),
     ("select 1 into  outfile 'x' format CSV", "INTO OUTFILE"),
     ("SELECT * FROM FILE('/etc/passwd', 'LineAsString')", "file()"),
     ("SELECT * FROM url ('http://169.254.169.254/', CSV, 'a String')", "url()"),
     ("WITH x AS (SELECT * FROM s3('https://b/k')) SELECT * FROM x", "s3()"),
     ("SELECT * FROM remote('10.0.0.1', system.one)", "remote()"),
     ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
     ("SELECT * FROM executable('x.sh', TSV, 'a String')", "executable()")],
)  # fmt: skip
def test_escapes_from_read_only_are_refused_with_the_reason(sql: str, why: str) -> None:
    with pytest.raises(QueryRefusedError, match=f"(?i){re.escape(why)}"):
        check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    ["INSERT INTO t VALUES (1)", "DROP TABLE qloop.results", "SELECT 1; DROP TABLE x", "",
     "-- SELECT\nALTER TABLE t DELETE WHERE 1", "SYSTEM STOP MERGES", "OPTIMIZE TABLE t"],
)  # fmt: skip
def test_writes_are_refused(sql: str) -> None:
    with pytest.raises(QueryRefusedError):
        check_read_only(sql)


def test_retry_classification() -> None:
    assert is_retryable(OperationalError("connection reset"))
    assert is_retryable(DatabaseError("Code: 252. DB::Exception: Too many parts"))
    assert not is_retryable(DatabaseError("Code: 62. DB::Exception: Syntax error"))


def test_with_retry_backs_off_then_gives_up_retryably() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        raise DatabaseError("Code: 241. DB::Exception: Memory limit exceeded")

    with pytest.raises(SinkRetryableError):
        with_retry(
            flaky, "x", RetryPolicy(attempts=4, base_delay_s=0.1, max_delay_s=0.3), slept.append
        )
    assert calls["n"] == 4 and len(slept) == 3
    assert slept[0] < slept[2] <= 0.3 * 1.25


def test_with_retry_fatal_is_immediate() -> None:
    def broken() -> int:
        raise DatabaseError("Code: 47. DB::Exception: Unknown identifier")

    with pytest.raises(SinkFatalError):
        with_retry(broken, "x", RetryPolicy(), lambda _s: pytest.fail("must not sleep"))


def test_latency_buckets_match_migration() -> None:
    sql = resources.files("sinks").joinpath("migrations/002_sli_views.sql").read_text()
    bounds = re.search(r"\[toUInt32\(1\),(.*?)\] AS bounds", sql, re.DOTALL)
    assert bounds is not None
    assert (
        1,
        *(int(x) for x in bounds.group(1).replace("\n", " ").split(",")),
    ) == LATENCY_BUCKETS_MS


def test_slo_validation() -> None:
    SLO("ok", "aer_*", Indicator.LATENCY_END_TO_END, 0.99, threshold_ms=2000)
    with pytest.raises(ValueError, match="bucket"):
        SLO("bad", "*", Indicator.LATENCY_END_TO_END, 0.99, threshold_ms=1234)
    with pytest.raises(ValueError, match="objective"):
        SLO("bad", "*", Indicator.SUCCESS_RATE, 1.0)


def test_glob_to_like_escapes_like_wildcards() -> None:
    assert glob_to_like("aer_*") == "aer\\_%"
    assert glob_to_like("ibm_?x%") == "ibm\\__x\\%"


def test_migrations_are_ordered_and_split() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert all(m.statements for m in migrations)
    assert split_statements("-- a; b\nCREATE X;\nCREATE Y;") == ("CREATE X", "CREATE Y")


def test_chdb_dsn_parsing() -> None:
    assert chdb_path("chdb:///data/clickhouse") == "/data/clickhouse"
    assert chdb_path("http://u:p@h:8123/db") is None
    with pytest.raises(ValueError):
        chdb_path("chdb://memory")
