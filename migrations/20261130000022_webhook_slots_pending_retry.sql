-- Slots are written as 'pending' with the merchant (crates/registrar record::mark_pending); the retry
-- loop claims failed slots and pending ones whose outcome was never recorded.
CREATE INDEX webhook_slots_due_idx ON webhook_slots (next_attempt_at) WHERE status IN ('failed', 'pending');
DROP INDEX webhook_slots_retry_idx;
