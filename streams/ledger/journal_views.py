"""What the ledgers see of the journal: one namespace as a mapping, and the claim log.

The idempotency ledger and the dead-letter index each take one namespace (``event/``,
``dead/``) as a plain ``MutableMapping``, and the budget ledger takes a
:class:`~processors.budget.ClaimLog`: neither knows it is backed by a Kafka topic.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol, TypeVar

from processors.budget import SpendClaim

V = TypeVar("V")


class Journal(Protocol):
    """What the views use of :class:`streams.ledger.journal.KafkaJournal`."""

    def get(self, key: str, default: Any = None) -> Any:
        """Current value of ``key``."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` (durable after a flush)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        ...

    def keys_in(self, namespace: str) -> list[str]:
        """Every key in ``namespace``."""
        ...

    def submit_claim(self, claim: SpendClaim, timeout_s: float = 60.0) -> tuple[bool, ...]:
        """Append a budget claim and return its verdicts."""
        ...

    def claims_spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant``."""
        ...


class JournalView(MutableMapping[str, V]):
    """The keys of one namespace of a :class:`KafkaJournal` (``"event/"``), as a mapping."""

    def __init__(self, journal: Journal, namespace: str) -> None:
        if not namespace.endswith("/") or namespace.count("/") != 1:
            raise ValueError(f"a journal namespace is one word and a slash, not {namespace!r}")
        self._journal = journal
        self._namespace = namespace

    def __getitem__(self, key: str) -> V:
        sentinel = object()
        value = self._journal.get(self._namespace + key, sentinel)
        if value is sentinel:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: V) -> None:
        self._journal.set(self._namespace + key, value)

    def __delitem__(self, key: str) -> None:
        self._journal.delete(self._namespace + key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._journal.keys_in(self._namespace))

    def __len__(self) -> int:
        return len(self._journal.keys_in(self._namespace))


class JournalClaimLog:
    """Budget claims decided on the journal's topic: one order for every worker."""

    marks_paid = True

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
        """Append ``claim`` and wait for its verdicts (see :meth:`KafkaJournal.submit_claim`)."""
        return self._journal.submit_claim(claim)

    def spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` so far."""
        return self._journal.claims_spent(tenant)


__all__ = ["JournalClaimLog", "JournalView"]
