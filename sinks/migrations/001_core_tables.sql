-- 001: the raw event tables the sink writes, one per Kafka contract, plus the sink's batch log.
--
-- Shared choices, and why:
-- * Every table the sink inserts into sets non_replicated_deduplication_window: the sink passes an
--   insert_deduplication_token derived from the topic-partition-offset range of the batch, so a
--   batch re-inserted after a crash between insert and offset commit is dropped by the engine.
--   1000 blocks per table covers far more than one unacknowledged batch per partition.
-- * Timestamps are DateTime64(6, 'UTC') (Avro timestamp-micros) with Delta + ZSTD: event times of
--   neighbouring rows are close, so deltas are tiny and compress to almost nothing.
-- * Low-cardinality dimensions (tenant, backend, template, status, codes) are LowCardinality(String)
--   rather than Enum: dictionary-encoded like an enum, but a new status or backend added by a
--   schema evolution never needs an ALTER before the sink can write it.
-- * Monthly partitions: few enough parts for a single node, and TTL drops whole parts cheaply.
-- * kafka_topic/kafka_partition/kafka_offset record where each row came from: audits and
--   "which batch wrote this" questions need no Kafka access.
-- * ingested_at defaults to insert time and is the ReplacingMergeTree version.

CREATE DATABASE IF NOT EXISTS qloop;

-- One row per parameter set. ReplacingMergeTree keyed by event_id (belt and braces): if a
-- duplicate ever escapes token deduplication (a replay after the window expired), merges keep the
-- latest ingest. Exact counts must then use FINAL, or argMax(..., ingested_at) grouped by
-- event_id; plain count() is exact whenever token deduplication held, which is the normal case.
-- ORDER BY leads with tenant and experiment because almost every analysis ("loss curve of this
-- experiment") filters on them; event_id last makes the sorting key unique per parameter set.
CREATE TABLE IF NOT EXISTS qloop.results
(
    event_id            String,
    job_id              Nullable(String),
    experiment_id       String,
    iteration           Int64 CODEC(Delta, ZSTD),
    tenant              LowCardinality(String),
    template_id         LowCardinality(String),
    topology_key        LowCardinality(String),
    backend             LowCardinality(String),
    primitive           LowCardinality(String),
    status              LowCardinality(String),
    parameters          Array(Float64) CODEC(ZSTD(3)),
    shots               UInt32,
    counts              Map(String, UInt64) CODEC(ZSTD(3)),
    has_counts          Bool,
    expectation_values  Array(Float64) CODEC(ZSTD(3)),
    standard_errors     Array(Float64) CODEC(ZSTD(3)),
    error_code          LowCardinality(String),
    error_message       String CODEC(ZSTD(3)),
    cost                Float64,
    queue_ms            Float64 CODEC(Gorilla, ZSTD),
    compile_ms          Float64 CODEC(Gorilla, ZSTD),
    execute_ms          Float64 CODEC(Gorilla, ZSTD),
    end_to_end_ms       Float64 CODEC(Gorilla, ZSTD),
    produced_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    completed_at        DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    package_versions    Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    code_version        LowCardinality(String),
    transpiler_settings Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    backend_name        LowCardinality(String),
    seed_simulator      Nullable(Int64),
    seed_transpiler     Nullable(Int64),
    calibration_id      LowCardinality(Nullable(String)),
    labels              Map(String, String) CODEC(ZSTD(3)),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64 CODEC(Delta, ZSTD),
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(completed_at)
ORDER BY (tenant, experiment_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per backend submission. Keyed by job_id (ReplacingMergeTree, same reasoning as results);
-- ORDER BY leads with backend because job analysis is per backend (queueing, batch sizes, cost).
CREATE TABLE IF NOT EXISTS qloop.jobs
(
    job_id              String,
    backend             LowCardinality(String),
    primitive           LowCardinality(String),
    event_ids           Array(String) CODEC(ZSTD(3)),
    template_ids        Array(LowCardinality(String)),
    topology_keys       Array(LowCardinality(String)),
    tenants             Array(LowCardinality(String)),
    num_parameter_sets  UInt32,
    total_shots         UInt64,
    compile_cache_hit   Bool,
    queued_at           DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    submitted_at        DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    estimated_cost      Float64,
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64 CODEC(Delta, ZSTD),
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(submitted_at)
ORDER BY (backend, job_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per transpilation (cache miss). A compile_key can legitimately compile again after a
-- cache eviction, so this is a plain MergeTree (every compilation is a fact); ordered for the
-- "how deep does this template compile on that backend, over time" question.
CREATE TABLE IF NOT EXISTS qloop.compilations
(
    compile_key         String,
    template_id         LowCardinality(String),
    topology_key        LowCardinality(String),
    backend             LowCardinality(String),
    calibration_id      LowCardinality(Nullable(String)),
    transpiler_settings Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    depth               UInt32,
    two_qubit_gates     UInt32,
    size                UInt32,
    duration_ms         Float64 CODEC(Gorilla, ZSTD),
    compiled_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64 CODEC(Delta, ZSTD),
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta, ZSTD)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(compiled_at)
ORDER BY (backend, template_id, compiled_at)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per rejected input. Operational data, not experiment data: kept 90 days (the TTL drops
-- whole monthly parts). raw_bytes are already redacted upstream; ZSTD(3) because they are bulky.
CREATE TABLE IF NOT EXISTS qloop.dead_letters
(
    error_code          LowCardinality(String),
    error_message       String CODEC(ZSTD(3)),
    stage               LowCardinality(String),
    source_topic        LowCardinality(String),
    source_partition    UInt32,
    source_offset       UInt64,
    schema_fingerprint  LowCardinality(Nullable(String)),
    event_id            Nullable(String),
    tenant              LowCardinality(Nullable(String)),
    raw_bytes           String CODEC(ZSTD(3)),
    occurred_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64 CODEC(Delta, ZSTD),
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6) CODEC(Delta, ZSTD)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (stage, error_code, occurred_at)
TTL toDateTime(occurred_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Per-qubit calibration snapshots. The canary records the snapshot in force at every run, so the
-- same (backend, calibration_id, qubit) arrives many times: ReplacingMergeTree collapses the
-- repeats, and drift queries read one row per qubit with FINAL or any().
CREATE TABLE IF NOT EXISTS qloop.calibrations
(
    backend             LowCardinality(String),
    calibration_id      String,
    qubit               UInt16,
    t1_us               Float64,
    t2_us               Float64,
    readout_error       Float64,
    captured_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree(captured_at)
ORDER BY (backend, calibration_id, qubit);

-- The sink's batch log: the offset range of every block, written before the block is inserted.
-- After a crash the sink re-forms exactly these ranges so their deduplication tokens match (see
-- sinks/writer.py). Only the last few batches per partition matter, hence the 7-day TTL.
CREATE TABLE IF NOT EXISTS qloop.sink_batches
(
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    first_offset        UInt64,
    last_offset         UInt64,
    logged_at           DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(logged_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(logged_at) + INTERVAL 7 DAY;
