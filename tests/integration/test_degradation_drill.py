"""The degradation drill: a fake device marked down mid-run, then back up.

While it is down, the tenants that allow it get DEGRADED results from a simulator with the
device's noise model, naming the fallback and the reason; other tenants get backend_unavailable,
uncharged. Once it is back, results are SUCCEEDED on the device again. The SLI counts the
degraded results and ClickHouse keeps both marks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pipeline_support import run_qloop, sampler_circuit, stack_settings, wait_for_sink, wait_until

from processors import make_template
from schemas import CircuitTemplate, ErrorCode, JobResult, ParameterUpdate, ResultStatus
from sinks import query
from streams.client import QloopClient, new_update
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

DEVICE = "fake_manila"


@pytest.fixture
def stack(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap, tmp_path / "stack", max_wait_ms=100, degrade_tenants=("drill",)
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


class Drill:
    def __init__(self, client: QloopClient, template: CircuitTemplate) -> None:
        self.client, self.template, self.sent = client, template, []

    def round(self, n: int = 4, tenant: str = "drill") -> list[JobResult]:
        updates = [
            new_update(self.template, [0.2 * i, 0.4, 1.1, -0.3], experiment_id="drill",
                       tenant=tenant, backend=DEVICE, shots=500)
            for i in range(n)
        ]  # fmt: skip
        self.sent += [u.event_id for u in updates]
        return self.client.evaluate(updates, 120)

    def until(self, status: ResultStatus) -> None:
        wait_until(lambda: self.round(1)[0].status is status, 60, f"a {status} result")


def test_the_degradation_drill(stack: LocalStack) -> None:
    template = make_template(sampler_circuit(2, prefix="dd"), "drill")
    with QloopClient(stack.settings) as client:
        client.register_template(template)
        drill = Drill(client, template)
        before = drill.round()
        assert {r.status for r in before} == {ResultStatus.SUCCEEDED}
        assert {r.reproducibility.backend_name for r in before} == {DEVICE}

        down = run_qloop(
            stack.settings, "backends", "down", DEVICE, "--reason", "drill: recalibration"
        )
        assert down.returncode == 0, down.stderr
        drill.until(ResultStatus.DEGRADED)
        during = drill.round()
        for r in during:
            assert r.status is ResultStatus.DEGRADED and r.backend == DEVICE
            assert r.reproducibility.backend_name == f"aer_simulator@{DEVICE}"
            assert r.error_code == ErrorCode.BACKEND_UNAVAILABLE
            assert "drill: recalibration" in (r.error_message or "")
            assert f"ran on aer_simulator@{DEVICE}" in (r.error_message or "")
            assert sum((r.counts or {}).values()) == 500
        strict = drill.round(2, tenant="strict")
        for r in strict:
            assert r.status is ResultStatus.FAILED and r.job_id is None and r.cost == 0.0
            assert r.error_code == ErrorCode.BACKEND_UNAVAILABLE
        listed = run_qloop(stack.settings, "backends", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (mark,) = [m for m in json.loads(listed.stdout) if m["backend"] == DEVICE]
        assert not mark["available"] and mark["reason"] == "drill: recalibration"

        assert run_qloop(stack.settings, "backends", "up", DEVICE).returncode == 0
        drill.until(ResultStatus.SUCCEEDED)
        after = drill.round()
        assert {r.status for r in after} == {ResultStatus.SUCCEEDED}
        assert {r.reproducibility.backend_name for r in after} == {DEVICE}

    wait_for_sink(stack, drill.sent)
    dsn = stack.settings.dsn
    _c, rows = query(
        dsn,
        "SELECT countIf(status = 'DEGRADED') FROM qloop.results FINAL "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": drill.sent},
    )
    degraded = rows[0][0]
    assert degraded >= len(during) + 1  # the round, and the probe that saw the mark
    _c, rows = query(
        dsn,
        "SELECT sum(degraded) FROM qloop.sli_results_minute "
        "WHERE backend = {b:String} AND tenant = 'drill'",
        {"b": DEVICE},
    )
    assert rows[0][0] == degraded  # the SLI counts every degraded result, none silently
    marks = [("down", "drill: recalibration"), ("up", "")]

    def audited() -> list[tuple[str, str]]:
        sql = (
            "SELECT if(available, 'up', 'down'), reason FROM qloop.backend_status FINAL "
            "WHERE backend = {b:String} ORDER BY changed_at"
        )
        return [tuple(r) for r in query(dsn, sql, {"b": DEVICE})[1]]  # type: ignore[misc]

    wait_until(lambda: audited() == marks, 60, "both marks in qloop.backend_status")


def test_marking_an_unknown_backend_is_one_clear_error(stack: LocalStack) -> None:
    proc = run_qloop(stack.settings, "backends", "down", "nope", "--reason", "x")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown backend 'nope'" in lines[0]


def test_a_class_request_goes_to_the_cheapest_member_that_is_up(stack: LocalStack) -> None:
    """``hardware:ibm`` lands on fake_manila (cheaper); while manila is marked down, on
    fake_brisbane, SUCCEEDED (not degraded: another member of the class was up)."""
    template = make_template(sampler_circuit(2, prefix="pl"), "placement")

    def placed(tenant: str = "strict") -> JobResult:
        update = new_update(template, [0.3, 0.1, 0.2, 0.4], experiment_id="placement",
                            tenant=tenant, backend="hardware:ibm", shots=200)  # fmt: skip
        (result,) = client.evaluate([update], 120)
        return result

    with QloopClient(stack.settings) as client:
        client.register_template(template)
        first = placed()
        assert first.status is ResultStatus.SUCCEEDED and first.backend == DEVICE
        assert first.labels["qloop.backend_class"] == "hardware:ibm"
        assert first.labels["qloop.placement"].startswith("cheapest of 2")
        assert (
            run_qloop(stack.settings, "backends", "down", DEVICE, "--reason", "drill").returncode
            == 0
        )
        wait_until(lambda: placed().backend == "fake_brisbane", 60, "placement on fake_brisbane")
        during = placed()
        assert during.status is ResultStatus.SUCCEEDED
        assert during.reproducibility.backend_name == "fake_brisbane"
        assert sum((during.counts or {}).values()) == 200
        assert run_qloop(stack.settings, "backends", "up", DEVICE).returncode == 0
        wait_until(lambda: placed().backend == DEVICE, 60, "placement back on fake_manila")


@pytest.fixture
def slow_stack(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LocalStack]:
    """Every device submission takes 3 s more (a cloud queue); the stand-in does not."""
    settings = stack_settings(
        kafka_bootstrap, tmp_path / "slow", max_wait_ms=100, degrade_tenants=("drill",),
        backend_overhead_ms=3000,
    )  # fmt: skip
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_a_set_that_would_miss_its_deadline_runs_on_the_stand_in(slow_stack: LocalStack) -> None:
    """The device is up but its measured 3 s per submission misses a 2 s deadline: a tenant
    that allows it gets DEGRADED from the stand-in, saying why; another tenant's set runs late
    on the device; a set without a deadline is never degraded."""
    template = make_template(sampler_circuit(2, prefix="dl"), "deadline")

    def update(tenant: str, deadline_s: float | None) -> ParameterUpdate:
        u = new_update(template, [0.5, 0.1, 0.7, 0.2], experiment_id="deadline",
                       tenant=tenant, backend=DEVICE, shots=300)  # fmt: skip
        if deadline_s is None:
            return u
        return replace(u, deadline=datetime.now(UTC) + timedelta(seconds=deadline_s))

    with QloopClient(slow_stack.settings) as client:
        client.register_template(template)
        (warm,) = client.evaluate([update("drill", None)], 120)  # the worker learns 3 s
        assert warm.status is ResultStatus.SUCCEEDED and warm.job_id
        late = client.evaluate([update("drill", 2.0) for _ in range(3)], 120)
        strict = client.evaluate([update("strict", 2.0)], 120)
        undated = client.evaluate([update("drill", None)], 120)
    for r in late:
        assert r.status is ResultStatus.DEGRADED and r.backend == DEVICE
        assert r.reproducibility.backend_name == f"aer_simulator@{DEVICE}"
        assert (r.error_message or "").startswith(f"{DEVICE} would miss the deadline")
        assert r.labels["qloop.placement"].endswith("to the deadline; stand-in")
        assert sum((r.counts or {}).values()) == 300
    assert len({r.job_id for r in late}) == 1  # batched together, apart from the device's sets
    (on_device,) = strict
    assert on_device.status is ResultStatus.SUCCEEDED
    assert on_device.reproducibility.backend_name == DEVICE
    assert undated[0].status is ResultStatus.SUCCEEDED
    wait_for_sink(slow_stack, [r.event_id for r in late])
    _c, rows = query(
        slow_stack.settings.dsn,
        "SELECT count() FROM qloop.results FINAL WHERE status = 'DEGRADED' "
        "AND backend = {b:String} AND event_id IN {ids:Array(String)}",
        {"b": DEVICE, "ids": [r.event_id for r in late]},
    )
    assert rows == [(3,)]
