-- 011: the provider's own view of a job (JobSubmitted v3, JobResult v3). provider_job_ids are
-- the IBM Quantum job ids a submission became (announced once the provider accepted it);
-- provider_queue_ms is how long the provider's queue held the job, from its own timestamps,
-- so that queue time is no longer counted as execution time. Rows stored before v3 read
-- empty / NULL.
ALTER TABLE qloop.jobs ADD COLUMN IF NOT EXISTS provider_job_ids Array(String) DEFAULT [];
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS provider_job_id Nullable(String);
ALTER TABLE qloop.results ADD COLUMN IF NOT EXISTS provider_queue_ms Nullable(Float64);
