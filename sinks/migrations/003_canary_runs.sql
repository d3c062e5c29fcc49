-- 003: canary runs for drift analysis: reference circuits (Bell, GHZ, a fixed parameter set of
-- each template) with known ideal outputs, run on every backend on a timer.
--
-- Why: ORDER BY (backend, template, run_at) is exactly the drift query's access path (one
-- backend/template series over time). counts and ideal are Maps keyed by bitstring (qubit 0
-- rightmost, as in results.counts) so TV and Hellinger distances are array lambdas over the union
-- of keys. expectation/ideal_expectation are optional scalar observables (e.g. <ZZ> on Bell) for
-- the z-score check. A year of canaries is enough history for any baseline; TTL drops older parts.
-- Written directly by the canary (sinks.drift.record_canary_run), so no Kafka coordinates; the
-- run_id token makes a retried write a no-op.

CREATE TABLE IF NOT EXISTS qloop.canary_runs
(
    run_id              String,
    backend             LowCardinality(String),
    template            LowCardinality(String),
    calibration_id      LowCardinality(String),
    shots               UInt32,
    counts              Map(String, UInt64) CODEC(ZSTD(3)),
    ideal               Map(String, Float64) CODEC(ZSTD(3)),
    expectation         Nullable(Float64),
    ideal_expectation   Nullable(Float64),
    run_at              DateTime64(6, 'UTC') CODEC(Delta, ZSTD),
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(run_at)
ORDER BY (backend, template, run_at)
TTL toDateTime(run_at) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000;
