"""Idempotency ledger: each event id is executed and charged at most once.

The ledger maps event id to ``"<state>:<payload digest>"`` in a ``MutableMapping`` (a
changelog-backed table in production). States:

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
    IN_FLIGHT = "IN_FLIGHT"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"


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

    def check(self, update: ParameterUpdate, digest: str = "") -> Seen:
        """Classify ``update`` (whose ``payload_digest`` may be passed) against the past."""
        entry = self._store.get(update.event_id)
        if entry is None:
            return Seen.NEW
        state, _, recorded = entry.partition(":")
        if recorded != (digest or payload_digest(update)):
            return Seen.CONFLICT
        return Seen.DUPLICATE if state == "done" else Seen.IN_FLIGHT

    def mark(self, update: ParameterUpdate, digest: str = "") -> None:
        """Record that ``update`` was charged and submitted (before submitting)."""
        self._store[update.event_id] = f"paid:{digest or payload_digest(update)}"

    def mark_done(self, update: ParameterUpdate, digest: str = "") -> None:
        """Record a final outcome that needed no backend (rejected, over budget)."""
        self._store[update.event_id] = f"done:{digest or payload_digest(update)}"

    def complete(self, event_ids: Iterable[str]) -> None:
        """Record that results for ``event_ids`` were produced (after producing them)."""
        for event_id in event_ids:
            entry = self._store.get(event_id)
            if entry is not None and not entry.startswith("done:"):
                self._store[event_id] = "done:" + entry.partition(":")[2]


__all__ = ["IdempotencyLedger", "Seen", "payload_digest"]
