-- Orders and shipments are written monotonically in the store's modified time (docs/DATA-MODEL.md):
-- a late webhook or an older sync page never replaces a newer version. Orders already keep
-- source_modified_at; shipments get their order's, filled from the orders they came with.
ALTER TABLE shipments ADD COLUMN source_modified_at timestamptz;

UPDATE shipments s SET source_modified_at = o.source_modified_at
FROM orders o
WHERE o.merchant_id = s.merchant_id AND o.order_id = s.order_id AND o.source_modified_at IS NOT NULL;
