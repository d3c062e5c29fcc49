"""The wiring: configuration, topics, Kafka clients, the local broker, workers and the CLI.

The only package that knows about Kafka and faust. Import submodules directly
(``streams.client``, ``streams.worker.app``, ...); this package keeps its import light so the CLI
starts fast.
"""

__all__: list[str] = []
