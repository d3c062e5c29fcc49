"""Fault scenarios, each judged by the same oracle: S1 a worker killed -9 at 20, 50 and 80 % of a
run; S2 the broker killed -9 and restarted after 10 s; S8 a tenant's budget through kill -9; S10
a second worker joining, then killed; S11 a worker stopped (SIGSTOP) past its group session, then
continued; and two workers admitting for one tenant at once.

Oracle (``Figures.violations``): one result record per accepted input on the result topic and
one row in ClickHouse (plain ``count()``, ``count() FINAL`` and ``uniqExact``); one dead letter
per bad input injected; the budget ledger charged exactly the shots of the distinct accepted
inputs (so at most one paid submission per id); zero lag for the processor and sink groups.
A negative control runs a worker with its idempotency ledger switched off
(``QLOOP_UNSAFE_DISABLE_LEDGER=1``, test-only) and asserts that the same oracle fails.

Workers are separate ``python -m streams worker`` processes so they can be killed for real;
the sink is a thread of this process (it owns chDB, so the oracle can query it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fault_support import (
    FAST_GROUP,
    TENANT,
    ResultWatcher,
    fault_settings,
    kill9,
    make_workload,
    measure,
    produce,
    produce_in_background,
    report,
    settle,
    stop,
)
from pipeline_support import spawn_worker, wait_until

from schemas import ResultStatus as Status
from streams.config import Settings
from streams.ledger.stall_fence import EXIT_FENCED
from streams.local.broker import LocalBroker, free_port
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

# --------------------------------------------------------------------------- scenarios


def test_s1_worker_kill9_at_20_50_80_percent(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    settings = fault_settings(kafka_bootstrap, tmp_path)
    work = make_workload(400, name="s1")
    with LocalStack(settings, worker=False) as stack:
        produce(settings, work)
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "w0", FAST_GROUP))
        restarts = []
        for k, fraction in enumerate((0.2, 0.5, 0.8)):
            watcher.wait_for(int(fraction * len(work.updates)))
            kill9(procs[-1])
            at = watcher.distinct
            started = time.monotonic()
            procs.append(spawn_worker(settings, f"w{k + 1}", FAST_GROUP))
            ready = time.monotonic() - started
            wait_until(lambda at=at: watcher.distinct > at, 60, "progress after the restart")
            restarts.append((at, round(ready, 1), round(time.monotonic() - started, 1)))
        settle_s = settle(stack, work)
        stop(procs[-1])
        figures = measure(stack, work)
    report("S1", figures, kills_at_restart_ready_progress_s=restarts, settle_s=round(settle_s, 1))
    assert figures.violations() == []


def test_s2_broker_kill9_and_restart_after_10s(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    # Our own broker: killing the session broker would break every other test.
    settings = Settings(
        data_dir=tmp_path,
        kafka_port=free_port(),
        topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
        max_batch=20,
        max_wait_ms=50,
        backend_overhead_ms=200,
        budgets={TENANT: {"shots": 1e9}},
    )
    work = make_workload(300, name="s2")
    with LocalStack(settings, worker=False) as stack:
        produce(settings, work)
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "w0", FAST_GROUP))
        watcher.wait_for(len(work.updates) // 3)
        broker = LocalBroker(settings.kafka_data_dir, port=settings.kafka_port)
        pid = broker.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        seen_at_kill = watcher.distinct
        time.sleep(10)
        broker.start()
        back_s = time.monotonic() - killed_at
        wait_until(lambda: watcher.distinct > seen_at_kill, 120, "progress after the broker")
        progress_s = time.monotonic() - killed_at
        settle_s = settle(stack, work, timeout_s=180)
        assert procs[0].poll() is None, "the worker died instead of recovering"
        stop(procs[0])
        figures = measure(stack, work)
    report(
        "S2",
        figures,
        seen_at_kill=seen_at_kill,
        broker_back_s=round(back_s, 1),
        first_progress_after_kill_s=round(progress_s, 1),
        settle_s=round(settle_s, 1),
    )
    assert figures.violations() == []


def test_s8_budget_never_overspent_through_kill9(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    shots, affordable, n = 10, 25, 120
    settings = fault_settings(
        kafka_bootstrap,
        tmp_path,
        max_batch=5,
        backend_overhead_ms=300,
        budgets={TENANT: {"shots": shots * affordable}},
    )
    work = make_workload(n, shots=shots, name="s8")
    with LocalStack(settings, worker=False) as stack:
        produce(settings, work)
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "w0", FAST_GROUP))
        watcher.wait_for(6)  # the first batch is out; more are paid for and executing
        kill9(procs[0])
        at_kill = watcher.distinct
        procs.append(spawn_worker(settings, "w1", FAST_GROUP))
        settle(stack, work)
        stop(procs[1])
        figures = measure(stack, work, expected_shots=shots * affordable)
    report("S8", figures, results_at_kill=at_kill)
    assert figures.violations() == []
    assert figures.statuses == {
        str(Status.SUCCEEDED): affordable,
        str(Status.BUDGET_EXCEEDED): n - affordable,
    }


def test_two_workers_admitting_for_one_tenant_never_overspend(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """Both workers admit for the same tenant at once; the ledger's log order decides."""
    shots, affordable, n = 10, 40, 200
    settings = fault_settings(
        kafka_bootstrap,
        tmp_path,
        max_batch=4,
        max_wait_ms=5,
        backend_overhead_ms=20,
        budgets={TENANT: {"shots": shots * affordable}},
    )
    work = make_workload(n, shots=shots, name="race")
    with LocalStack(settings, worker=False) as stack:
        procs.append(spawn_worker(settings, "a", FAST_GROUP))
        procs.append(spawn_worker(settings, "b", FAST_GROUP))
        time.sleep(4)  # let the group settle so both workers hold partitions
        produce(settings, work)
        settle(stack, work)
        for proc in procs:
            stop(proc)
        figures = measure(stack, work, expected_shots=shots * affordable)
    report("budget race", figures)
    assert figures.violations() == []
    assert figures.statuses == {
        str(Status.SUCCEEDED): affordable,
        str(Status.BUDGET_EXCEEDED): n - affordable,
    }


def test_s10_second_worker_joins_then_is_killed(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    settings = fault_settings(kafka_bootstrap, tmp_path)
    work = make_workload(400, name="s10")
    with LocalStack(settings, worker=False) as stack:
        producer = produce_in_background(settings, work, per_second=20)
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "a", FAST_GROUP))
        watcher.wait_for(len(work.updates) // 5)
        procs.append(spawn_worker(settings, "b", FAST_GROUP))
        joined_at = watcher.distinct
        watcher.wait_for(len(work.updates) * 3 // 5)
        kill9(procs[1])
        killed_at, started = watcher.distinct, time.monotonic()
        producer.join(60)
        settle_s = settle(stack, work)
        stop(procs[0])
        figures = measure(stack, work)
    report(
        "S10",
        figures,
        b_joined_at=joined_at,
        b_killed_at=killed_at,
        settle_after_kill_s=round(settle_s, 1),
        since_kill_s=round(time.monotonic() - started, 1),
    )
    assert figures.violations() == []


def test_s11_sigstop_past_session_timeout_then_sigcont(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    watchers: list[ResultWatcher],
) -> None:
    settings = fault_settings(kafka_bootstrap, tmp_path)
    work = make_workload(400, name="s11")
    with LocalStack(settings, worker=False) as stack:
        producer = produce_in_background(settings, work, per_second=20)
        watcher = ResultWatcher(settings)
        watchers.append(watcher)
        procs.append(spawn_worker(settings, "a", FAST_GROUP))
        procs.append(spawn_worker(settings, "b", FAST_GROUP))
        watcher.wait_for(len(work.updates) // 4)
        procs[0].send_signal(signal.SIGSTOP)  # mid-batch: its batches are paid, not published
        stopped_at = watcher.distinct
        time.sleep(10)  # past the 6 s session timeout: b takes a's partitions over
        taken_over = watcher.distinct - stopped_at
        procs[0].send_signal(signal.SIGCONT)
        producer.join(60)
        settle_s = settle(stack, work)
        alive = [p.poll() is None for p in procs]
        fenced_status = procs[0].wait(30)  # the zombie fences itself as soon as it runs
        for proc in procs:
            if proc.poll() is None:
                stop(proc)
        figures = measure(stack, work)
    report(
        "S11",
        figures,
        stopped_at=stopped_at,
        results_while_stopped=taken_over,
        settle_s=round(settle_s, 1),
        alive_after=alive,
    )
    assert taken_over > 0, "the other worker never took the stopped worker's partitions"
    assert fenced_status == EXIT_FENCED, f"the resumed worker exited with {fenced_status}"
    assert alive[1], "the worker that took over must keep running"
    assert figures.violations() == []


@pytest.mark.parametrize("ledger", [True, False], ids=["ledger-on", "ledger-off-control"])
def test_negative_control_oracle_catches_disabled_ledger(
    kafka_bootstrap: str,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    ledger: bool,
) -> None:
    """Every event delivered twice, the copy after the first is done (a replay)."""
    settings = fault_settings(kafka_bootstrap, tmp_path, backend_overhead_ms=50)
    work = make_workload(100, name="neg")
    env = {} if ledger else {"QLOOP_UNSAFE_DISABLE_LEDGER": "1"}
    with LocalStack(settings, worker=False) as stack:
        produce(settings, work)
        procs.append(spawn_worker(settings, "w0", {**FAST_GROUP, **env}))
        settle(stack, work)
        produce(settings, work, bad=False)  # the same events again
        settle(stack, work)
        time.sleep(1)  # let the sink commit what the replay produced
        settle(stack, work)
        stop(procs[0])
        figures = measure(stack, work)
    report(f"negative control ({'ledger on' if ledger else 'LEDGER OFF'})", figures)
    if ledger:
        assert figures.violations() == []
    else:
        problems = figures.violations()
        print("  oracle violations:", problems)
        assert any("topic" in p for p in problems), problems
        assert any("shots charged" in p for p in problems), problems
