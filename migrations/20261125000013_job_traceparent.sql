-- The W3C traceparent of the request that enqueued a job, so the worker that runs it (in any
-- process) and the OCC calls it makes continue that trace. NULL for scheduled jobs: each run of
-- those starts a trace of its own.
ALTER TABLE jobs ADD COLUMN traceparent text CHECK (length(traceparent) <= 128);
