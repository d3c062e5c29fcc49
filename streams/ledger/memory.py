"""In-memory twins of the ledger store and the outbox, for tests of the checkpoint order.

They keep one shared, ordered ``events`` log of every durable step (``claim``, ``flush``,
``publish``, ``outbox-flush``, ``done``, ``ack``...), so a test can assert the order in which
the checkpoint made things durable, and they can be told to fail the next flush, as a broker
outage would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from processors.budget import LocalClaimLog, SpendClaim
from processors.idempotency import IdempotencyLedger, is_done
from processors.job_book import MappingJobBook, ProviderJobBook
from streams.kafka.clients import PublishError
from streams.ledger.leases import SlotLeases


@dataclass
class EventLog:
    """An ordered record of durable steps, shared by the twins of one test."""

    events: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: str) -> None:
        """Append ``event``."""
        with self._lock:
            self.events.append(event)

    def index(self, prefix: str, start: int = 0) -> int:
        """Position of the first event at or after ``start`` that starts with ``prefix``."""
        for i, event in enumerate(self.events[start:], start):
            if event.startswith(prefix):
                return i
        raise ValueError(f"no event {prefix!r} after {start}: {self.events}")


class _LoggedMap(MutableMapping[str, str]):
    """A dict whose writes are logged as ``paid:<id>`` / ``done:<id>``."""

    def __init__(self, log: EventLog) -> None:
        self.data: dict[str, str] = {}
        self._log = log

    def __getitem__(self, key: str) -> str:
        return self.data[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._log.add(f"{'done' if is_done(value) else 'paid'}:{key}")
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class _LoggedClaims(LocalClaimLog):
    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log

    def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
        self._log.add(f"claim:{claim.tenant}:{len(claim.items)}")
        return super().submit(claim)


class MemoryLedgerStore:
    """:class:`~streams.ledger.store.LedgerStore` in a dict; failures on demand."""

    def __init__(self, log: EventLog | None = None, *, deduplicate: bool = True) -> None:
        self.log = log or EventLog()
        self.entries = _LoggedMap(self.log)
        self.idempotency = IdempotencyLedger(self.entries) if deduplicate else None
        self.claims = _LoggedClaims(self.log)
        self.leases: SlotLeases | None = None
        self.job_entries = _LoggedMap(self.log)
        self.provider_jobs: ProviderJobBook | None = MappingJobBook(self.job_entries, self.flush)
        self.dead: set[str] = set()
        #: Ids a test declares published by another worker (read by the stale-batch check).
        self.elsewhere: set[str] = set()
        self.fail_flushes = 0
        self.flushes = 0

    def reopen(self) -> MemoryLedgerStore:
        """A new store over the same durable state (what a restarted worker would read)."""
        again = MemoryLedgerStore(self.log, deduplicate=self.idempotency is not None)
        again.entries.data = self.entries.data
        if again.idempotency is not None:
            again.idempotency = IdempotencyLedger(again.entries)
        again.claims = self.claims
        again.job_entries.data = self.job_entries.data
        again.dead = self.dead
        return again

    def flush(self) -> None:
        """Count and log the flush; fail while ``fail_flushes`` > 0."""
        if self.fail_flushes > 0:
            self.fail_flushes -= 1
            self.log.add("flush-failed")
            raise PublishError("ledger writes not acknowledged (test)")
        self.flushes += 1
        self.log.add("flush")

    def guard(self) -> None:
        """Log the check (a twin is never frozen)."""
        self.log.add("guard")

    def published_elsewhere(self, event_ids: list[str]) -> set[str]:
        """Ids marked done in the store, or declared in ``elsewhere`` by the test."""
        done = {e for e in event_ids if self.idempotency and self.idempotency.is_done(e)}
        return done | {e for e in event_ids if e in self.elsewhere}

    def is_dead_lettered(self, source: str) -> bool:
        """Whether ``source`` was recorded."""
        return source in self.dead

    def record_dead_lettered(self, sources: list[str]) -> None:
        """Record ``sources``."""
        for source in sources:
            self.log.add(f"dead:{source}")
            self.dead.add(source)


class MemoryOutbox:
    """:class:`~streams.ledger.store.Outbox` in a list; ``fail_flushes`` fails the next ones."""

    def __init__(self, log: EventLog | None = None) -> None:
        self.log = log or EventLog()
        self.pending: list[tuple[str, str | None, Any]] = []
        self.delivered: list[tuple[str, str | None, Any]] = []
        self.fail_flushes = 0
        self.headers: list[dict[str, str]] = []
        self.record_headers: dict[tuple[str, str | None], dict[str, str]] = {}
        self._lock = threading.Lock()

    def publish(
        self, topic: str, key: str | None, record: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Queue ``record``; its headers are kept in :attr:`record_headers` by (topic, key)."""
        if headers:
            self.record_headers[(topic, key)] = dict(headers)
        with self._lock:
            self.pending.append((topic, key, record))
        self.log.add(f"publish:{topic}:{key}")

    def publish_raw(
        self, topic: str, key: str | None, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Queue bytes forwarded unchanged; their headers are kept in :attr:`headers`."""
        self.headers.append(dict(headers or {}))
        self.publish(topic, key, value)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Deliver what is queued, or lose it all and raise while ``fail_flushes`` > 0."""
        with self._lock:
            queued, self.pending = self.pending, []
            if self.fail_flushes > 0:
                self.fail_flushes -= 1
                self.log.add("outbox-flush-failed")
                raise PublishError(f"{len(queued)} message(s) timed out (test)")
            self.delivered.extend(queued)
        self.log.add("outbox-flush")

    def records(self, topic: str) -> list[Any]:
        """Delivered records of ``topic``, in order."""
        return [record for t, _key, record in self.delivered if t == topic]


__all__ = ["EventLog", "MemoryLedgerStore", "MemoryOutbox"]
