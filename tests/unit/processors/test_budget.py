import random

import pytest

from processors import Budget, BudgetLedger, InvalidBudgetError
from schemas import ErrorCode


@pytest.mark.parametrize("seed", range(20))
def test_random_debits_never_overspend(seed: int) -> None:
    rng = random.Random(seed)
    limits = {"a": Budget(shots=rng.randint(1, 5000)), "b": Budget(cost=rng.uniform(0.5, 20))}
    store: dict[str, float] = {}
    ledger = BudgetLedger(store, limits)
    granted = {"a": [0, 0.0], "b": [0, 0.0]}
    for _ in range(300):
        tenant = rng.choice("ab")
        shots, cost = rng.randint(0, 700), rng.uniform(0, 2)
        if ledger.try_debit(tenant, shots, cost):
            granted[tenant][0] += shots
            granted[tenant][1] += cost
    assert granted["a"][0] <= limits["a"].shots
    assert granted["b"][1] <= limits["b"].cost + 1e-9
    assert ledger.spent("a")[0] == granted["a"][0]
    # A restarted worker reading the same store keeps refusing what no longer fits.
    restarted = BudgetLedger(store, limits)
    assert not restarted.try_debit("a", int(limits["a"].shots - granted["a"][0]) + 1, 0.0)


def test_exact_fit_and_refusal_writes_nothing() -> None:
    store: dict[str, float] = {}
    ledger = BudgetLedger(store, {"t": Budget(shots=1000)})
    assert ledger.try_debit("t", 600, 0.0)
    assert not ledger.try_debit("t", 401, 0.0)
    assert ledger.spent("t") == (600.0, 0.0)
    assert ledger.try_debit("t", 400, 0.0)
    assert not ledger.try_debit("t", 1, 0.0)


def test_unlisted_tenants_follow_default() -> None:
    assert BudgetLedger({}, {}).try_debit("anyone", 10**9, 1e9)
    assert not BudgetLedger({}, {}, default=Budget(shots=5)).try_debit("anyone", 6, 0.0)


@pytest.mark.parametrize(
    "bad", [Budget(shots=-1), Budget(shots=0), Budget(cost=float("nan")), Budget(cost=float("inf"))]
)
def test_invalid_budgets_are_refused(bad: Budget) -> None:
    with pytest.raises(InvalidBudgetError) as info:
        BudgetLedger({}, {"t": bad})
    assert info.value.code is ErrorCode.INVALID_BUDGET
    ledger = BudgetLedger({}, {})
    with pytest.raises(InvalidBudgetError):
        ledger.set_budget("t", bad)


def test_two_writers_sharing_a_store_see_each_others_spending() -> None:
    """Per-writer counters: neither worker overwrites the other's spend (last-writer-wins)."""
    from processors.budget import Budget, BudgetLedger

    store: dict[str, float] = {}
    a = BudgetLedger(store, {"t": Budget(shots=1000)}, writer="a")
    b = BudgetLedger(store, {"t": Budget(shots=1000)}, writer="b")
    assert a.try_debit("t", 400, 0.0)
    assert b.try_debit("t", 400, 0.0)
    assert not a.try_debit("t", 300, 0.0)  # 800 spent in total: 300 more would overspend
    assert a.spent("t") == b.spent("t") == (800.0, 0.0)
    assert store == {"t/shots@a": 400.0, "t/cost@a": 0.0, "t/shots@b": 400.0, "t/cost@b": 0.0}
