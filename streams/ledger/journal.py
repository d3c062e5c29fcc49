"""A durable key-value journal on a compacted topic: the submission ledger's storage.

The idempotency ledger (event id -> paid/done) is a plain ``MutableMapping`` view over this
journal; budget claims (``claim/<id>``) are decided in the topic's order by every reader (see
:class:`JournalClaimLog`). Writes are produced with the idempotent producer;
:meth:`KafkaJournal.flush` waits for the broker's ack, and the worker calls it *before* a batch
is handed to a backend, so a crash can never forget a charge it made.
Every worker tails the whole topic (see :class:`~streams.kafka.table_reader.CompactedTopicReader`),
so state survives restarts and rebalances.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, TypeVar

from confluent_kafka import Producer

from processors.budget import Budget, ClaimBook, ClaimItem, SpendClaim
from processors.idempotency import done_entry, is_done, paid_entry
from streams.kafka.clients import PublishError
from streams.kafka.table_reader import CompactedTopicReader

V = TypeVar("V")
_WRITER_HEADER = "qloop-writer"
_NEVER_MS = 60_000  # below message.timeout.ms (300 s); flush() sends at once regardless
_CLAIM = b"claim/"
_PAID_SPACE = "event/"


def _claim_body(claim: SpendClaim, writer: str, at: float) -> bytes:
    items = [[i.event_id, i.digest, i.shots, i.cost] for i in claim.items]
    budget = [claim.budget.shots, claim.budget.cost]
    v = {"t": claim.tenant, "b": budget, "i": items, "at": at}
    return json.dumps({"v": v, "w": writer}).encode()


def _claim_from(key: bytes, value: bytes) -> tuple[SpendClaim, str, float]:
    body = json.loads(value)
    v = body["v"]
    items = tuple(ClaimItem(str(e), str(d), float(s), float(c)) for e, d, s, c in v["i"])
    claim = SpendClaim(key[len(_CLAIM) :].decode(), str(v["t"]), Budget(*v["b"]), items)
    return claim, str(body["w"]), float(v.get("at", 0.0))


class KafkaJournal:
    """In-memory map mirrored to a compacted topic; other processes' writes are applied too."""

    def __init__(self, producer_conf: dict[str, Any], reader_conf: dict[str, Any], topic: str):
        self.topic = topic
        self._writer = uuid.uuid4().hex
        self._own_marker = f'"w": "{self._writer}"'.encode()
        #: namespace ("event/", "dead/") -> key within it -> value. Views iterate
        #: one namespace, so listing dead letters never scans every event id ever seen.
        self._spaces: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        #: Held by flush() (one flush at a time). Admissions do not hold it: a budget claim
        #: is one record, so no flush can split a charge from its paid marks.
        self.write_lock = threading.RLock()
        self._errors: list[str] = []
        # Nothing is sent before flush(): a batch's writes leave as one record batch on the
        # single-partition topic, which the broker appends whole or not at all. A budget claim
        # carries its own paid marks, so a charge and its marks never come apart anyway.
        self._producer = Producer({**producer_conf, "linger.ms": _NEVER_MS})
        #: Budget claims decided in log order (see processors.budget); verdicts of this
        #: writer's limited claims wait here for the thread that submitted them.
        self._claims = ClaimBook()
        self._verdicts: dict[str, tuple[bool, ...]] = {}
        #: Event ids paid for and not yet done -> when their claim was written (epoch s): what
        #: a restarted worker checks against the result topic (see streams.ledger.reconcile).
        self._paid_at: dict[str, float] = {}
        self._reader = CompactedTopicReader(reader_conf, topic, self._apply, name="ledger-reader")
        self._reader_conf = reader_conf

    def start(self, timeout_s: float = 60.0) -> KafkaJournal:
        """Replay the topic to its end before the first read."""
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        return self

    def _slot(self, key: str) -> tuple[dict[str, Any], str]:
        namespace, _, rest = key.partition("/")
        return self._spaces.setdefault(namespace + "/", {}), rest

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is not None and value is not None and key.startswith(_CLAIM):
            self._apply_claim(key, value)  # our own too: verdicts follow the log's order
            return
        # Our own writes are already applied: skip their echo before paying for JSON parsing
        # (the reader sees two ledger records per executed set).
        if key is None or (value is not None and self._own_marker in value):
            return
        with self._lock:
            space, name = self._slot(key.decode())
            if value is None:
                space.pop(name, None)
            else:
                space[name] = json.loads(value)["v"]
                self._forget_paid(key.decode(), space[name])

    def _apply_claim(self, key: bytes, value: bytes) -> None:
        claim, writer, at = _claim_from(key, value)
        with self._lock:
            verdicts = self._claims.apply(claim)
            granted = (item for item, ok in zip(claim.items, verdicts, strict=True) if ok)
            self._mark_paid(granted, at)
            if writer == self._writer and not claim.budget.unlimited:
                self._verdicts[claim.claim_id] = verdicts

    def _mark_paid(self, items: Iterable[ClaimItem], at: float) -> None:
        """Record granted sets as paid (never over ``done``); the caller holds ``_lock``."""
        paid = self._spaces.setdefault(_PAID_SPACE, {})
        for item in items:
            if not is_done(paid.get(item.event_id)):
                paid[item.event_id] = paid_entry(item.digest)
                self._paid_at[item.event_id] = at

    def _forget_paid(self, key: str, value: Any) -> None:
        if key.startswith(_PAID_SPACE) and is_done(value):
            self._paid_at.pop(key[len(_PAID_SPACE) :], None)

    def outstanding_paid(self) -> dict[str, float]:
        """Event ids paid for whose result is not marked done, with when they were paid."""
        with self._lock:
            return dict(self._paid_at)

    def submit_claim(self, claim: SpendClaim, timeout_s: float = 60.0) -> tuple[bool, ...]:
        """Append a budget claim; return its verdicts once decided in log order.

        A claim under an unlimited budget is granted whole at once (its order cannot change
        the verdict) and leaves with the next flush; a limited one is flushed now and decided
        when this journal's reader applies it, after every claim that reached the log first.
        The granted sets are recorded as paid by the claim record itself.
        """
        key = f"claim/{claim.claim_id}"
        at = time.time()
        body = _claim_body(claim, self._writer, at)
        if claim.budget.unlimited:
            with self._lock:
                self._mark_paid(claim.items, at)
            self._produce(key, body)
            return (True,) * len(claim.items)
        with self.write_lock:
            self._produce(key, body)
            self.flush(timeout_s)
        if not self._reader.wait_for(lambda: claim.claim_id in self._verdicts, timeout_s):
            raise PublishError(f"budget claim {claim.claim_id} not read back in {timeout_s}s")
        with self._lock:
            return self._verdicts.pop(claim.claim_id)

    def claims_spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` by the claims applied so far (all writers)."""
        with self._lock:
            return self._claims.spent(tenant)

    @property
    def writer(self) -> str:
        """Id of this process in the journal (one per process start)."""
        return self._writer

    def get(self, key: str, default: Any = None) -> Any:
        """Current value of ``key``."""
        with self._lock:
            space, name = self._slot(key)
            return space.get(name, default)

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` locally and enqueue the write (durable after :meth:`flush`)."""
        with self._lock:
            space, name = self._slot(key)
            space[name] = value
            self._forget_paid(key, value)
        self._produce(key, json.dumps({"v": value, "w": self._writer}).encode())

    def _produce(self, key: str, body: bytes) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic, key=key.encode(), value=body, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        # No poll(0) per write: it cost 6 % of the worker's samples (two writes per set), and
        # flush() serves the delivery reports anyway.

    def delete(self, key: str) -> None:
        """Remove ``key`` (a tombstone for compaction)."""
        with self._lock:
            space, name = self._slot(key)
            space.pop(name, None)
            self._forget_paid(key, done_entry(""))
        self._producer.produce(self.topic, key=key.encode(), value=None)

    def keys_in(self, namespace: str) -> list[str]:
        """Every key in ``namespace`` (e.g. ``"event/"``), without the namespace."""
        with self._lock:
            return list(self._spaces.get(namespace, ()))

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every write is acknowledged; raise :class:`PublishError` otherwise."""
        with self.write_lock:
            remaining = self._producer.flush(timeout_s)
        errors, self._errors = self._errors, []
        if remaining or errors:
            raise PublishError(f"ledger writes not acknowledged: {remaining} pending, {errors[:3]}")

    def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        """Apply every write made by any process before this call (used on rebalance)."""
        self._reader.wait_caught_up(timeout_s)

    def view(self, namespace: str) -> JournalView[Any]:
        """A ``MutableMapping`` over the keys of ``namespace`` (e.g. ``"dead/"``)."""
        return JournalView(self, namespace)

    def close(self) -> None:
        """Flush what is pending and stop tailing."""
        try:
            self.flush(10)
        finally:
            self._reader.stop()


class JournalView(MutableMapping[str, V]):
    """The keys of one namespace of a :class:`KafkaJournal` (``"event/"``), as a mapping."""

    def __init__(self, journal: KafkaJournal, namespace: str) -> None:
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

    def __init__(self, journal: KafkaJournal) -> None:
        self._journal = journal

    def submit(self, claim: SpendClaim) -> tuple[bool, ...]:
        """Append ``claim`` and wait for its verdicts (see :meth:`KafkaJournal.submit_claim`)."""
        return self._journal.submit_claim(claim)

    def spent(self, tenant: str) -> tuple[float, float]:
        """(shots, cost) granted to ``tenant`` so far."""
        return self._journal.claims_spent(tenant)


__all__ = ["JournalClaimLog", "JournalView", "KafkaJournal"]
