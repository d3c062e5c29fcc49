"""The processing worker: the faust app, the pipeline it drives and what the pipeline reads.

Lives here: the faust app and the worker's lifecycle (:mod:`~streams.worker.app`), how its
parts are built from settings (:mod:`~streams.worker.wiring`), the per-message and per-batch
pipeline (:mod:`~streams.worker.pipeline`) and the circuit-template registry
(:mod:`~streams.worker.template_registry`). May import ``processors``, ``schemas``, the ledger,
``streams.kafka`` and ``streams.config``; never the sink worker, the local stack or the CLI.
Submodules are imported by name: importing this package does not start faust.
"""

__all__: list[str] = []
