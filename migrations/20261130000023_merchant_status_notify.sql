-- A change of a merchant's status (revoked, paused, ...) is announced on `storelink_merchant_status`
-- (payload: the merchant id) when its transaction commits, whatever made it (ops, the console, the
-- token cache). Every web process listens and drops its cached inbound lookups for that merchant at
-- once, so a revoked merchant's deliveries are refused everywhere from then on (crates/inbound/src/lookup.rs).
CREATE FUNCTION merchants_notify_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('storelink_merchant_status', OLD.merchant_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER merchants_status_notify
    AFTER UPDATE OF status ON merchants
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION merchants_notify_status();

CREATE TRIGGER merchants_delete_notify
    AFTER DELETE ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_notify_status();
