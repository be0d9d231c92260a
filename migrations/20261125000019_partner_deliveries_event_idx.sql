-- no-transaction
-- Retention checks an event's pending deliveries, and deleting an event cascades to its deliveries,
-- both by (merchant_id, event_id) (see migration 16 for why CONCURRENTLY).
CREATE INDEX CONCURRENTLY IF NOT EXISTS partner_deliveries_event_idx ON partner_deliveries (merchant_id, event_id);
