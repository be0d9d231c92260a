-- Issue 18 item 6: the ops tenants list at 10,000 tenants costs O(page). One health row per merchant
-- (crates/tenants/src/health.rs owns the reads) is kept current by triggers on the tables whose changes
-- move it (merchants, webhook_slots, sync_state, merchant_checks, dead jobs, job_schedule_state), so
-- the list reads one index range and never aggregates those tables over all merchants.
--
-- Needs-attention score, in points where one point weighs as much as one hour of sync lag:
--   credentials_invalid 720; per failed webhook slot 24; per dead-lettered job of a kind that has not
--   succeeded since 24 (at most 10 counted); per failed sync kind 6; per failed connection check 1.
-- attention_key (epoch seconds, ascending = more urgent) = base_at - score * 3600, where base_at is the
-- oldest `last_success_at` across the merchant's sync kinds (a kind that never succeeded counts from
-- `connected_at`; no kind at all: `connected_at`), or an overdue `pending` slot's deadline when that
-- is earlier. Ordering by the key is ordering by lag + score hours, for every `now` at once, so one
-- static btree serves "needs attention first". Paused and revoked tenants sort last (key = max).

CREATE TABLE merchant_health (
    merchant_id        uuid PRIMARY KEY REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    status             text NOT NULL,
    store_host         text COLLATE "C" NOT NULL,  -- lower-case host[:port] of store_url, for prefix search
    failed_slots       integer NOT NULL DEFAULT 0,
    pending_due_at     timestamptz,                -- earliest deadline of a slot left `pending`
    failed_syncs       integer NOT NULL DEFAULT 0,
    failed_checks      integer NOT NULL DEFAULT 0,
    dead_jobs          integer NOT NULL DEFAULT 0,
    oldest_success_at  timestamptz NOT NULL,
    score              integer NOT NULL DEFAULT 0,
    attention_key      bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_health_attention ON merchant_health (attention_key, merchant_id);
CREATE INDEX merchant_health_status_attention ON merchant_health (status, attention_key, merchant_id);
CREATE INDEX merchant_health_host ON merchant_health (store_host, merchant_id);
CREATE INDEX merchant_health_status_host ON merchant_health (status, store_host, merchant_id);
CREATE INDEX merchant_health_flagged ON merchant_health (attention_key, merchant_id)
    WHERE status = 'active' AND score > 0;
CREATE INDEX merchant_health_flagged_host ON merchant_health (store_host, merchant_id)
    WHERE status = 'active' AND score > 0;
-- Dead letters per merchant without walking its job history.
CREATE INDEX jobs_dead ON jobs (merchant_id, kind) WHERE state = 'dead';

-- Tenants per status, in 16 shards per status so concurrent onboardings do not queue on one row;
-- the pseudo-status `needs_attention` counts active tenants with a score above zero.
CREATE TABLE merchant_status_counts (
    status  text NOT NULL,
    shard   smallint NOT NULL,
    n       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (status, shard)
);

CREATE FUNCTION merchant_health_refresh(m uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    merchant record;
    slots_failed integer;
    pending_due timestamptz;
    syncs_failed integer;
    checks_failed integer;
    dead integer;
    oldest timestamptz;
    points integer;
    base timestamptz;
    sort_key bigint;
BEGIN
    SELECT status, store_url, connected_at INTO merchant FROM merchants WHERE merchant_id = m;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT count(*) FILTER (WHERE status = 'failed'), min(next_attempt_at) FILTER (WHERE status = 'pending')
      INTO slots_failed, pending_due FROM webhook_slots WHERE merchant_id = m;
    SELECT count(*) FILTER (WHERE state = 'failed'), min(coalesce(last_success_at, merchant.connected_at))
      INTO syncs_failed, oldest FROM sync_state WHERE merchant_id = m;
    SELECT count(*) INTO checks_failed FROM merchant_checks WHERE merchant_id = m AND NOT ok;
    SELECT count(*) INTO dead FROM jobs j
      LEFT JOIN job_schedule_state s ON s.merchant_id = j.merchant_id AND s.kind = j.kind
     WHERE j.merchant_id = m AND j.state = 'dead'
       AND (s.last_succeeded_at IS NULL OR j.finished_at IS NULL OR j.finished_at > s.last_succeeded_at);
    oldest := coalesce(oldest, merchant.connected_at);
    points := CASE WHEN merchant.status = 'credentials_invalid' THEN 720 ELSE 0 END
        + 24 * slots_failed + 24 * least(dead, 10) + 6 * syncs_failed + checks_failed;
    base := least(oldest, pending_due);
    sort_key := CASE WHEN merchant.status IN ('active', 'credentials_invalid')
                THEN floor(extract(epoch FROM base))::bigint - points::bigint * 3600
                ELSE 9223372036854775807 END;
    INSERT INTO merchant_health AS h (merchant_id, status, store_host, failed_slots, pending_due_at, failed_syncs,
                                      failed_checks, dead_jobs, oldest_success_at, score, attention_key)
    VALUES (m, merchant.status, lower(split_part(CASE WHEN merchant.store_url LIKE '%://%' THEN split_part(merchant.store_url, '://', 2)
                                  ELSE merchant.store_url END, '/', 1)), slots_failed,
            pending_due, syncs_failed, checks_failed, dead, oldest, points, sort_key)
    ON CONFLICT (merchant_id) DO UPDATE SET
        status = EXCLUDED.status, store_host = EXCLUDED.store_host, failed_slots = EXCLUDED.failed_slots,
        pending_due_at = EXCLUDED.pending_due_at, failed_syncs = EXCLUDED.failed_syncs,
        failed_checks = EXCLUDED.failed_checks, dead_jobs = EXCLUDED.dead_jobs,
        oldest_success_at = EXCLUDED.oldest_success_at, score = EXCLUDED.score,
        attention_key = EXCLUDED.attention_key, updated_at = now()
    -- Unchanged health writes nothing.
    WHERE (h.status, h.store_host, h.failed_slots, h.pending_due_at, h.failed_syncs, h.failed_checks, h.dead_jobs,
           h.oldest_success_at, h.score, h.attention_key)
          IS DISTINCT FROM
          (EXCLUDED.status, EXCLUDED.store_host, EXCLUDED.failed_slots, EXCLUDED.pending_due_at,
           EXCLUDED.failed_syncs, EXCLUDED.failed_checks, EXCLUDED.dead_jobs, EXCLUDED.oldest_success_at,
           EXCLUDED.score, EXCLUDED.attention_key);
END $$;

-- Row triggers: the merchant of NEW (insert, update) or OLD (delete). Every trigger of this migration
-- is a constraint trigger deferred to commit: the health and counter rows are locked only for the
-- commit's last moment, never while the writer goes on to lock other rows (a revoke holding the
-- merchant row and cancelling jobs, a sync holding its job row), which could otherwise deadlock.
CREATE FUNCTION merchant_health_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM merchant_health_refresh(OLD.merchant_id);
    ELSE
        PERFORM merchant_health_refresh(NEW.merchant_id);
    END IF;
    RETURN NULL;
END $$;

-- A success clears the dead letters of its kind: only worth a refresh when there are any.
CREATE FUNCTION merchant_health_touch_if_dead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM merchant_health WHERE merchant_id = NEW.merchant_id AND dead_jobs > 0) THEN
        PERFORM merchant_health_refresh(NEW.merchant_id);
    END IF;
    RETURN NULL;
END $$;

-- Adds `delta` to a status's shard of the merchant.
CREATE FUNCTION merchant_status_count_add(status_ text, merchant uuid, delta integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO merchant_status_counts (status, shard, n) VALUES (status_, abs(hashtext(merchant::text)) % 16, delta)
    ON CONFLICT (status, shard) DO UPDATE SET n = merchant_status_counts.n + EXCLUDED.n;
$$;

-- A status change touches two counter rows, always in the order of their status names, so two
-- changes in opposite directions (active -> paused, paused -> active) cannot deadlock.
CREATE FUNCTION merchant_status_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM merchant_status_count_add(NEW.status, NEW.merchant_id, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM merchant_status_count_add(OLD.status, OLD.merchant_id, -1);
    ELSIF OLD.status < NEW.status THEN
        PERFORM merchant_status_count_add(OLD.status, OLD.merchant_id, -1);
        PERFORM merchant_status_count_add(NEW.status, NEW.merchant_id, 1);
    ELSE
        PERFORM merchant_status_count_add(NEW.status, NEW.merchant_id, 1);
        PERFORM merchant_status_count_add(OLD.status, OLD.merchant_id, -1);
    END IF;
    RETURN NULL;
END $$;

-- The needs-attention count follows the health rows themselves (a cascade delete included).
CREATE FUNCTION merchant_health_flagged_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' AND OLD.score > 0 THEN
        PERFORM merchant_status_count_add('needs_attention', OLD.merchant_id, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'active' AND NEW.score > 0 THEN
        PERFORM merchant_status_count_add('needs_attention', NEW.merchant_id, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER merchant_health_flagged AFTER INSERT OR DELETE ON merchant_health
    FOR EACH ROW EXECUTE FUNCTION merchant_health_flagged_count();
CREATE TRIGGER merchant_health_flagged_update AFTER UPDATE ON merchant_health
    FOR EACH ROW WHEN ((OLD.status = 'active' AND OLD.score > 0) IS DISTINCT FROM (NEW.status = 'active' AND NEW.score > 0))
    EXECUTE FUNCTION merchant_health_flagged_count();

CREATE CONSTRAINT TRIGGER merchants_health AFTER INSERT OR UPDATE OF status, store_url, connected_at ON merchants DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER merchants_count_insert AFTER INSERT OR DELETE ON merchants DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_status_count();
CREATE CONSTRAINT TRIGGER merchants_count_update AFTER UPDATE OF status ON merchants DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION merchant_status_count();

CREATE CONSTRAINT TRIGGER webhook_slots_health AFTER INSERT OR DELETE ON webhook_slots DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER webhook_slots_health_update AFTER UPDATE OF status, next_attempt_at ON webhook_slots DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.next_attempt_at IS DISTINCT FROM NEW.next_attempt_at)
    EXECUTE FUNCTION merchant_health_touch();

-- sync_state is written with every page; only a change of state or of the last success moves health.
CREATE CONSTRAINT TRIGGER sync_state_health AFTER INSERT OR DELETE ON sync_state DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER sync_state_health_update AFTER UPDATE OF state, last_success_at ON sync_state DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.last_success_at IS DISTINCT FROM NEW.last_success_at)
    EXECUTE FUNCTION merchant_health_touch();

CREATE CONSTRAINT TRIGGER merchant_checks_health AFTER INSERT OR DELETE ON merchant_checks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER merchant_checks_health_update AFTER UPDATE OF ok ON merchant_checks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.ok IS DISTINCT FROM NEW.ok) EXECUTE FUNCTION merchant_health_touch();

-- Jobs change state on every claim and heartbeat: only entering or leaving `dead` touches health.
CREATE CONSTRAINT TRIGGER jobs_health_insert AFTER INSERT ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.state = 'dead') EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER jobs_health_update AFTER UPDATE OF state ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND (OLD.state = 'dead' OR NEW.state = 'dead'))
    EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER jobs_health_delete AFTER DELETE ON jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.state = 'dead') EXECUTE FUNCTION merchant_health_touch();
CREATE CONSTRAINT TRIGGER job_schedule_state_health AFTER INSERT OR UPDATE OF last_succeeded_at ON job_schedule_state DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION merchant_health_touch_if_dead();

-- Existing tenants.
INSERT INTO merchant_status_counts (status, shard, n)
SELECT status, abs(hashtext(merchant_id::text)) % 16, count(*) FROM merchants GROUP BY 1, 2;
SELECT merchant_health_refresh(merchant_id) FROM merchants;
