from dataclasses import replace

from proc_factories import make_update

from processors import IdempotencyLedger, Seen


def test_lifecycle_and_conflict(sampler_template) -> None:
    store: dict[str, str] = {}
    ledger = IdempotencyLedger(store)
    update = make_update(sampler_template)
    assert ledger.check(update) is Seen.NEW
    ledger.mark(update)
    assert ledger.check(update) is Seen.IN_FLIGHT
    ledger.complete([update.event_id])
    assert ledger.check(update) is Seen.DUPLICATE
    assert IdempotencyLedger(store).check(update) is Seen.DUPLICATE  # survives a restart
    changed = replace(update, parameters=(9.0,) * len(update.parameters))
    assert ledger.check(changed) is Seen.CONFLICT
    assert ledger.check(replace(update, shots=999)) is Seen.CONFLICT


def test_trace_context_is_not_payload(sampler_template) -> None:
    ledger = IdempotencyLedger({})
    update = make_update(sampler_template)
    ledger.mark_done(update)
    assert ledger.check(replace(update, trace_context={"traceparent": "00-x"})) is Seen.DUPLICATE
