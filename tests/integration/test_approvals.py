"""The approval gate on the real broker: above the threshold a set waits; approve runs it once,
charged once; reject and expiry each give one REJECTED result; every step is audited."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import run_qloop, sampler_circuit, stack_settings, wait_for_sink, wait_until

from processors import make_template
from schemas import ErrorCode, ParameterUpdate, ResultStatus
from sinks import query
from streams.client import QloopClient, new_update
from streams.config import Settings
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

RULES = [{"tenant": "*", "backend": "fake_manila", "shots_over": 1000}]


@pytest.fixture
def gated(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[LocalStack]:
    settings = stack_settings(
        kafka_bootstrap,
        tmp_path / "stack",
        max_wait_ms=100,
        approval_rules=RULES,
        approval_ttl_s=request.param,
        prices={"fake_manila": {"per_shot": 0.001}},
    )
    with LocalStack(settings) as running:
        yield running
        running.check()


def _updates(client: QloopClient, shots: list[int]) -> list[ParameterUpdate]:
    template = make_template(sampler_circuit(2, prefix="ap"), "approvals")
    client.register_template(template)
    return [
        new_update(template, [0.1 * i, 0.2, 0.3, 0.4], experiment_id="gate", tenant="acme",
                   backend="fake_manila", shots=s)
        for i, s in enumerate(shots)
    ]  # fmt: skip


def _pending(settings: Settings) -> list[dict[str, object]]:
    proc = run_qloop(settings, "approvals", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _audit(settings: Settings, ids: list[str]) -> set[tuple[str, str, str | None]]:
    sql = (
        "SELECT request_id, status, decided_by FROM qloop.approvals FINAL "
        "WHERE request_id IN {ids:Array(String)}"
    )
    return {tuple(r) for r in query(settings.dsn, sql, {"ids": ids})[1]}  # type: ignore[misc]


@pytest.mark.parametrize("gated", [600.0], indirect=True)
def test_approve_runs_once_and_reject_gives_one_rejected_result(gated: LocalStack) -> None:
    settings = gated.settings
    with QloopClient(settings) as client:
        small, big, bigger = updates = _updates(client, [500, 2000, 3000])
        futures = client.submit(updates)
        assert futures[small.event_id].result(60).status is ResultStatus.SUCCEEDED
        wait_until(lambda: len(_pending(settings)) == 2, 30, "two approval requests")
        waiting = {r["request_id"]: r for r in _pending(settings)}
        assert set(waiting) == {big.event_id, bigger.event_id}
        assert waiting[big.event_id]["estimated_cost"] == pytest.approx(2.0)
        assert "shots over 1000" in str(waiting[big.event_id]["rule"])
        time.sleep(2)
        assert not futures[big.event_id].done()  # held: no result, nothing run

        refused = run_qloop(
            settings, "approvals", "approve", big.event_id, QLOOP_APPROVERS='["alice"]'
        )
        assert refused.returncode == 1 and "may not decide approvals" in refused.stderr
        ok = run_qloop(settings, "approvals", "approve", big.event_id, "--reason", "budgeted")
        assert ok.returncode == 0, ok.stderr
        approved = futures[big.event_id].result(60)
        assert approved.status is ResultStatus.SUCCEEDED and approved.cost == pytest.approx(2.0)

        client.reject(bigger.event_id, "too expensive")
        rejected = futures[bigger.event_id].result(60)
        assert rejected.status is ResultStatus.REJECTED and rejected.cost == 0.0
        assert rejected.error_code == ErrorCode.APPROVAL_REJECTED
        assert rejected.error_message == f"rejected by {getpass.getuser()}: too expensive"

        again = run_qloop(settings, "approvals", "approve", big.event_id)
        assert again.returncode == 1 and "was already approved by" in again.stderr
        unknown = run_qloop(settings, "approvals", "reject", "no-such-request")
        assert unknown.returncode == 1
        assert "no approval request 'no-such-request'" in unknown.stderr.strip().splitlines()[-1]
        client.submit([big])  # the same set re-sent after it ran: not run or charged again
    ids = [u.event_id for u in updates]
    wait_for_sink(gated, ids)
    time.sleep(3)
    _c, rows = query(
        settings.dsn,
        "SELECT event_id, count(), sum(cost) FROM qloop.results "
        "WHERE event_id IN {ids:Array(String)} GROUP BY event_id",
        {"ids": ids},
    )
    assert {r[0]: (r[1], round(r[2], 6)) for r in rows} == {
        small.event_id: (1, 0.5),
        big.event_id: (1, 2.0),
        bigger.event_id: (1, 0.0),
    }
    user = getpass.getuser()
    expected = {
        (big.event_id, "PENDING", None), (big.event_id, "APPROVED", user),
        (bigger.event_id, "PENDING", None), (bigger.event_id, "REJECTED", user),
    }  # fmt: skip
    wait_until(lambda: _audit(settings, ids) == expected, 60, "the audit rows")


@pytest.mark.parametrize("gated", [3.0], indirect=True)
def test_an_unanswered_request_expires_as_one_rejected_result(gated: LocalStack) -> None:
    with QloopClient(gated.settings) as client:
        (big,) = _updates(client, [5000])
        (result,) = client.evaluate([big], 60)
    assert result.status is ResultStatus.REJECTED and result.cost == 0.0
    assert result.error_code == ErrorCode.APPROVAL_EXPIRED
    assert "expired unanswered" in (result.error_message or "")
    wait_for_sink(gated, [big.event_id])
    expected = {(big.event_id, "PENDING", None), (big.event_id, "EXPIRED", "qloop")}
    wait_until(lambda: _audit(gated.settings, [big.event_id]) == expected, 60, "the audit rows")
