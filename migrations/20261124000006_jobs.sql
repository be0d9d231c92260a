-- Durable jobs (crates/jobs). One live job per (merchant, kind): queued, running or paused.
-- A running job holds a lease (token + expiry) renewed by heartbeats; writes made on behalf of a job
-- check the token in the same transaction, so a worker whose lease expired cannot overwrite the work
-- of the job's next attempt. Long jobs run in slices and requeue themselves, which keeps merchants fair.

CREATE TABLE jobs (
    merchant_id       uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    job_id            bigint GENERATED ALWAYS AS IDENTITY,
    kind              text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
    mode              text NOT NULL DEFAULT 'incremental' CHECK (mode IN ('full', 'incremental')),
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'paused', 'succeeded', 'dead', 'cancelled')),
    run_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0,      -- failed attempts so far
    max_attempts      integer NOT NULL DEFAULT 8,
    slices            integer NOT NULL DEFAULT 0,      -- times the job was picked up
    lease_token       uuid,
    lease_expires_at  timestamptz,
    heartbeat_at      timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, job_id)
);
CREATE UNIQUE INDEX jobs_one_live ON jobs (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused');
CREATE INDEX jobs_due ON jobs (run_at, job_id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('succeeded', 'cancelled');

-- When each (merchant, kind) last succeeded, for the periodic scheduler.
CREATE TABLE job_schedule_state (
    merchant_id         uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    kind                text NOT NULL,
    last_succeeded_at   timestamptz,
    last_full_at        timestamptz,
    PRIMARY KEY (merchant_id, kind)
);
