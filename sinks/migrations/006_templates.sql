-- Circuit templates as registered (the compacted topic, stored), so that every result joins to
-- the circuit that ran (results.template_id = templates.template_id) without Kafka: what a
-- replay or a report needs. A template's id is the hash of its qasm3 text, so a re-registration
-- is the same row; ReplacingMergeTree keeps one. Refused registrations are stored too (their
-- refusal is in dead_letters): this table says what was sent.
CREATE TABLE IF NOT EXISTS qloop.templates
(
    template_id       String,
    name              String,
    qasm3             String CODEC(ZSTD(3)),
    parameter_names   Array(String),
    num_qubits        UInt16,
    topology_key      LowCardinality(String),
    observables       Array(Tuple(pauli String, coeff Float64)),
    created_at        DateTime64(6, 'UTC'),
    kafka_topic       LowCardinality(String),
    kafka_partition   UInt32,
    kafka_offset      UInt64,
    ingested_at       DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY template_id;
