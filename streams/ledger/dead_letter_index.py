"""Which inputs already have a dead letter: the ledger's ``dead/`` marks plus the topic itself.

A worker publishes an input's dead letter, waits for the broker's ack, then records
``dead/<source>`` in the ledger and acks the input. Killed between the two, it used to
dead-letter the redelivered input a second time (a fault test caught a third dead letter for
two bad inputs). The dead-letter topic already says which sources were dead-lettered, so every
worker also tails it (dead letters are rare; one key per dead letter is kept) and treats a
source found there as done: the redelivery is acked without publishing again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from schemas import AvroCodec, ContractError, DeadLetter
from streams.kafka.table_reader import CompactedTopicReader


def source_key(letter: DeadLetter) -> str:
    """The input coordinates a dead letter stands for, as the ledger keys them."""
    return f"{letter.source_topic}:{letter.source_partition}:{letter.source_offset}"


class DeadLetterIndex(MutableMapping[str, str]):
    """The ledger's ``dead/`` view, with sources found on the dead-letter topic added to it.

    Writes go to the ledger; membership also counts what the topic holds.
    """

    def __init__(
        self,
        ledger: MutableMapping[str, str],
        reader_conf: dict[str, Any],
        topic: str,
        codec: AvroCodec,
    ) -> None:
        self._ledger = ledger
        self._codec = codec
        self._published: set[str] = set()
        self._lock = threading.Lock()
        self._reader = CompactedTopicReader(reader_conf, topic, self._apply, "dead-letter-reader")

    def _apply(self, _key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            letter = self._codec.decode(DeadLetter, value)
        except ContractError:
            return  # not ours to judge: a foreign record on the topic
        with self._lock:
            self._published.add(source_key(letter))

    def start(self, timeout_s: float = 60.0) -> DeadLetterIndex:
        """Read the topic to its end, then keep tailing it."""
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        return self

    def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        """Apply every dead letter published before this call (used on partition assignment)."""
        self._reader.wait_caught_up(timeout_s)

    def stop(self) -> None:
        """Stop tailing."""
        self._reader.stop()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            if key in self._published:
                return True
        return key in self._ledger

    def __getitem__(self, key: str) -> str:
        if key in self._ledger:
            return self._ledger[key]
        with self._lock:
            if key in self._published:
                return "done"
        raise KeyError(key)

    def __setitem__(self, key: str, value: str) -> None:
        self._ledger[key] = value

    def __delitem__(self, key: str) -> None:
        del self._ledger[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ledger)

    def __len__(self) -> int:
        return len(self._ledger)


__all__ = ["DeadLetterIndex", "source_key"]
