-- Retention (storelink `worker`, STORELINK_RETENTION_DAYS): indexes that let the hourly sweep find
-- old rows without scanning whole tables. The inbound one holds only processed rows, so ingest does
-- not maintain it; the deliveries one also serves the cascade from partner_events.
CREATE INDEX inbound_events_processed_idx ON inbound_events (processed_at) WHERE processed_at IS NOT NULL;
CREATE INDEX partner_events_created_idx ON partner_events (created_at);
CREATE INDEX partner_deliveries_event_idx ON partner_deliveries (merchant_id, event_id);
CREATE INDEX change_events_created_idx ON change_events (created_at);
