"""Everything that runs qloop on one machine: the broker, the stack and the ``qloop run`` driver.

Lives here: the project-managed KRaft broker built from Maven Central jars
(:mod:`~streams.local.broker`, with its ``pom.xml``), the local stack of broker, topics, worker
subprocess and sink thread (:mod:`~streams.local.stack`), the built-in workload driver
(:mod:`~streams.local.run_driver`) and read-backs for people (:mod:`~streams.local.reports`).
May import every stage below the CLI; nothing but the CLI and the bench imports it.
"""

__all__: list[str] = []
