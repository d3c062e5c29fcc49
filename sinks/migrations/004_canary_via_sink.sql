-- 004: the drift canary publishes to Kafka (topics canary-runs and calibrations) and the sink
-- stores its records like any other, so qloop.canary_runs and qloop.calibrations are now written
-- by the sink (sinks.rows.canary_run_row / calibration_rows), not by the canary process.
--
-- Why a new file: 003's comment says the canary writes canary_runs directly with a run_id token;
-- that is no longer true, but shipped migrations are checksummed and append-only (editing 003
-- would refuse to start every database that already applied it), so the correction lives here.
-- The tables keep their columns and carry no Kafka coordinates: rows are identified by run_id
-- and (backend, calibration_id, qubit), and the sink's block tokens drop a redelivered block.
--
-- calibrations (001) predates the sink writing it and keeps no deduplication log; every table
-- the sink inserts into must (see 001), so a block re-inserted after a crash is dropped by its
-- token instead of waiting for ReplacingMergeTree to collapse it. Setting it is idempotent.

ALTER TABLE qloop.calibrations MODIFY SETTING non_replicated_deduplication_window = 1000;
