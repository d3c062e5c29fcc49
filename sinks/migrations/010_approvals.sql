-- 010: the approval gate's audit trail: every request and every decision (who, when, what,
-- the estimated cost, why). One row per (request, status): a decision appended twice (an
-- expiry written by two workers) collapses, while a later conflicting decision stays visible
-- next to the first one, which is the one that counted.
CREATE TABLE IF NOT EXISTS qloop.approvals
(
    request_id          String,
    status              LowCardinality(String),
    tenant              LowCardinality(String),
    backend             LowCardinality(String),
    experiment_id       String,
    template_id         LowCardinality(String),
    shots               UInt32,
    estimated_cost      Float64,
    rule                String,
    requested_at        DateTime64(6, 'UTC'),
    expires_at          DateTime64(6, 'UTC'),
    decided_by          LowCardinality(Nullable(String)),
    decided_at          Nullable(DateTime64(6, 'UTC')),
    reason              Nullable(String),
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64,
    ingested_at         DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (request_id, status)
SETTINGS non_replicated_deduplication_window = 1000;
