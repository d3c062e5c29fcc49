"""A durable key-value journal on a Kafka topic: the submission ledger's storage.

The idempotency ledger (event id -> paid/done) is a plain ``MutableMapping`` view over this
journal; budget claims (``claim/<id>``) are decided in the topic's order by every reader (see
:class:`JournalClaimLog`). Writes are produced with the idempotent producer;
:meth:`KafkaJournal.flush` waits for the broker's ack, and the worker calls it *before* a batch
is handed to a backend, so a crash can never forget a charge it made.
Every worker tails the whole topic (see :class:`~streams.kafka.table_reader.CompactedTopicReader`),
so state survives restarts and rebalances.

State is bounded by a window, not by history: an entry is forgotten ``window_s`` after it was
written (in memory by :class:`~streams.ledger.window.WindowedMap`, on the topic by its time
retention), and budget spending survives the claims' deletion as
``total/<tenant>`` records that every journal writes at start and every ``window_s / 8`` (see
:class:`~processors.budget.ClaimBook`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Producer

from processors.budget import Budget, ClaimBook, ClaimItem, SpendClaim
from processors.idempotency import done_entry, is_done, paid_entry
from streams.kafka.clients import PublishError
from streams.kafka.table_reader import CompactedTopicReader
from streams.ledger.journal_views import JournalClaimLog, JournalView
from streams.ledger.window import BUCKETS, WindowedMap

log = logging.getLogger(__name__)
_WRITER_HEADER = "qloop-writer"
_NEVER_MS = 60_000  # below message.timeout.ms (300 s); flush() sends at once regardless
_CLAIM = b"claim/"
_TOTAL = b"total/"
_PAID_SPACE = "event/"
#: How long the ledger remembers an event id: a week, as a redelivery can only come from a
#: producer's retry (seconds), a worker's restart (minutes) or an operator's replay of the
#: input topic, whose retention is a week; ClickHouse's dedup window and Kafka's producer
#: idempotence are the same kind of bound.
DEFAULT_WINDOW_S = 7 * 86_400.0


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

    def __init__(
        self,
        producer_conf: dict[str, Any],
        reader_conf: dict[str, Any],
        topic: str,
        window_s: float = DEFAULT_WINDOW_S,
    ):
        self.topic = topic
        self.window_s = window_s
        self._writer = uuid.uuid4().hex
        self._own_marker = f'"w": "{self._writer}"'.encode()
        #: namespace ("event/", "dead/") -> key within it -> value. Views iterate
        #: one namespace, so listing dead letters never scans every event id ever seen.
        self._spaces: dict[str, WindowedMap[Any]] = {}
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
        self._reader = CompactedTopicReader(
            reader_conf, topic, self._apply, name="ledger-reader", with_meta=True
        )
        self._reader_conf = reader_conf
        #: Offset of the last record applied: the position budget totals are written through.
        self._position = -1
        self._next_sweep = 0.0
        self._stop = threading.Event()
        self._totals_thread = threading.Thread(
            target=self._write_totals_every, name="ledger-totals", daemon=True
        )
        #: Key prefix -> the handler its records go to, in log order (the slot leases).
        self._handlers: dict[bytes, Callable[[bytes, bytes | None], None]] = {}
        #: Seconds the start-up replay took, and the records it applied (metrics).
        self.replay_seconds = 0.0
        self.replayed_records = 0

    def start(self, timeout_s: float = 60.0) -> KafkaJournal:
        """Replay the topic to its end before the first read, then start writing totals."""
        started = time.monotonic()
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        self.replay_seconds = time.monotonic() - started
        self.replayed_records = self._reader.applied
        # Totals at once, then every 1/8 of the window: retention may delete the claims
        # behind them as soon as they are older than the window (an upgraded ledger at once).
        if self.write_totals():
            self.flush(timeout_s)
        self._totals_thread.start()
        return self

    def _slot(self, key: str) -> tuple[WindowedMap[Any], str]:
        namespace, _, rest = key.partition("/")
        space = self._spaces.get(namespace + "/")
        if space is None:
            space = self._spaces[namespace + "/"] = WindowedMap(self.window_s)
        return space, rest

    def _apply(self, key: bytes | None, value: bytes | None, at: float, offset: int) -> None:
        with self._lock:  # the position moves with what it covers (see write_totals)
            self._position = offset
            if key is None:
                return
            for prefix, handler in self._handlers.items():
                if key.startswith(prefix):
                    handler(key, value)
                    return
            if value is not None and key.startswith(_CLAIM):
                self._apply_claim(key, value)  # our own too: verdicts follow the log order
            elif value is not None and key.startswith(_TOTAL):
                totals = json.loads(value)["v"]
                tenant = key[len(_TOTAL) :].decode()
                self._claims.apply_totals(tenant, totals["through"], totals["s"], totals["c"])
            # Our own writes are already applied: skip their echo before paying for JSON
            # parsing (the reader sees two ledger records per executed set).
            elif value is None or self._own_marker not in value:
                text = key.decode()
                space, name = self._slot(text)
                if value is None:
                    space.pop(name)
                else:
                    entry = json.loads(value)["v"]
                    space.set(name, entry, at)
                    self._forget_paid(text, entry)
                self._sweep()

    def on_prefix(self, prefix: bytes, handler: Callable[[bytes, bytes | None], None]) -> None:
        """Send records whose key starts with ``prefix`` to ``handler``, in log order.

        Register before :meth:`start`. The handler runs on the reader's thread under the
        journal's lock, and sees this process's own writes too.
        """
        self._handlers[prefix] = handler

    def write_now(self, key: str, value: Any) -> None:
        """Write ``key`` at once and wait for the broker's ack (a request others must see)."""
        with self.write_lock:
            self._produce(key, json.dumps({"v": value, "w": self._writer}).encode())
            self.flush()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Block until ``predicate()`` holds, checked as records are applied."""
        return self._reader.wait_for(predicate, timeout_s)

    def _sweep(self) -> None:
        """Forget entries past the window (at most every 1/BUCKETS of it); holds ``_lock``."""
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_s / BUCKETS
        for space in self._spaces.values():
            space.expire(now)
        horizon = now - self.window_s
        for event_id in [e for e, at in self._paid_at.items() if at < horizon]:
            del self._paid_at[event_id]

    def entries(self) -> dict[str, int]:
        """Live entries per namespace (``event/``, ``dead/``): the ledger's size in memory."""
        with self._lock:
            return {name: len(space) for name, space in self._spaces.items()}

    def write_totals(self) -> int:
        """Enqueue every tenant's spending through the position read so far; return how many.

        Any journal may write them at any time: each is exact for its position, so that the
        claims before it can be deleted by retention without changing a verdict.
        """
        with self._lock:
            through = self._position
            totals = {t: self._claims.spent(t) for t in self._claims.tenants()}
        for tenant, (shots, cost) in totals.items():
            body = {"v": {"through": through, "s": shots, "c": cost}, "w": self._writer}
            self._produce(f"total/{tenant}", json.dumps(body).encode())
        return len(totals)

    def _write_totals_every(self) -> None:
        while not self._stop.wait(self.window_s / BUCKETS):
            try:
                if self.write_totals():
                    self.flush(60)
                with self._lock:
                    self._sweep()
            except PublishError as exc:  # the next round writes them again
                log.warning("budget totals not written: %s", exc)

    def _apply_claim(self, key: bytes, value: bytes) -> None:
        """Decide a claim in log order; the caller holds ``_lock``."""
        claim, writer, at = _claim_from(key, value)
        verdicts = self._claims.apply(claim, self._position)
        granted = (item for item, ok in zip(claim.items, verdicts, strict=True) if ok)
        self._mark_paid(granted, at)
        if writer == self._writer and not claim.budget.unlimited:
            self._verdicts[claim.claim_id] = verdicts

    def _mark_paid(self, items: Iterable[ClaimItem], at: float) -> None:
        """Record granted sets as paid (never over ``done``); the caller holds ``_lock``."""
        paid, _ = self._slot(_PAID_SPACE)
        for item in items:
            if not is_done(paid.get(item.event_id)):
                paid.set(item.event_id, paid_entry(item.digest), at)
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
            space.set(name, value)
            self._forget_paid(key, value)
            self._sweep()
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
            space.pop(name)
            self._forget_paid(key, done_entry(""))
        self._producer.produce(self.topic, key=key.encode(), value=None)

    def keys_in(self, namespace: str) -> list[str]:
        """Every key in ``namespace`` (e.g. ``"event/"``), without the namespace."""
        with self._lock:
            space = self._spaces.get(namespace)
            return [] if space is None else list(space.keys())

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
        self._stop.set()
        try:
            self.flush(10)
        finally:
            self._reader.stop()


__all__ = ["DEFAULT_WINDOW_S", "JournalClaimLog", "JournalView", "KafkaJournal"]
