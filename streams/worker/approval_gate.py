"""The approval gate in a worker: hold sets that need a human yes, run them once decided.

Where an update enters (hop 1, or the input when routing is off) :meth:`ApprovalGate.hold`
decides: no approval needed, or a decision exists, and the set flows on; a new request is
appended to the ``approvals`` log (the input is acked once the broker has it: nothing charged,
no slot held); a request already pending means the set is in the log already. At admission
:meth:`ApprovalGate.refusal` is the authority: approved sets are charged and run, rejected and
expired ones end as one ``REJECTED`` result, through the same checkpoint order as any batch.
Decisions come back as inputs: the ``apply-approvals`` agent re-sends the held update to the
input topic on each decision (a second copy is a duplicate the ledger drops), and a timer
appends ``EXPIRED`` decisions for requests nobody answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from processors.approval import ApprovalPolicy, outcome_of
from processors.pending import PendingSet
from processors.results import Outcome
from schemas import Approval, ApprovalStatus, AvroCodec, ContractError
from streams.kafka.approvals import ApprovalBoard
from streams.kafka.topics import TopicNames
from streams.ledger.checkpoint import SubmissionLedger

Ack = Callable[[], object]

#: ``hold``'s answer for a set whose request is already in the log.
WAITING: Final = "waiting"


class ApprovalGate:
    """Policy plus the board: what to hold, and what a decision makes of a held set."""

    def __init__(
        self,
        policy: ApprovalPolicy,
        board: ApprovalBoard,
        codec: AvroCodec,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self.board = board
        self._codec = codec
        self._now = now

    def hold(self, pending: PendingSet) -> bytes | str | None:
        """None to let the set flow; WAITING if its request is pending; else a new request.

        Blocking (it may catch the board up): call it off the event loop.
        """
        need = self.policy.needs(pending.update)
        event_id = pending.update.event_id
        if need is None or self.board.decision(event_id) is not None:
            return None
        if self.board.request(event_id) is not None:
            # A decision written before this copy was sent must be seen before it is dropped.
            self.board.catch_up()
            return None if self.board.decision(event_id) is not None else WAITING
        return self._codec.encode(self.policy.request(pending, need, self._now()))

    def refusal(self, pending: PendingSet) -> Outcome | None:
        """At admission: None to charge and run the set, else its final outcome."""
        if self.policy.needs(pending.update) is None:
            return None
        decision = self.board.decision(pending.update.event_id)
        if decision is None:
            self.board.catch_up()
            decision = self.board.decision(pending.update.event_id)
        return outcome_of(decision)

    def expired(self) -> list[Approval]:
        """EXPIRED decisions for the pending requests whose time is up."""
        now = self._now()
        return [
            replace(
                request,
                status=ApprovalStatus.EXPIRED,
                decided_by="qloop",
                decided_at=now,
                reason=f"no decision within {self.policy.ttl}",
            )
            for request in self.board.pending()
            if request.expires_at <= now
        ]

    def encode(self, record: Approval) -> bytes:
        """The record as the log holds it."""
        return self._codec.encode(record)

    def resend_target(
        self, value: bytes, topics: TopicNames, tenant_topics: bool
    ) -> tuple[str, str, bytes] | None:
        """For a decision in the log: (input topic, key, update bytes) to re-send; else None."""
        try:
            record = self._codec.decode(Approval, value)
        except ContractError:
            return None
        if record.status is ApprovalStatus.PENDING or not record.update:
            return None
        topic = topics.tenant_updates(record.tenant) if tenant_topics else topics.updates
        return topic, record.template_id, record.update


async def intercept(
    gate: ApprovalGate, pending: PendingSet, ack: Ack, ledger: SubmissionLedger, pool: Executor
) -> bool:
    """Hold ``pending`` if it needs approval and has no decision; True when it was held."""
    held = await asyncio.get_running_loop().run_in_executor(pool, gate.hold, pending)
    if held is None:
        return False
    if isinstance(held, bytes):  # a new request: the input is done once the log has it
        ledger.forward(ledger.topics.approvals, pending.update.event_id, held, ack)
    else:  # WAITING: its request is in the log already
        ack()
    return True


def resend_decided(
    gate: ApprovalGate, value: bytes | None, ack: Ack, ledger: SubmissionLedger, tenants: bool
) -> None:
    """On a decision in the log, send the held update to the input again; ack once sent."""
    target = None if value is None else gate.resend_target(value, ledger.topics, tenants)
    if target is None:
        ack()
        return
    topic, key, update = target
    ledger.forward(topic, key, update, ack)


def append_expiries(gate: ApprovalGate, ledger: SubmissionLedger) -> int:
    """Append an EXPIRED decision for every request whose time is up; return how many."""
    expired = gate.expired()
    for record in expired:
        ledger.forward(ledger.topics.approvals, record.request_id, gate.encode(record), _done)
    return len(expired)


def _done() -> None:
    """Nothing to acknowledge: an expiry is not an input."""


def install(app: Any, gate: ApprovalGate, ledger: SubmissionLedger, tenants: bool) -> None:
    """The faust side: re-send decided updates (one agent in the group), expire each second."""
    decisions = app.topic(ledger.topics.approvals, key_serializer="raw", value_serializer="raw")

    @app.agent(decisions, name="apply-approvals")  # type: ignore[untyped-decorator]
    async def apply_approvals(stream: Any) -> None:
        async for event in stream.noack().events():
            resend_decided(gate, event.value, event.ack, ledger, tenants)

    async def expire() -> None:
        append_expiries(gate, ledger)

    app.timer(interval=1.0)(expire)


__all__ = [
    "WAITING",
    "ApprovalGate",
    "append_expiries",
    "install",
    "intercept",
    "resend_decided",
]
