"""The approval gate's rules: which sets need a human yes, and what a decision makes of them.

Policy is a list of rules (``QLOOP_APPROVAL_RULES``); a set needs approval when any rule
matches its tenant and backend (shell patterns) and either names no threshold (any such work,
e.g. every real device) or the set goes over one (estimated cost, shots). A set that needs
approval is not charged and holds no slot until it is approved; a rejection or an expiry ends
it as one ``REJECTED`` result. Pure: the log of requests and decisions lives in ``streams``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from processors.backends.base import Price
from processors.budget import estimate_cost
from processors.pending import PendingSet
from processors.results import Outcome
from schemas import Approval, ApprovalStatus, ErrorCode, ParameterUpdate, Primitive, ResultStatus


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """Sets of ``tenant`` on ``backend`` need approval: always, or over a threshold."""

    tenant: str = "*"
    backend: str = "*"
    cost_over: float | None = None
    shots_over: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ApprovalRule:
        """One rule from configuration; unknown keys are refused (a typo must not pass)."""
        unknown = set(raw) - {"tenant", "backend", "cost_over", "shots_over"}
        if unknown:
            raise ValueError(f"approval rule {dict(raw)!r}: unknown key(s) {sorted(unknown)}")
        return cls(**raw)

    def describe(self) -> str:
        """The rule in words, as the request records it."""
        scope = f"{self.tenant} on {self.backend}"
        limits = []
        if self.cost_over is not None:
            limits.append(f"cost over {self.cost_over:g}")
        if self.shots_over is not None:
            limits.append(f"shots over {self.shots_over}")
        return f"{scope}: {' or '.join(limits) if limits else 'any work'}"

    def applies(self, tenant: str, backend: str, shots: int, cost: float) -> bool:
        """Whether a set of ``tenant`` on ``backend`` with these figures needs approval."""
        if not (fnmatchcase(tenant, self.tenant) and fnmatchcase(backend, self.backend)):
            return False
        if self.cost_over is None and self.shots_over is None:
            return True
        over_cost = self.cost_over is not None and cost > self.cost_over
        over_shots = self.shots_over is not None and shots > self.shots_over
        return over_cost or over_shots


@dataclass(frozen=True, slots=True)
class Need:
    """Why a set needs approval, and what the approver is shown."""

    rule: str
    shots: int
    estimated_cost: float


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Every rule, with the prices and default shots that estimate a set's cost."""

    rules: tuple[ApprovalRule, ...] = ()
    prices: Mapping[str, Price] | None = None
    default_shots: int = 1024
    ttl: timedelta = timedelta(days=1)

    @classmethod
    def of(
        cls,
        rules: Sequence[Mapping[str, Any]],
        prices: Mapping[str, Price],
        default_shots: int,
        ttl_s: float,
    ) -> ApprovalPolicy:
        """The policy from configuration."""
        return cls(
            tuple(ApprovalRule.parse(r) for r in rules),
            dict(prices),
            default_shots,
            timedelta(seconds=ttl_s),
        )

    def needs(self, update: ParameterUpdate) -> Need | None:
        """Why ``update`` needs approval, or None when it does not."""
        if not self.rules:
            return None
        shots = 0
        if update.primitive is Primitive.SAMPLER:
            shots = update.shots if update.shots is not None else self.default_shots
        price = (self.prices or {}).get(update.backend, Price())
        cost = estimate_cost(price, shots)
        for rule in self.rules:
            if rule.applies(update.tenant, update.backend, shots, cost):
                return Need(rule.describe(), shots, cost)
        return None

    def request(self, pending: PendingSet, need: Need, now: datetime) -> Approval:
        """The PENDING request for ``pending``, carrying the update as received."""
        update = pending.update
        return Approval(
            request_id=update.event_id,
            status=ApprovalStatus.PENDING,
            tenant=update.tenant,
            backend=update.backend,
            experiment_id=update.experiment_id,
            template_id=update.template_id,
            shots=need.shots,
            estimated_cost=need.estimated_cost,
            rule=need.rule,
            requested_at=now,
            expires_at=now + self.ttl,
            update=pending.raw or b"",
        )


def outcome_of(decision: Approval | None) -> Outcome | None:
    """What a set that needs approval becomes: None to run it, else its final REJECTED outcome.

    No decision at admission means the set bypassed the gate (written past intake): it is
    refused rather than run unapproved.
    """
    if decision is not None and decision.status is ApprovalStatus.APPROVED:
        return None
    if decision is None or decision.status is ApprovalStatus.PENDING:
        code, message = ErrorCode.APPROVAL_REJECTED, "needs approval and has none"
    elif decision.status is ApprovalStatus.EXPIRED:
        code = ErrorCode.APPROVAL_EXPIRED
        message = f"approval request expired unanswered at {decision.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    else:
        code = ErrorCode.APPROVAL_REJECTED
        why = f": {decision.reason}" if decision.reason else ""
        message = f"rejected by {decision.decided_by}{why}"
    return Outcome(status=ResultStatus.REJECTED, error_code=code, error_message=message)


__all__ = ["ApprovalPolicy", "ApprovalRule", "Need", "outcome_of"]
