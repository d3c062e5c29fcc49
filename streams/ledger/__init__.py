"""Durability: what a worker must remember across crashes, and the order it writes it in.

Lives here: the journal on the ledger topic (:mod:`~streams.ledger.journal`),
reconciliation of paid sets against published results (:mod:`~streams.ledger.reconcile`), the
index of inputs already dead-lettered (:mod:`~streams.ledger.dead_letter_index`) and the stall
fence that stops a frozen worker from writing (:mod:`~streams.ledger.stall_fence`). May import
``processors``, ``schemas``, ``streams.kafka`` and ``streams.config``; never the worker, the sink
worker, the local stack or the CLI.
"""

__all__: list[str] = []
