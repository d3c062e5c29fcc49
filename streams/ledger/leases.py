"""Group-wide slot leases on the ledger topic (see :mod:`processors.leases`).

``lease/<backend>/<id>`` records are requests (``take``), renewals (``renew``, every third of
the TTL while the job runs) and releases (``free``); every journal decides them in log order
with a :class:`~processors.leases.LeaseBook`. A worker whose request is refused waits until a
lease is freed or expires, then asks again, holding its own in-flight slot meanwhile, so its
input waits in Kafka (backpressure).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from processors.leases import LeaseBook, LeaseRequest, lane_cap
from streams.kafka.clients import PublishError

log = logging.getLogger(__name__)
_PREFIX = b"lease/"


class SlotLeases(Protocol):
    """Where a submission takes a group-wide slot of its backend, and gives it back."""

    #: Seconds spent waiting for a slot, per backend (a metric).
    waited_s: dict[str, float]

    def take(self, backend: str, interactive: bool = False) -> str | None:
        """Block until a slot of ``backend`` is held; its lease id (None: no group limit).

        ``interactive``: the request may take the slots kept for the interactive lane.
        """
        ...

    def free(self, backend: str, lease_id: str) -> None:
        """Give the slot back."""
        ...


class LeaseJournal(Protocol):
    """What the leases use of :class:`streams.ledger.journal.KafkaJournal`."""

    @property
    def writer(self) -> str:
        """The id of this process in the journal."""
        ...

    def on_prefix(self, prefix: bytes, handler: Any) -> None:
        """Route the records under ``prefix`` to ``handler(key, value)``, in log order."""
        ...

    def write_now(self, key: str, value: Any) -> None:
        """Write ``key`` and wait for the broker's ack."""
        ...

    def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        """Block until ``predicate()`` holds (checked as records are applied)."""
        ...


class JournalLeases:
    """:class:`SlotLeases` decided on the ledger topic.

    Args:
        journal: The worker's journal.
        limits: Backend -> submissions the provider allows at once, for the whole group.
        ttl_s: How long a lease lasts if its holder never frees it (it crashed).
        reserved: Slots of each backend that only the interactive lane may take (a limit of
            1 reserves nothing).

    """

    def __init__(
        self, journal: LeaseJournal, limits: Mapping[str, int], ttl_s: float, reserved: int = 1
    ) -> None:
        self._journal = journal
        self._reserved = reserved
        self._limits = dict(limits)
        self._ttl_s = ttl_s
        self._book = LeaseBook()
        self._verdicts: dict[str, bool] = {}
        #: lease id -> set when it is freed (stops its renewals).
        self._renewing: dict[str, threading.Event] = {}
        #: Seconds spent waiting for a slot, per backend (a metric).
        self.waited_s: dict[str, float] = {}
        journal.on_prefix(_PREFIX, self._apply)

    def _apply(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            return
        backend, _, lease_id = key[len(_PREFIX) :].decode().rpartition("/")
        body = json.loads(value)
        v = body["v"]
        if v["op"] == "free":
            self._book.free(backend, lease_id)
            return
        if v["op"] == "renew":
            if not self._book.renew(backend, lease_id, v["at"], v["ttl"]):
                log.warning("lease %s of %s expired before its renewal", lease_id, backend)
            return
        request = LeaseRequest(lease_id, backend, v["limit"], v["ttl"], v["at"], v.get("cap"))
        granted = self._book.take(request)
        if body["w"] == self._journal.writer:
            self._verdicts[lease_id] = granted

    def take(self, backend: str, interactive: bool = False) -> str | None:
        """Ask in the log until a slot is granted; None when ``backend`` has no group limit."""
        limit = self._limits.get(backend)
        if limit is None:
            return None
        cap = lane_cap(limit, interactive, self._reserved)
        started = time.monotonic()
        while True:
            lease_id = uuid.uuid4().hex
            request = {
                "op": "take", "limit": limit, "cap": cap, "ttl": self._ttl_s, "at": time.time()
            }  # fmt: skip
            self._journal.write_now(f"lease/{backend}/{lease_id}", request)
            decided = lambda lease_id=lease_id: lease_id in self._verdicts  # noqa: E731
            if not self._journal.wait_for(decided, 60.0):
                raise PublishError(f"lease request {lease_id} not read back in 60 s")
            if self._verdicts.pop(lease_id):
                waited = time.monotonic() - started
                self.waited_s[backend] = self.waited_s.get(backend, 0.0) + waited
                self._keep_renewed(backend, lease_id)
                return lease_id
            # Every slot is held: wait for a release or an expiry, then ask again.
            self._journal.wait_for(lambda: self._book.held(backend, time.time()) < cap, 1.0)

    def _keep_renewed(self, backend: str, lease_id: str) -> None:
        freed = self._renewing[lease_id] = threading.Event()

        def renew() -> None:
            while not freed.wait(self._ttl_s / 3):
                request = {"op": "renew", "ttl": self._ttl_s, "at": time.time()}
                try:
                    self._journal.write_now(f"lease/{backend}/{lease_id}", request)
                except PublishError as exc:  # the next third of the TTL tries again
                    log.warning("lease %s of %s not renewed: %s", lease_id, backend, exc)

        threading.Thread(target=renew, name=f"lease-{lease_id[:8]}", daemon=True).start()

    def free(self, backend: str, lease_id: str) -> None:
        """Release the slot (a crash instead lets it expire after ``ttl_s``)."""
        freed = self._renewing.pop(lease_id, None)
        if freed is not None:
            freed.set()
        try:
            self._journal.write_now(f"lease/{backend}/{lease_id}", {"op": "free"})
        except PublishError as exc:
            log.warning("lease %s of %s not freed (it expires): %s", lease_id, backend, exc)


__all__ = ["JournalLeases", "SlotLeases"]
