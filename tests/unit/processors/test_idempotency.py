from dataclasses import replace

from proc_factories import make_update

from processors import IdempotencyLedger, Seen, payload_digest


def _seen(ledger: IdempotencyLedger, update) -> Seen:
    return ledger.check(update.event_id, payload_digest(update))


def test_lifecycle_and_conflict(sampler_template) -> None:
    store: dict[str, str] = {}
    ledger = IdempotencyLedger(store)
    update = make_update(sampler_template)
    assert _seen(ledger, update) is Seen.NEW
    ledger.mark(update.event_id, payload_digest(update))
    assert _seen(ledger, update) is Seen.PAID
    assert not ledger.is_done(update.event_id)
    ledger.complete([update.event_id])
    assert _seen(ledger, update) is Seen.DUPLICATE
    assert ledger.is_done(update.event_id)
    assert _seen(IdempotencyLedger(store), update) is Seen.DUPLICATE  # survives a restart
    changed = replace(update, parameters=(9.0,) * len(update.parameters))
    assert _seen(ledger, changed) is Seen.CONFLICT
    assert _seen(ledger, replace(update, shots=999)) is Seen.CONFLICT


def test_trace_context_is_not_payload(sampler_template) -> None:
    ledger = IdempotencyLedger({})
    update = make_update(sampler_template)
    ledger.mark_done(update.event_id, payload_digest(update))
    retried = replace(update, trace_context={"traceparent": "00-x"})
    assert _seen(ledger, retried) is Seen.DUPLICATE


def test_the_stored_format_is_written_in_one_place() -> None:
    from processors.idempotency import done_entry, entry_digest, is_done, paid_entry

    assert entry_digest(paid_entry("abc")) == "abc" == entry_digest(done_entry("abc"))
    assert is_done(done_entry("abc")) and not is_done(paid_entry("abc"))
    assert not is_done(None) and not is_done(42)
