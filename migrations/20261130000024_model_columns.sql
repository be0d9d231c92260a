-- Storelink's commerce model (docs/MODEL.md): orders, shipments and returns store the model's own
-- shapes (normalized status, typed lines, addresses, totals) instead of the platform's JSON, and
-- shipping methods their typed rates, so partner reads need no platform knowledge. Rows stored before
-- this migration get their hash cleared: the next sync rewrites each in the new shape (image URLs
-- become absolute too).
ALTER TABLE orders
    ADD COLUMN status            text NOT NULL DEFAULT 'unknown',
    ADD COLUMN payment_status    text NOT NULL DEFAULT 'unknown',
    ADD COLUMN lines             jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN billing_address   jsonb,
    ADD COLUMN shipping_address  jsonb,
    ADD COLUMN totals            jsonb NOT NULL DEFAULT '{}',
    DROP COLUMN items,
    DROP COLUMN shipping_groups;
UPDATE orders SET content_hash = '\x'::bytea;

ALTER TABLE shipments
    ADD COLUMN status  text NOT NULL DEFAULT 'unknown',
    ADD COLUMN lines   jsonb NOT NULL DEFAULT '[]',
    ALTER COLUMN address DROP NOT NULL,
    ALTER COLUMN address DROP DEFAULT,
    DROP COLUMN items;
UPDATE shipments SET content_hash = '\x'::bytea;

ALTER TABLE returns
    ADD COLUMN status    text NOT NULL DEFAULT 'unknown',
    ADD COLUMN reason    text,
    ADD COLUMN currency  text,
    ADD COLUMN lines     jsonb NOT NULL DEFAULT '[]',
    DROP COLUMN items;
UPDATE returns SET content_hash = '\x'::bytea;

ALTER TABLE shipping_methods RENAME COLUMN ranges TO rates;
UPDATE shipping_methods SET content_hash = '\x'::bytea;
UPDATE products SET content_hash = '\x'::bytea WHERE image_url NOT LIKE 'http%';
