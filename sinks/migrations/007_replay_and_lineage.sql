-- 007: what replay and resume need.
--
-- results gains the rest of the reproducibility bundle (JobResult v2): the noise the backend
-- applied, the compilation whose circuit ran (joins qloop.compilations), and the estimator
-- precision the set asked for. Rows written before v2 keep the defaults: NULL (unknown).
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS noise_model_id LowCardinality(Nullable(String));
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS compile_key Nullable(String) CODEC(ZSTD(1));
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS precision Nullable(Float64);

-- Every optimizer checkpoint of every hybrid loop (the compacted Kafka topic keeps only the
-- latest per experiment, which is what a resume needs; lineage and reports need them all).
-- A loop may checkpoint one iteration twice (its last iteration, then "finished"), so
-- ReplacingMergeTree keeps the later one per (experiment_id, iteration).
CREATE TABLE IF NOT EXISTS qloop.experiment_checkpoints
(
    experiment_id       String,
    iteration           Int64,
    workload            LowCardinality(String),
    tenant              LowCardinality(String),
    optimizer           LowCardinality(String),
    optimizer_settings  Map(String, String),
    seed                Nullable(Int64),
    template_ids        Array(String),
    state               Map(String, Array(Float64)),
    value               Nullable(Float64),
    best_value          Nullable(Float64),
    parameter_sets      Int64,
    finished            Bool,
    recorded_at         DateTime64(6, 'UTC'),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64,
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (experiment_id, iteration)
SETTINGS non_replicated_deduplication_window = 1000;
