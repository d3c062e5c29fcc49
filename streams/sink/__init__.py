"""The sink worker: Kafka result topics into ClickHouse, offsets committed after the insert.

Lives here: the consumer loop (:mod:`streams.sink.worker`) and how it is started from settings
(:mod:`streams.sink.launch`). May import ``sinks``, ``schemas``, the dead-letter builder of
``processors``, ``streams.kafka`` and ``streams.config``; never the processing worker, the
ledger or the CLI.
"""

from streams.sink.launch import run_configured_sink, sink_topics
from streams.sink.worker import SINK_STAGE, run_sink

__all__ = ["SINK_STAGE", "run_configured_sink", "run_sink", "sink_topics"]
