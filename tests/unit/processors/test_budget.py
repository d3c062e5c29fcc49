import random

import pytest

from processors import Budget, BudgetLedger, InvalidBudgetError
from processors.budget import ClaimBook, ClaimItem, LocalClaimLog, SpendClaim
from schemas import ErrorCode


@pytest.mark.parametrize("seed", range(20))
def test_random_debits_never_overspend(seed: int) -> None:
    rng = random.Random(seed)
    limits = {"a": Budget(shots=rng.randint(1, 5000)), "b": Budget(cost=rng.uniform(0.5, 20))}
    log = LocalClaimLog()
    ledger = BudgetLedger(limits, log=log)
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
    # A restarted worker on the same log keeps refusing what no longer fits.
    restarted = BudgetLedger(limits, log=log)
    assert not restarted.try_debit("a", int(limits["a"].shots - granted["a"][0]) + 1, 0.0)


def test_exact_fit_and_refusal_charges_nothing() -> None:
    ledger = BudgetLedger({"t": Budget(shots=1000)})
    assert ledger.try_debit("t", 600, 0.0)
    assert not ledger.try_debit("t", 401, 0.0)
    assert ledger.spent("t") == (600.0, 0.0)
    assert ledger.try_debit("t", 400, 0.0)
    assert not ledger.try_debit("t", 1, 0.0)


def test_unlisted_tenants_follow_default() -> None:
    assert BudgetLedger({}).try_debit("anyone", 10**9, 1e9)
    assert not BudgetLedger({}, default=Budget(shots=5)).try_debit("anyone", 6, 0.0)


@pytest.mark.parametrize(
    "bad", [Budget(shots=-1), Budget(shots=0), Budget(cost=float("nan")), Budget(cost=float("inf"))]
)
def test_invalid_budgets_are_refused(bad: Budget) -> None:
    with pytest.raises(InvalidBudgetError) as info:
        BudgetLedger({"t": bad})
    assert info.value.code is ErrorCode.INVALID_BUDGET
    ledger = BudgetLedger({})
    with pytest.raises(InvalidBudgetError):
        ledger.set_budget("t", bad)


def _claim(claim_id: str, shots: list[float], limit: float = 1000) -> SpendClaim:
    items = tuple(ClaimItem(f"{claim_id}-{k}", "d", s, 0.0) for k, s in enumerate(shots))
    return SpendClaim(claim_id, "t", Budget(shots=limit), items)


def test_concurrent_claims_are_decided_by_log_order() -> None:
    """Two workers each saw 0 spent and claimed 600 of 1000: only the first to land gets it."""
    first, second = _claim("a", [300, 300]), _claim("b", [300, 300])
    book = ClaimBook()
    assert book.apply(first) == (True, True)
    assert book.apply(second) == (True, False)  # 900 spent: the last 300 would overspend
    assert book.spent("t") == (900.0, 0.0)
    # Every reader of the same log reaches the same verdicts.
    replay = ClaimBook()
    assert [replay.apply(c) for c in (first, second)] == [(True, True), (True, False)]


def test_items_are_judged_one_by_one_and_the_writers_budget_travels_with_the_claim() -> None:
    book = ClaimBook()
    assert book.apply(_claim("a", [900, 200, 100])) == (True, False, True)
    # A writer configured with a larger budget is judged by its own (recorded) limit.
    assert book.apply(_claim("b", [500], limit=1500)) == (True,)
    assert book.apply(_claim("c", [1], limit=1000)) == (False,)


def _costly(claim_id: str, costs: list[float], limit: float = 1.0) -> SpendClaim:
    items = tuple(ClaimItem(f"{claim_id}-{k}", "d", 1.0, c) for k, c in enumerate(costs))
    return SpendClaim(claim_id, "t", Budget(cost=limit), items)


def test_a_reader_that_starts_after_retention_reaches_the_verdicts_of_one_that_saw_all() -> None:
    """Totals through position 2 stand in for the deleted claims 0-2, to the last bit."""
    log = [_costly(f"c{k}", [0.1, 0.07, 0.03]) for k in range(6)]  # 0.2 each, limit 1.0
    full = ClaimBook()
    verdicts = [full.apply(claim, position) for position, claim in enumerate(log[:3])]
    totals = full.spent("t")  # written at position 3 by some reader, through position 2
    late = ClaimBook()  # starts at position 3: claims 0-2 were deleted
    full.apply_totals("t", 2, *totals)
    late.apply_totals("t", 2, *totals)
    for position, claim in enumerate(log[3:], 3):
        verdicts.append(full.apply(claim, position))
        assert late.apply(claim, position) == verdicts[-1]
        assert late.spent("t") == full.spent("t")  # bit for bit: same sums in the same order
    assert verdicts[4] == (True, True, True) and verdicts[5] == (False, False, False)


def test_totals_cover_only_the_claims_before_their_position() -> None:
    """Totals written through position 0 and read after claim 1: claim 1 still counts."""
    book = ClaimBook()
    book.apply(_claim("a", [100]), 0)
    book.apply(_claim("b", [200]), 1)
    book.apply_totals("t", 0, 100.0, 0.0)
    assert book.spent("t") == (300.0, 0.0)
    book.apply_totals("t", 1, 300.0, 0.0)
    book.apply_totals("t", 0, 100.0, 0.0)  # an older reader's totals landing late: ignored
    assert book.spent("t") == (300.0, 0.0)
    book.apply(_claim("c", [50]), 3)
    assert book.spent("t") == (350.0, 0.0)
    assert book.tenants() == ["t"]


def test_two_ledgers_sharing_a_log_see_each_others_spending() -> None:
    log = LocalClaimLog()
    a = BudgetLedger({"t": Budget(shots=1000)}, log=log)
    b = BudgetLedger({"t": Budget(shots=1000)}, log=log)
    assert a.try_debit("t", 400, 0.0)
    assert b.try_debit("t", 400, 0.0)
    assert not a.try_debit("t", 300, 0.0)  # 800 spent in total: 300 more would overspend
    assert a.spent("t") == b.spent("t") == (800.0, 0.0)


def test_negative_or_non_finite_charges_are_programming_errors() -> None:
    ledger = BudgetLedger({})
    with pytest.raises(ValueError, match="non-negative"):
        ledger.admit("x", "t", [ClaimItem("e", "d", -1, 0.0)])
    with pytest.raises(ValueError, match="non-negative"):
        ledger.admit("x", "t", [ClaimItem("e", "d", 1, float("nan"))])


def test_large_admissions_are_split_into_bounded_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    from processors import budget as budget_module

    monkeypatch.setattr(budget_module, "CLAIM_MAX_ITEMS", 3)
    submitted: list[SpendClaim] = []

    class Recording(LocalClaimLog):
        def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
            submitted.append(claim)
            return super().submit(claim)

    ledger = BudgetLedger({"t": Budget(shots=70)}, log=Recording())
    items = [ClaimItem(f"e{k}", "d", 10, 0.0) for k in range(8)]
    assert ledger.admit("c", "t", items) == (True,) * 7 + (False,)
    assert [len(c.items) for c in submitted] == [3, 3, 2]
    assert [c.claim_id for c in submitted] == ["c-0", "c-1", "c-2"]
