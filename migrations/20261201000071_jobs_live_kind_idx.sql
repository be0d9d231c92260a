-- no-transaction
-- Issue 18, item 2: the `storelink_jobs` gauges (Queue::counts) count live and dead jobs per kind from
-- this index instead of scanning the job history (see migration 16 for why CONCURRENTLY).
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_live_kind_idx ON jobs (kind, state)
    WHERE state IN ('queued', 'running', 'paused', 'dead');
