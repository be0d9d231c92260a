-- no-transaction
-- Retention (`worker`, STORELINK_RETENTION_DAYS) finds processed deliveries by this index. It holds
-- only processed rows, so ingest does not maintain it. Built CONCURRENTLY (outside a transaction, one
-- statement per migration) so that a deploy on a large table does not block ingest meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS inbound_events_processed_idx
    ON inbound_events (processed_at) WHERE processed_at IS NOT NULL;
