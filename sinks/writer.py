"""ClickHouseSink: buffer records per Kafka partition, insert idempotently, report what to commit.

Exactly-once rows from an at-least-once stream, without transactions:

1. Rows are buffered in *blocks*, one per topic-partition and offset range ``[first, last]``.
2. :meth:`ClickHouseSink.flush` first logs every block's range in ``qloop.sink_batches``, then
   inserts it, one INSERT per table, with ``insert_deduplication_token`` =
   ``qloop:<table>:<topic>:<partition>:<first>-<last>``: derived from input identity, never from
   content (simulator results differ run to run). The tables keep a deduplication log
   (``non_replicated_deduplication_window``), so the engine drops a block it has already stored.
3. Only then does the caller commit ``last + 1``.

A crash between 2 and 3 redelivers the block. A token only matches if the block is re-formed
with the *same* range, yet batching after a restart would cut elsewhere; so on the first record
of a partition the sink reads the logged ranges at or after that offset and re-forms exactly those
blocks (waiting for a block's last offset before flushing it, never mixing it with neighbours).
Re-formed blocks carry the same tokens, and the engine drops what it already has.

Failure semantics: :class:`~sinks.errors.SinkRetryableError` from :meth:`flush` leaves every
buffered block in place (retry later, commit nothing); :class:`~sinks.errors.SinkFatalError`
means a bug or schema mismatch (crash, fix, restart: nothing was committed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.retry import RetryPolicy, with_retry
from sinks.rows import COLUMNS, KafkaPosition, Row, to_rows

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _Block:
    """Rows of one topic-partition offset range; ``pinned`` if the range was logged before."""

    first: int
    last: int
    started: float
    pinned_last: int | None = None
    rows: dict[str, list[Row]] = field(default_factory=dict)
    row_count: int = 0

    @property
    def complete(self) -> bool:
        """A pinned block may only be flushed once it reaches its logged last offset."""
        return self.pinned_last is None or self.last >= self.pinned_last


@dataclass(slots=True)
class _Partition:
    replay: list[tuple[int, int]]
    high_water: int = -1
    sealed: list[_Block] = field(default_factory=list)
    open: _Block | None = None


class ClickHouseSink:
    """Idempotent, batched writer of qloop records into the ``qloop`` database.

    Not thread-safe: one consumer loop drives it (``add`` ... ``should_flush`` ... ``flush``).

    Args:
        client: A clickhouse-connect client on a migrated database.
        max_rows: Flush once this many rows are buffered (the size bound).
        max_age_s: Flush once the oldest buffered row is this old (the time bound).
        retry: Backoff policy for retryable engine errors.
        clock: Monotonic clock, injectable for tests.
        sleep: Sleep function used between retries, injectable for tests.

    """

    def __init__(
        self,
        client: Client,
        *,
        max_rows: int = 5000,
        max_age_s: float = 0.5,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_rows <= 0 or max_age_s < 0:
            raise ValueError("max_rows must be > 0 and max_age_s >= 0")
        self._client = client
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._buffered = 0
        #: Rows stored per table, and insert attempts retried (for metrics).
        self.inserted: Counter[str] = Counter()
        self.retries = 0
        self._pending_commits: dict[TopicPartition, int] = {}

    @property
    def buffered_rows(self) -> int:
        """Rows waiting for the next flush."""
        return self._buffered

    def add(self, topic: str, partition: int, offset: int, record: Any, trace_id: str = "") -> None:
        """Buffer ``record`` read at ``topic``/``partition``/``offset``, with its header's trace id.

        Offsets at or below one already added for the partition are ignored (a redelivery within
        this session). A record may make several rows (a calibration snapshot: one per qubit) or
        none; they all share the record's block, hence its token. Raises ``TypeError`` for a
        record type no table stores.
        """
        table, rows = to_rows(record, KafkaPosition(topic, partition, offset, trace_id))
        self._place(topic, partition, offset, table, rows)

    def skip(self, topic: str, partition: int, offset: int) -> None:
        """Mark ``offset`` as handled without a row (e.g. a tombstone), so it can be committed."""
        self._place(topic, partition, offset, None, [])

    def should_flush(self) -> bool:
        """Tell whether the size or time bound is reached, or a re-formed block is complete."""
        if self._buffered >= self.max_rows:
            return True
        now = self._clock()
        for state in self._partitions.values():
            if any(b.complete for b in state.sealed):
                return True
            block = state.open
            if block is not None and block.complete and now - block.started >= self.max_age_s:
                return True
        return False

    def flush(self, only: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Insert every complete block (of ``only``, if given) and return offsets to commit.

        Returns:
            ``{(topic, partition): next offset}`` for each partition with something flushed: the
            offsets to commit, now that their rows are stored.

        Raises:
            SinkRetryableError: the engine kept failing; buffers are intact, commit nothing.
            SinkFatalError: a non-retryable engine error.

        """
        wanted = set(only) if only is not None else set(self._partitions)
        ready: list[tuple[TopicPartition, _Block]] = []
        for tp in sorted(wanted & set(self._partitions)):
            state = self._partitions[tp]
            if state.open is not None and state.open.complete:
                state.sealed.append(state.open)
                state.open = None
            ready.extend((tp, b) for b in state.sealed if b.complete)
        self._log_ranges([(tp, b) for tp, b in ready if b.pinned_last is None])
        for tp, block in ready:
            self._insert_block(tp, block)
            self._partitions[tp].sealed.remove(block)
            self._buffered -= block.row_count
            # Kept until a flush returns in full: a later failure must not lose this commit.
            self._pending_commits[tp] = max(self._pending_commits.get(tp, 0), block.last + 1)
        commits = {tp: o for tp, o in self._pending_commits.items() if tp in wanted}
        for tp in commits:
            del self._pending_commits[tp]
        return commits

    def discard(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget the buffers of revoked partitions without writing them.

        Use it for partitions whose blocks cannot be flushed (an incomplete re-formed block when
        the partition is revoked): the next owner re-reads them from the committed offset.
        """
        for tp in partitions:
            self._pending_commits.pop(tp, None)
            state = self._partitions.pop(tp, None)
            if state is None:
                continue
            for block in [*state.sealed, *([state.open] if state.open else [])]:
                self._buffered -= block.row_count

    def _place(
        self, topic: str, partition: int, offset: int, table: str | None, rows: list[Row]
    ) -> None:
        tp = (topic, partition)
        state = self._partitions.get(tp)
        if state is None:
            state = self._partitions[tp] = _Partition(replay=self._logged_ranges(tp, offset))
        if offset <= state.high_water:
            return
        state.high_water = offset
        while state.replay and state.replay[0][1] < offset:
            state.replay.pop(0)
        pin = state.replay[0] if state.replay and state.replay[0][0] <= offset else None
        block = state.open
        if block is not None and (block.pinned_last != (pin[1] if pin else None)):
            if block.pinned_last is not None and offset > block.pinned_last:
                # The logged tail never came back (retention, compaction): Kafka moved past it,
                # so the block is as complete as it will get; keep the logged range's token.
                block.last = block.pinned_last
            state.sealed.append(block)
            block = state.open = None
        if block is None:
            block = state.open = _Block(
                first=pin[0] if pin else offset,
                last=offset,
                started=self._clock(),
                pinned_last=pin[1] if pin else None,
            )
        block.last = offset
        if table is not None and rows:
            block.rows.setdefault(table, []).extend(rows)
            block.row_count += len(rows)
            self._buffered += len(rows)
        if pin is not None and offset >= pin[1]:
            state.sealed.append(block)
            state.open = None
            state.replay.pop(0)

    def _logged_ranges(self, tp: TopicPartition, offset: int) -> list[tuple[int, int]]:
        """Ranges logged at or after ``offset`` by a previous run (to be re-formed exactly)."""
        result = with_retry(
            lambda: self._client.query(
                "SELECT first_offset, max(last_offset) FROM qloop.sink_batches"
                " WHERE kafka_topic = {t:String} AND kafka_partition = {p:UInt32}"
                " AND last_offset >= {o:UInt64} GROUP BY first_offset ORDER BY first_offset",
                parameters={"t": tp[0], "p": tp[1], "o": offset},
            ),
            f"reading the batch log of {tp[0]}[{tp[1]}]",
            self._retry,
            self._sleep,
        )
        return [(int(a), int(b)) for a, b in result.result_rows]

    def _log_ranges(self, blocks: list[tuple[TopicPartition, _Block]]) -> None:
        if not blocks:
            return
        rows = [[tp[0], tp[1], b.first, b.last] for tp, b in blocks]
        with_retry(
            lambda: self._client.insert(
                "qloop.sink_batches",
                rows,
                column_names=["kafka_topic", "kafka_partition", "first_offset", "last_offset"],
            ),
            "logging batch ranges",
            self._retry,
            self._sleep,
        )
        for _, block in blocks:
            block.pinned_last = block.last

    def _insert_block(self, tp: TopicPartition, block: _Block) -> None:
        for table, rows in sorted(block.rows.items()):
            token = f"qloop:{table}:{tp[0]}:{tp[1]}:{block.first}-{block.last}"
            with_retry(
                lambda table=table, rows=rows, token=token: self._client.insert(  # type: ignore[misc]
                    f"qloop.{table}",
                    rows,
                    column_names=list(COLUMNS[table]),
                    settings={"insert_deduplication_token": token},
                ),
                f"inserting {len(rows)} rows into qloop.{table} ({token})",
                self._retry,
                self._sleep_counting,
            )
            self.inserted[table] += len(rows)

    def _sleep_counting(self, seconds: float) -> None:
        self.retries += 1
        self._sleep(seconds)


__all__ = ["ClickHouseSink", "TopicPartition"]
