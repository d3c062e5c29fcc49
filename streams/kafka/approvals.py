"""The approval gate's log, read into a board: pending requests and the first decision on each.

The ``approvals`` topic has one partition, so every reader applies requests and decisions in
the same order; the first decision on a request wins everywhere, and a later one (an expiry
racing an approver, a second approver) is ignored. Workers keep a board tailing the log; the
CLI and the client SDK read a snapshot of it and append decisions.
"""

from __future__ import annotations

import getpass
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from schemas import Approval, ApprovalStatus, AvroCodec, ContractError
from streams.config import Settings
from streams.kafka.codec import make_codec
from streams.kafka.table_reader import CompactedTopicReader
from streams.kafka.topics import TopicNames

log = logging.getLogger(__name__)


class ApprovalError(Exception):
    """A decision that cannot be made (unknown or already decided request, not an approver)."""


class ApprovalBoard:
    """request id -> its request and its first decision, kept current by a tailing reader."""

    def __init__(self, conf: dict[str, Any], topic: str, codec: AvroCodec) -> None:
        self._codec = codec
        self._requests: dict[str, Approval] = {}
        self._decisions: dict[str, Approval] = {}
        self._lock = threading.Lock()
        self._reader = CompactedTopicReader(conf, topic, self._apply, name="approvals")

    def start(self, timeout_s: float = 60.0) -> ApprovalBoard:
        """Load the whole log, then keep tailing."""
        self._reader.start()
        self._reader.wait_caught_up(timeout_s)
        return self

    def _apply(self, _key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = self._codec.decode(Approval, value)
        except ContractError as exc:
            log.warning("ignoring an undecodable approval record: %s", exc)
            return
        with self._lock:
            if record.status is ApprovalStatus.PENDING:
                self._requests.setdefault(record.request_id, record)
            else:
                self._decisions.setdefault(record.request_id, record)

    def catch_up(self, timeout_s: float = 30.0) -> None:
        """Apply everything written before this call (a decision may have just been made)."""
        self._reader.wait_caught_up(timeout_s)

    def request(self, request_id: str) -> Approval | None:
        """The request, if one was made."""
        with self._lock:
            return self._requests.get(request_id)

    def decision(self, request_id: str) -> Approval | None:
        """The first decision on the request, if any."""
        with self._lock:
            return self._decisions.get(request_id)

    def pending(self) -> list[Approval]:
        """Requests without a decision, oldest first."""
        with self._lock:
            open_ = [r for k, r in self._requests.items() if k not in self._decisions]
        return sorted(open_, key=lambda r: r.requested_at)

    def history(self) -> list[Approval]:
        """Every request, as its decision where there is one, oldest first."""
        with self._lock:
            rows = [self._decisions.get(k, r) for k, r in self._requests.items()]
        return sorted(rows, key=lambda r: r.requested_at)

    def stop(self) -> None:
        """Stop tailing."""
        self._reader.stop()


def open_board(settings: Settings, timeout_s: float = 30.0) -> ApprovalBoard:
    """A board over the configured cluster's log, caught up (stop it when done)."""
    topic = TopicNames(settings.topic_prefix).approvals
    board = ApprovalBoard(settings.librdkafka_config(), topic, make_codec(settings))
    try:
        return board.start(timeout_s)
    except BaseException:
        board.stop()
        raise


def decision_for(
    board: ApprovalBoard,
    request_id: str,
    status: ApprovalStatus,
    principal: str,
    reason: str | None,
    approvers: tuple[str, ...] = (),
) -> Approval:
    """The decision record to append, after checking that it may be made.

    Raises:
        ApprovalError: ``principal`` is not an approver, the request is unknown, or it was
            decided already (the message says by whom).

    """
    if approvers and principal not in approvers:
        raise ApprovalError(
            f"{principal} may not decide approvals; approvers are: {', '.join(approvers)}"
        )
    request = board.request(request_id)
    if request is None:
        raise ApprovalError(f"no approval request {request_id!r} (qloop approvals list)")
    earlier = board.decision(request_id)
    if earlier is not None:
        raise ApprovalError(
            f"request {request_id!r} was already {earlier.status.value.lower()} "
            f"by {earlier.decided_by}"
        )
    return replace(
        request, status=status, decided_by=principal, decided_at=datetime.now(UTC), reason=reason
    )


def principal_of(settings: Settings) -> str:
    """Who is deciding: the Kafka principal on a secured cluster, else the OS user."""
    return settings.kafka_sasl_username or getpass.getuser()


def requests(settings: Settings, *, include_decided: bool = False) -> list[Approval]:
    """The pending requests (or every request, as its first decision), oldest first."""
    board = open_board(settings)
    try:
        return board.history() if include_decided else board.pending()
    finally:
        board.stop()


def decide(
    settings: Settings, request_id: str, status: ApprovalStatus, reason: str | None = None
) -> Approval:
    """Append a decision on ``request_id`` and return it (durable when this returns).

    Raises:
        ApprovalError: see :func:`decision_for`.

    """
    from streams.kafka.clients import publish_once

    board = open_board(settings)
    try:
        record = decision_for(
            board, request_id, status, principal_of(settings), reason, settings.approvers
        )
    finally:
        board.stop()
    publish_once(settings, TopicNames(settings.topic_prefix).approvals, request_id, record)
    return record


__all__ = [
    "ApprovalBoard",
    "ApprovalError",
    "decide",
    "decision_for",
    "open_board",
    "principal_of",
    "requests",
]
