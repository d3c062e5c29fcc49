-- 002: per-minute SLI time series, maintained by materialized views over the raw tables (the MV
-- is the only write path: the sink never writes aggregates itself).
--
-- Why these engines and types:
-- * AggregatingMergeTree keyed by (backend, tenant, minute): merges collapse each minute to one row
--   per key while keeping mergeable states, so any window (1 h, 30 d) or roll-up (all tenants) is
--   a -Merge away. Counters are SimpleAggregateFunction(sum) (cheaper than countState).
-- * Latency quantiles use quantilesExactInclusive states: exact, and identical to numpy's default
--   (linear) quantiles on the same data. The state keeps every value of the minute, which is
--   affordable at qloop's rates (8 bytes per result); switch to quantilesTDigest (about 1 %
--   relative error) if per-minute volume ever reaches millions.
-- * Latency histograms (sumMap of bucket upper bound in ms -> count) make threshold SLOs exact:
--   "99 % within 2000 ms" is the share of results in buckets <= 2000. SLO thresholds must be one
--   of the bucket bounds; sinks/sli.py holds the same list (LATENCY_BUCKETS_MS) and checks it.
-- * Latency and availability only count executed results (SUCCEEDED, FAILED, DEGRADED): REJECTED
--   and BUDGET_EXCEEDED never reached a backend and would skew both.
-- * The target tables set non_replicated_deduplication_window too: verified under chDB 26.9, a
--   block dropped by token deduplication in the source still reaches the view unless the view's
--   target also keeps a deduplication log.
-- * TTL 400 days: a year of minute resolution plus a month to compare year over year.

CREATE TABLE IF NOT EXISTS qloop.sli_results_minute
(
    minute          DateTime('UTC') CODEC(Delta, ZSTD),
    backend         LowCardinality(String),
    tenant          LowCardinality(String),
    results         SimpleAggregateFunction(sum, UInt64),
    executed        SimpleAggregateFunction(sum, UInt64),
    succeeded       SimpleAggregateFunction(sum, UInt64),
    failed          SimpleAggregateFunction(sum, UInt64),
    degraded        SimpleAggregateFunction(sum, UInt64),
    rejected        SimpleAggregateFunction(sum, UInt64),
    budget_exceeded SimpleAggregateFunction(sum, UInt64),
    backend_errors  SimpleAggregateFunction(sum, UInt64),
    shots           SimpleAggregateFunction(sum, UInt64),
    cost            SimpleAggregateFunction(sum, Float64),
    queue_q         AggregateFunction(quantilesExactInclusive(0.5, 0.95, 0.99), Float64),
    compile_q       AggregateFunction(quantilesExactInclusive(0.5, 0.95, 0.99), Float64),
    execute_q       AggregateFunction(quantilesExactInclusive(0.5, 0.95, 0.99), Float64),
    end_to_end_q    AggregateFunction(quantilesExactInclusive(0.5, 0.95, 0.99), Float64),
    queue_h         SimpleAggregateFunction(sumMap, Map(UInt32, UInt64)),
    compile_h       SimpleAggregateFunction(sumMap, Map(UInt32, UInt64)),
    execute_h       SimpleAggregateFunction(sumMap, Map(UInt32, UInt64)),
    end_to_end_h    SimpleAggregateFunction(sumMap, Map(UInt32, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (backend, tenant, minute)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS qloop.sli_results_minute_mv TO qloop.sli_results_minute AS
WITH
    status IN ('SUCCEEDED', 'FAILED', 'DEGRADED') AS is_executed,
    [toUInt32(1), 2, 5, 10, 20, 50, 100, 200, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 5000,
     7500, 10000, 15000, 20000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000,
     4294967295] AS bounds
SELECT
    toStartOfMinute(completed_at) AS minute,
    backend,
    tenant,
    count() AS results,
    countIf(is_executed) AS executed,
    countIf(status = 'SUCCEEDED') AS succeeded,
    countIf(status = 'FAILED') AS failed,
    countIf(status = 'DEGRADED') AS degraded,
    countIf(status = 'REJECTED') AS rejected,
    countIf(status = 'BUDGET_EXCEEDED') AS budget_exceeded,
    countIf(error_code = 'backend_error') AS backend_errors,
    sum(toUInt64(shots)) AS shots,
    sum(cost) AS cost,
    quantilesExactInclusiveStateIf(0.5, 0.95, 0.99)(queue_ms, is_executed) AS queue_q,
    quantilesExactInclusiveStateIf(0.5, 0.95, 0.99)(compile_ms, is_executed) AS compile_q,
    quantilesExactInclusiveStateIf(0.5, 0.95, 0.99)(execute_ms, is_executed) AS execute_q,
    quantilesExactInclusiveStateIf(0.5, 0.95, 0.99)(end_to_end_ms, is_executed) AS end_to_end_q,
    sumMapIf(map(arrayFirst(b -> queue_ms <= b, bounds), toUInt64(1)), is_executed) AS queue_h,
    sumMapIf(map(arrayFirst(b -> compile_ms <= b, bounds), toUInt64(1)), is_executed) AS compile_h,
    sumMapIf(map(arrayFirst(b -> execute_ms <= b, bounds), toUInt64(1)), is_executed) AS execute_h,
    sumMapIf(map(arrayFirst(b -> end_to_end_ms <= b, bounds), toUInt64(1)), is_executed)
        AS end_to_end_h
FROM qloop.results
GROUP BY minute, backend, tenant;

-- Submissions per minute and backend (a job spans tenants, so no tenant key here). Retries over
-- any window = parameter_sets - uniqExactMerge(distinct_sets): a set submitted twice is a retry.
CREATE TABLE IF NOT EXISTS qloop.sli_jobs_minute
(
    minute          DateTime('UTC') CODEC(Delta, ZSTD),
    backend         LowCardinality(String),
    jobs            SimpleAggregateFunction(sum, UInt64),
    parameter_sets  SimpleAggregateFunction(sum, UInt64),
    distinct_sets   AggregateFunction(uniqExact, String),
    total_shots     SimpleAggregateFunction(sum, UInt64),
    estimated_cost  SimpleAggregateFunction(sum, Float64),
    cache_hits      SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (backend, minute)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS qloop.sli_jobs_minute_mv TO qloop.sli_jobs_minute AS
SELECT
    toStartOfMinute(submitted_at) AS minute,
    backend,
    count() AS jobs,
    sum(toUInt64(num_parameter_sets)) AS parameter_sets,
    uniqExactArrayState(event_ids) AS distinct_sets,
    sum(total_shots) AS total_shots,
    sum(estimated_cost) AS estimated_cost,
    countIf(compile_cache_hit) AS cache_hits
FROM qloop.jobs
GROUP BY minute, backend;
