-- 'unknown': OCC did not answer the create request (timeout, dropped connection, 5xx), so the order
-- may exist. The key is kept; a retry looks the order up by its external reference before creating.
ALTER TABLE partner_orders DROP CONSTRAINT partner_orders_state_check;
ALTER TABLE partner_orders ADD CONSTRAINT partner_orders_state_check
    CHECK (state IN ('pending', 'created', 'failed', 'unknown'));
