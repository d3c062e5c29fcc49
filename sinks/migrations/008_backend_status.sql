-- 008: every operator mark on a backend (qloop backends down/up), kept as an audit trail:
-- who took a backend out, when, why, and when it came back. The compacted Kafka topic keeps
-- only the latest mark per backend, which is all the workers need.
CREATE TABLE IF NOT EXISTS qloop.backend_status
(
    backend             LowCardinality(String),
    available           Bool,
    reason              String,
    changed_by          LowCardinality(String),
    changed_at          DateTime64(6, 'UTC'),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64,
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (backend, changed_at)
SETTINGS non_replicated_deduplication_window = 1000;
