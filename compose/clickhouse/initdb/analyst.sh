#!/bin/bash
# Runs once, on an empty data volume: a read-only user for dashboards and analysts. Its profile
# makes every query readonly=1 with a time and a result-size limit; it may SELECT the qloop
# database and nothing else, so a dashboard can never write, drop or read files.
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE SETTINGS PROFILE IF NOT EXISTS qloop_analyst_profile
    SETTINGS readonly = 1, max_execution_time = 60, max_result_rows = 1000000;
CREATE USER IF NOT EXISTS qloop_analyst
    IDENTIFIED WITH sha256_password BY '${QLOOP_ANALYST_PASSWORD:-change-me-too}'
    SETTINGS PROFILE qloop_analyst_profile;
GRANT SELECT ON qloop.* TO qloop_analyst;
SQL
