"""The ledger behaviour suite on the in-memory twin (the same suite runs on Kafka)."""

from __future__ import annotations

import pytest
from ledger_contract import CHECKS

from streams.ledger.memory import MemoryLedgerStore


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_memory_store(check) -> None:
    store = MemoryLedgerStore()
    check(store, store.reopen)
