-- 009: how many attempts a backend job took (JobSubmitted v2). A transient failure is retried
-- and each retry announces the job again with the next attempt number; the jobs table keeps
-- the latest announcement per job id, so this is the job's attempt count. Jobs stored before
-- v2 read 1.
ALTER TABLE qloop.jobs ADD COLUMN IF NOT EXISTS attempts UInt16 DEFAULT 1;
