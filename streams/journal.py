"""A durable key-value journal on a compacted topic: the submission ledger's storage.

The idempotency ledger (event id -> paid/done) and the budget ledger (spent per tenant) are
plain ``MutableMapping`` views over this journal. Writes are produced with the idempotent
producer; :meth:`KafkaJournal.flush` waits for the broker's ack, and the worker calls it
*before* a batch is handed to a backend, so a crash can never forget a debit it paid for.
Every worker tails the whole topic (see :class:`~streams.table_reader.CompactedTopicReader`),
so state survives restarts and rebalances.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any, TypeVar

from confluent_kafka import Producer

from streams.kafka_io import PublishError
from streams.table_reader import CompactedTopicReader

V = TypeVar("V")
_WRITER_HEADER = "qloop-writer"
_NEVER_MS = 60_000  # below message.timeout.ms (300 s); flush() sends at once regardless


class KafkaJournal:
    """In-memory map mirrored to a compacted topic; other processes' writes are applied too."""

    def __init__(self, producer_conf: dict[str, Any], reader_conf: dict[str, Any], topic: str):
        self.topic = topic
        self._writer = uuid.uuid4().hex
        self._own_marker = f'"w": "{self._writer}"'.encode()
        #: namespace ("event/", "spent/", "dead/") -> key within it -> value. Views iterate
        #: one namespace, so a budget check never scans every event id ever seen.
        self._spaces: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        #: Held by flush(); hold it across a group of writes that must reach the broker
        #: together (the executor's admission of one batch) so no flush splits the group.
        self.write_lock = threading.RLock()
        self._errors: list[str] = []
        # Nothing is sent before flush(): everything written between two flushes (a batch's
        # debits and its paid marks) leaves as one record batch on the single-partition topic,
        # and the broker appends a record batch whole or not at all. So a kill -9 mid-flush can
        # never keep a debit but lose its paid mark (the set would be charged again after the
        # restart) or keep a mark but lose its debit (executed uncharged: overspending).
        self._producer = Producer({**producer_conf, "linger.ms": _NEVER_MS})
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
        body = json.dumps({"v": value, "w": self._writer}).encode()
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
        self._producer.produce(self.topic, key=key.encode(), value=None)

    def keys_in(self, namespace: str) -> list[str]:
        """Every key in ``namespace`` (e.g. ``"spent/"``), without the namespace."""
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
        """A ``MutableMapping`` over the keys of ``namespace`` (e.g. ``"spent/"``)."""
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


__all__ = ["JournalView", "KafkaJournal"]
