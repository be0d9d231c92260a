-- `sync.completed` (docs/MODEL.md): every successful sync run, the first (baseline) one included,
-- tells the merchant's partner what it created, updated and deleted in the kind's main table, so a
-- partner knows when a new merchant's catalog is ready without polling. Sync tallies the counts in
-- `sync_state` with each page; moving `last_success_at` (the run's finish) publishes them to the
-- partner outbox, as change_events and merchant_events do.
ALTER TABLE sync_state
    ADD COLUMN run_created  bigint NOT NULL DEFAULT 0,
    ADD COLUMN run_updated  bigint NOT NULL DEFAULT 0,
    ADD COLUMN run_deleted  bigint NOT NULL DEFAULT 0;

CREATE FUNCTION partner_events_from_sync_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_events (merchant_id, partner_id, type, data)
    SELECT NEW.merchant_id, m.partner_id, 'sync.completed',
           jsonb_build_object('merchant_id', NEW.merchant_id,
               'kind', CASE NEW.kind WHEN 'shipping' THEN 'shipping_methods' ELSE NEW.kind END,
               'mode', CASE WHEN OLD.last_success_at IS NULL THEN 'baseline' ELSE NEW.mode END,
               'created', NEW.run_created, 'updated', NEW.run_updated, 'deleted', NEW.run_deleted)
    FROM merchants m WHERE m.merchant_id = NEW.merchant_id;
    RETURN NULL;
END $$;
CREATE TRIGGER sync_state_to_partner_events AFTER UPDATE OF last_success_at ON sync_state
    FOR EACH ROW WHEN (NEW.last_success_at IS DISTINCT FROM OLD.last_success_at)
    EXECUTE FUNCTION partner_events_from_sync_runs();
