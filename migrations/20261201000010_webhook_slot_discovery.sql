-- Slots are Storelink's event names (crates/core/src/slot.rs); the connector maps each to a store's
-- subscription. A slot is added in code (`return-request-update` now, function webhooks later), so the
-- column checks the shape of a name rather than a fixed list.
ALTER TABLE webhook_slots DROP CONSTRAINT webhook_slots_slot_check;
ALTER TABLE webhook_slots ADD CONSTRAINT webhook_slots_slot_check CHECK (slot ~ '^[a-z][a-z0-9-]{0,62}$');

-- When each merchant's store is next asked to resend the webhook deliveries it failed to make to
-- Storelink, and what the last pass did. Owned by crates/registrar (resend.rs).
CREATE TABLE webhook_resends (
    merchant_id  uuid PRIMARY KEY REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    next_at      timestamptz NOT NULL,
    last_at      timestamptz,
    last_resent  integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX webhook_resends_due_idx ON webhook_resends (next_at);
