"""ClickHouseSink on the real chDB engine: token dedup, replay re-forming, restart, throughput."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from clickhouse_connect.driver.client import Client
from sink_factories import (  # noqa: F401 -- fixtures
    ch,
    chdb_dsn,
    count,
    make_compile,
    make_dead_letter,
    make_job,
    make_result,
)

from sinks import ClickHouseSink

REPO = Path(__file__).resolve().parents[2]


def test_rows_land_in_their_tables_with_bound_labels(ch: Client) -> None:  # noqa: F811
    sink = ClickHouseSink(ch)
    sink.add("r", 0, 0, make_result(0))
    sink.add("j", 0, 5, make_job(0))
    sink.add("c", 1, 7, make_compile(0))
    sink.add("d", 2, 9, make_dead_letter(3))
    assert sink.flush() == {("r", 0): 1, ("j", 0): 6, ("c", 1): 8, ("d", 2): 10}
    assert sink.buffered_rows == 0
    for table in ("results", "jobs", "compilations", "dead_letters"):
        assert count(ch, f"SELECT count() FROM qloop.{table}") == 1  # noqa: S608 -- fixed names
    label = ch.query("SELECT labels['note'] FROM qloop.results").result_rows[0][0]
    assert label == "x'); DROP TABLE qloop.results; --"


def test_same_batch_twice_is_stored_once(ch: Client) -> None:  # noqa: F811
    for _attempt in range(2):
        sink = ClickHouseSink(ch)  # a new sink: as after a crash before the offset commit
        for i in range(100):
            sink.add("results", 0, i, make_result(i))
        assert sink.flush() == {("results", 0): 100}
    assert count(ch, "SELECT count() FROM qloop.results") == 100
    assert count(ch, "SELECT sum(results) FROM qloop.sli_results_minute") == 100


def test_replay_reforms_logged_blocks_even_with_other_batch_limits(ch: Client) -> None:  # noqa: F811
    first = ClickHouseSink(ch, max_rows=30)
    for i in range(60):
        first.add("results", 0, i, make_result(i))
        if first.should_flush():
            first.flush()  # blocks 0-29, 30-59 logged and inserted; "crash" before commit
    replay = ClickHouseSink(ch, max_rows=1000, max_age_s=3600)
    for i in range(100):
        replay.add("results", 0, i, make_result(i))
    assert replay.should_flush()  # logged blocks are complete
    assert replay.flush() == {("results", 0): 100}
    assert count(ch, "SELECT count() FROM qloop.results") == 100
    assert count(ch, "SELECT uniqExact(event_id) FROM qloop.results") == 100


def test_incomplete_reformed_block_is_held_back(ch: Client) -> None:  # noqa: F811
    first = ClickHouseSink(ch)
    for i in range(10):
        first.add("results", 0, i, make_result(i))
    first.flush()
    replay = ClickHouseSink(ch, max_age_s=0)
    for i in range(5):
        replay.add("results", 0, i, make_result(i))
    assert not replay.should_flush()
    assert replay.flush() == {}  # offsets 0-4 alone would carry a different token
    replay.discard([("results", 0)])
    assert replay.buffered_rows == 0


_CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from sink_factories import make_result
    from sinks import ClickHouseSink, apply_migrations, connect
    client = connect({dsn!r})
    apply_migrations(client)
    sink = ClickHouseSink(client)
    for i in range(200):
        sink.add("results", 3, 1000 + i, make_result(i))
    sink.flush()
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), 9)  # after insert, before any offset commit
    print(client.query("SELECT count() FROM qloop.results").result_rows[0][0])
    client.close()
    """
)


def test_dedup_survives_sigkill_and_restart(chdb_dsn: str) -> None:  # noqa: F811
    code = _CHILD.format(tests=str(Path(__file__).parents[1]), dsn=chdb_dsn)
    killed = subprocess.run([sys.executable, "-c", code, "kill"], cwd=REPO, check=False)
    assert killed.returncode == -9
    again = subprocess.run(
        [sys.executable, "-c", code, "count"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert again.stdout.strip() == "200"


def test_insert_throughput_10k_results(ch: Client) -> None:  # noqa: F811
    sink = ClickHouseSink(ch, max_rows=10_000)
    records = [make_result(i) for i in range(10_000)]
    for i, r in enumerate(records):
        sink.add("results", 0, i, r)
    started = time.perf_counter()
    sink.flush()
    rate = 10_000 / (time.perf_counter() - started)
    print(f"\ninsert throughput: {rate:,.0f} results/s (10k, one block, MV included)")
    assert count(ch, "SELECT count() FROM qloop.results") == 10_000
    assert rate > 2_000


def test_negative_control_without_the_batch_log_replays_duplicate(ch: Client) -> None:  # noqa: F811
    """Without the logged ranges a replay cuts other blocks, tokens differ, rows duplicate."""
    first = ClickHouseSink(ch, max_rows=30)
    for i in range(60):
        first.add("results", 0, i, make_result(i))
        if first.should_flush():
            first.flush()
    ch.command("TRUNCATE TABLE qloop.sink_batches")
    replay = ClickHouseSink(ch, max_rows=1000)
    for i in range(100):
        replay.add("results", 0, i, make_result(i))
    replay.flush()
    assert count(ch, "SELECT count() FROM qloop.results") == 160  # the oracle would fail
    assert count(ch, "SELECT count() FROM qloop.results FINAL") == 100  # ReplacingMergeTree net
