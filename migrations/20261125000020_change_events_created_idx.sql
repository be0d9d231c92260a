-- no-transaction
-- Retention finds old change events by age (see migration 16 for why CONCURRENTLY).
CREATE INDEX CONCURRENTLY IF NOT EXISTS change_events_created_idx ON change_events (created_at);
