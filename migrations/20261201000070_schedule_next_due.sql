-- Issue 18, item 2: the scheduler reads only what is due. Each (merchant, scheduled kind) keeps the
-- time it is next due, set by the job's success (last success + the kind's interval) and read through
-- an index, so a scheduler tick costs O(due rows), not a scan of every merchant. Owned by crates/jobs.

-- The scheduled kinds and their intervals, registered by the scheduler (crates/jobs schedule.rs).
-- A global table (a Citus reference table, docs/SCALING.md).
CREATE TABLE job_schedules (
    kind           text PRIMARY KEY CHECK (kind ~ '^[a-z_]{1,32}$'),
    every_secs     double precision NOT NULL CHECK (every_secs > 0),
    registered_at  timestamptz NOT NULL DEFAULT now()
);

-- NULL: not scheduled (a kind no schedule names, e.g. `inbound`).
ALTER TABLE job_schedule_state ADD COLUMN next_due_at timestamptz;
CREATE INDEX job_schedule_state_due_idx ON job_schedule_state (kind, next_due_at) WHERE next_due_at IS NOT NULL;

-- A new merchant is due at once for every registered kind (no scan of merchants is needed to find it).
CREATE FUNCTION job_schedule_state_for_new_merchant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_schedule_state (merchant_id, kind, next_due_at)
    SELECT NEW.merchant_id, s.kind, now() FROM job_schedules s
    ON CONFLICT (merchant_id, kind) DO UPDATE SET next_due_at = COALESCE(job_schedule_state.next_due_at, now());
    RETURN NULL;
END $$;
CREATE TRIGGER merchants_schedule_state AFTER INSERT ON merchants
    FOR EACH ROW EXECUTE FUNCTION job_schedule_state_for_new_merchant();
