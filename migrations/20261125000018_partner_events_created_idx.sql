-- no-transaction
-- Retention finds old outbox events by age (see migration 16 for why CONCURRENTLY).
CREATE INDEX CONCURRENTLY IF NOT EXISTS partner_events_created_idx ON partner_events (created_at);
