"""Idempotency ledger: each event id is executed and charged at most once.

The ledger maps event id to ``"<state>:<payload digest>"`` in a ``MutableMapping`` (the
journal's ``event/`` namespace in production); this module is the only place that writes or
reads that format. States:

* ``paid``: charged and handed to a backend, no result confirmed yet. A redelivery re-executes
  without charging again (the result may have been lost in a crash). With a shared claim log
  (see ``processors.budget``) the granted claim itself records ``paid``, in the same record.
* ``done``: a result was produced. A redelivery with the same payload is a silent no-op.

A redelivery with a *different* payload under a known id is a conflict: dead-letter it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, MutableMapping
from enum import StrEnum

import numpy as np

from schemas import ParameterUpdate


class Seen(StrEnum):
    """What the ledger knows about an event id."""

    NEW = "NEW"
    #: Charged and handed to a backend, no result confirmed: re-run free of charge.
    PAID = "PAID"
    #: A result was published: a redelivery with the same payload is a no-op.
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"


_PAID, _DONE = "paid:", "done:"


def paid_entry(digest: str) -> str:
    """The stored value of an id that is paid for (the one place the format is written)."""
    return _PAID + digest


def done_entry(digest: str) -> str:
    """The stored value of an id whose outcome was published."""
    return _DONE + digest


def is_done(entry: object) -> bool:
    """Whether a stored value says ``done`` (anything else, None included, is not)."""
    return isinstance(entry, str) and entry.startswith(_DONE)


def entry_digest(entry: str) -> str:
    """The payload digest a stored value carries."""
    return entry.partition(":")[2]


def payload_digest(update: ParameterUpdate) -> str:
    """Hash every field that defines what to execute.

    ``trace_context`` is excluded: it is transport metadata that a client retry legitimately
    changes. Parameters are hashed as their IEEE-754 bytes (exact, and ~10x cheaper than a
    text form: this runs once per set on the hot path); the other fields as text, separated
    by a byte that cannot occur in them.
    """
    head = "\x1f".join(
        (
            update.event_id,
            update.experiment_id,
            str(update.iteration),
            update.tenant,
            update.template_id,
            str(update.primitive),
            update.produced_at.isoformat(),
            repr(update.shots),
            repr(update.precision),
            update.backend,
            str(update.priority),
            "" if update.deadline is None else update.deadline.isoformat(),
            repr(update.seed),
            repr(sorted(update.labels.items())),
        )
    )
    digest = hashlib.sha256(head.encode("utf-8", "surrogatepass"))
    digest.update(b"\x1e")
    digest.update(np.asarray(update.parameters, dtype="<f8").tobytes())
    return digest.hexdigest()


class IdempotencyLedger:
    """Records executed event ids and their payload digests.

    Not locked: one agent owns each partition's ids (keying by template keeps an event on one
    worker), and the executor processes a batch sequentially.
    """

    def __init__(self, store: MutableMapping[str, str]) -> None:
        self._store = store

    def check(self, event_id: str, digest: str) -> Seen:
        """Classify the set ``event_id`` with payload digest ``digest`` against the past."""
        entry = self._store.get(event_id)
        if entry is None:
            return Seen.NEW
        if entry_digest(entry) != digest:
            return Seen.CONFLICT
        return Seen.DUPLICATE if is_done(entry) else Seen.PAID

    def mark(self, event_id: str, digest: str) -> None:
        """Record that the set was charged and submitted (before submitting)."""
        self._store[event_id] = paid_entry(digest)

    def mark_done(self, event_id: str, digest: str) -> None:
        """Record a final outcome that needed no backend (rejected, over budget)."""
        self._store[event_id] = done_entry(digest)

    def complete(self, event_ids: Iterable[str]) -> None:
        """Record that results for ``event_ids`` were produced (after producing them)."""
        for event_id in event_ids:
            entry = self._store.get(event_id)
            if entry is not None and not is_done(entry):
                self._store[event_id] = done_entry(entry_digest(entry))

    def is_done(self, event_id: str) -> bool:
        """Whether ``event_id`` has a published outcome."""
        return is_done(self._store.get(event_id))


__all__ = [
    "IdempotencyLedger",
    "Seen",
    "done_entry",
    "entry_digest",
    "is_done",
    "paid_entry",
    "payload_digest",
]
