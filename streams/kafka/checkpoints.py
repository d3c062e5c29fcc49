"""Read an experiment's latest optimizer checkpoint from the compacted ``experiments`` topic.

The topic is the authority (the sink's ClickHouse copy may lag a crash by a batch): a resume
reads it to its end once, keeping the last record whose key is the experiment id. Compaction
bounds the read by the number of live experiments, not by their iterations.
"""

from __future__ import annotations

from schemas import ContractError, ExperimentCheckpoint
from streams.config import Settings
from streams.kafka.codec import make_codec
from streams.kafka.table_reader import CompactedTopicReader


def latest_checkpoint(
    settings: Settings, topic: str, experiment_id: str, timeout_s: float = 30.0
) -> ExperimentCheckpoint | None:
    """The last checkpoint written for ``experiment_id`` (None when there is none)."""
    codec = make_codec(settings)
    key = experiment_id.encode()
    found: list[ExperimentCheckpoint] = []

    def apply(k: bytes | None, value: bytes | None) -> None:
        if k != key or value is None:
            return
        try:
            found.append(codec.decode(ExperimentCheckpoint, value))
        except ContractError:
            return  # a record this reader cannot decode is not a checkpoint to resume from

    reader = CompactedTopicReader(
        settings.librdkafka_config(), topic, apply, name="checkpoint-reader"
    ).start()
    try:
        reader.wait_caught_up(timeout_s)
    finally:
        reader.stop()
    return found[-1] if found else None


__all__ = ["latest_checkpoint"]
