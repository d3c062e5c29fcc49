"""Where each set's provider job is remembered, so that no paid job is submitted twice.

An entry ``event id -> JobRef`` is written (and made durable) as soon as the provider accepts
the job, before the worker waits on it. A retry of the set, or a worker that takes the set over
after a crash, finds the entry and re-attaches to the job (see
:mod:`processors.backends.ibm_jobs`). The production book is a namespace of the ledger topic,
so entries expire with the ledger's window like every other mark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Protocol

from processors.backends.provider_jobs import JobRef


class ProviderJobBook(Protocol):
    """Event id -> the provider job holding its result."""

    def find(self, event_id: str) -> JobRef | None:
        """The job a set was submitted in, if it was."""
        ...

    def remember(self, refs: Mapping[str, JobRef]) -> None:
        """Record ``refs``; durable when this returns."""
        ...


class MappingJobBook:
    """A :class:`ProviderJobBook` on a string mapping (a ledger view) and its flush.

    Args:
        store: Event id -> encoded :class:`JobRef`.
        flush: Makes the writes durable (the ledger's flush); raises if it cannot.

    """

    def __init__(self, store: MutableMapping[str, str], flush: Callable[[], None]) -> None:
        self._store = store
        self._flush = flush

    def find(self, event_id: str) -> JobRef | None:
        """Decode the entry of ``event_id``."""
        text = self._store.get(event_id)
        return None if text is None else JobRef.decode(text)

    def remember(self, refs: Mapping[str, JobRef]) -> None:
        """Write every entry, then flush."""
        for event_id, ref in refs.items():
            self._store[event_id] = ref.encode()
        self._flush()


__all__ = ["MappingJobBook", "ProviderJobBook"]
