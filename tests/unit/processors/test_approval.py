"""Approval rules: which sets need a human yes, and what each decision makes of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from proc_factories import make_pending, make_update

from processors.approval import ApprovalPolicy, ApprovalRule, outcome_of
from processors.backends.base import Price
from schemas import ApprovalStatus, ErrorCode, Primitive, ResultStatus

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _policy(*rules: dict[str, object]) -> ApprovalPolicy:
    prices = {"ibm_torino": Price(per_shot=0.01), "fake_manila": Price(per_shot=0.001)}
    return ApprovalPolicy.of(list(rules), prices, default_shots=1024, ttl_s=60)


def test_any_real_hardware_and_thresholds(sampler_template) -> None:
    policy = _policy({"backend": "ibm_*"}, {"tenant": "acme", "cost_over": 1.5})
    on_hw = make_update(sampler_template, backend="ibm_torino", tenant="bob", shots=10)
    need = policy.needs(on_hw)
    assert need is not None and need.rule == "* on ibm_*: any work"
    assert need.estimated_cost == pytest.approx(0.1)
    cheap = make_update(sampler_template, backend="fake_manila", tenant="acme", shots=1000)
    dear = replace(cheap, shots=2000)
    assert policy.needs(cheap) is None  # cost 1.0
    need = policy.needs(dear)
    assert need is not None and need.rule == "acme on *: cost over 1.5" and need.shots == 2000
    other_tenant = replace(dear, tenant="bob")
    assert policy.needs(other_tenant) is None


def test_default_shots_count_and_estimator_sets_have_no_shots(sampler_template) -> None:
    policy = _policy({"shots_over": 1000})
    assert policy.needs(make_update(sampler_template, shots=None)) is not None  # 1024 default
    estimate = make_update(sampler_template, primitive=Primitive.ESTIMATOR, shots=None)
    assert policy.needs(estimate) is None
    assert ApprovalPolicy().needs(make_update(sampler_template)) is None  # no rules


def test_a_misspelt_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        ApprovalRule.parse({"backend": "ibm_*", "cost_above": 3})


def test_the_request_carries_the_update_and_its_deadline(sampler_template) -> None:
    pending = make_pending(sampler_template, backend="ibm_torino", shots=100)
    policy = _policy({"backend": "ibm_*"})
    need = policy.needs(pending.update)
    assert need is not None
    request = policy.request(pending, need, NOW)
    assert request.status is ApprovalStatus.PENDING and request.update == pending.raw
    assert request.expires_at - request.requested_at == timedelta(seconds=60)
    assert request.request_id == pending.update.event_id


def test_what_a_decision_makes_of_a_set(sampler_template) -> None:
    pending = make_pending(sampler_template, backend="ibm_torino")
    policy = _policy({"backend": "ibm_*"})
    need = policy.needs(pending.update)
    assert need is not None
    request = policy.request(pending, need, NOW)
    assert outcome_of(replace(request, status=ApprovalStatus.APPROVED)) is None
    rejected = outcome_of(
        replace(request, status=ApprovalStatus.REJECTED, decided_by="alice", reason="no")
    )
    assert rejected is not None and rejected.status is ResultStatus.REJECTED
    assert rejected.error_code is ErrorCode.APPROVAL_REJECTED
    assert rejected.error_message == "rejected by alice: no"
    expired = outcome_of(replace(request, status=ApprovalStatus.EXPIRED))
    assert expired is not None and expired.error_code is ErrorCode.APPROVAL_EXPIRED
    for undecided in (None, request):  # past the gate without a decision: never run
        refused = outcome_of(undecided)
        assert refused is not None and refused.status is ResultStatus.REJECTED
