"""One behaviour suite for every ledger store: the in-memory twin (unit) and Kafka (integration).

Each check takes a started store and a ``reopen`` that returns a fresh store over the same
durable state (a restarted worker), so both implementations answer the same questions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.budget import Budget, BudgetLedger, ClaimItem
from processors.idempotency import Seen

Store = Any
Reopen = Callable[[], Store]


def _claim(store: Store, tenant: str, ids: list[str], shots: float, limit: float) -> tuple:
    budget = BudgetLedger({tenant: Budget(shots=limit)}, log=store.claims)
    items = [ClaimItem(e, f"d-{e}", shots, 0.0) for e in ids]
    verdicts = budget.admit(f"claim-{ids[0]}", tenant, items)
    if not budget.marks_paid:  # a log that does not record paid marks leaves it to the caller
        for item, ok in zip(items, verdicts, strict=True):
            if ok:
                store.idempotency.mark(item.event_id, item.digest)
    return verdicts


def paid_then_done_survives_a_restart(store: Store, reopen: Reopen) -> None:
    """A granted set is PAID, a completed one DONE, and a restarted store agrees."""
    assert store.idempotency.check("e1", "d-e1") is Seen.NEW
    assert _claim(store, "acme", ["e1", "e2"], 10, 100) == (True, True)
    assert store.idempotency.check("e1", "d-e1") is Seen.PAID
    assert store.idempotency.check("e1", "other") is Seen.CONFLICT
    store.idempotency.complete(["e1"])
    store.flush()
    again = reopen()
    assert again.idempotency.check("e1", "d-e1") is Seen.DUPLICATE
    assert again.idempotency.check("e2", "d-e2") is Seen.PAID
    assert again.published_elsewhere(["e1", "e2", "e3"]) == {"e1"}


def claims_never_overspend(store: Store, reopen: Reopen) -> None:
    """Sets that do not fit the budget are refused, and the spend survives a restart."""
    assert _claim(store, "t1", ["a", "b", "c"], 40, 100) == (True, True, False)
    store.flush()
    assert reopen().claims.spent("t1")[0] == 80


def dead_letters_are_remembered(store: Store, reopen: Reopen) -> None:
    """A recorded dead-letter source is known, now and after a restart."""
    assert not store.is_dead_lettered("topic:0:5")
    store.record_dead_lettered(["topic:0:5"])
    store.flush()
    assert store.is_dead_lettered("topic:0:5")
    assert reopen().is_dead_lettered("topic:0:5")
    assert not reopen().is_dead_lettered("topic:0:6")


CHECKS = [paid_then_done_survives_a_restart, claims_never_overspend, dead_letters_are_remembered]
