-- Issue 18, item 2: the safety-net sweeps and gauges read what is due, not every merchant.

-- The resend pass (crates/registrar resend.rs) no longer inserts a row per merchant with a registered
-- slot on every pass: a row is written when a slot becomes registered. Rows for slots registered
-- before this migration are written here, due within the default period (10 minutes).
INSERT INTO webhook_resends (merchant_id, next_at)
SELECT DISTINCT merchant_id, now() + interval '10 minutes' FROM webhook_slots WHERE status = 'registered'
ON CONFLICT (merchant_id) DO NOTHING;

-- `storelink_sync_lag_seconds` (crates/sync lag_by_kind): the oldest success per kind is the first
-- entry of this index, one lookup per kind.
CREATE INDEX sync_state_success_idx ON sync_state (kind, last_success_at);

-- An incremental run that found nothing writes nothing but its checkpoint: no `sync.completed` event
-- (and so no partner delivery) for it. Baseline and full runs, and incremental runs that changed
-- something, are still announced (docs/MODEL.md).
DROP TRIGGER sync_state_to_partner_events ON sync_state;
CREATE TRIGGER sync_state_to_partner_events AFTER UPDATE OF last_success_at ON sync_state
    FOR EACH ROW WHEN (NEW.last_success_at IS DISTINCT FROM OLD.last_success_at
                       AND NOT (NEW.mode = 'incremental' AND OLD.last_success_at IS NOT NULL
                                AND NEW.run_created = 0 AND NEW.run_updated = 0 AND NEW.run_deleted = 0))
    EXECUTE FUNCTION partner_events_from_sync_runs();
