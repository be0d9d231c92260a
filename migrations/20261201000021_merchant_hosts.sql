-- Issue 16 item 4: where a merchant's store answers. OCC serves the Admin API on the admin host and
-- the agent API (order creation) on the storefront host; both are found at connect (storefront_source:
-- 'sites', 'host_pattern' or 'admin_host') and each can be overridden by ops. A merchant without a row
-- (connected before this migration) uses its store_url for both.
CREATE TABLE merchant_hosts (
    merchant_id uuid PRIMARY KEY REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    admin_url text NOT NULL,
    storefront_url text NOT NULL,
    storefront_source text NOT NULL,
    admin_override text,
    storefront_override text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
