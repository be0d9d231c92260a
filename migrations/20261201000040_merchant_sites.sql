-- The store's sites (OCC `GET /ccadmin/v1/sites`) as listed at connect, and which of them the merchant
-- sells through (`selected`). A site new to a reconnect is selected when the store has it enabled; a
-- site seen before keeps the merchant's choice. Owned by storelink-tenants (sites.rs).
CREATE TABLE merchant_sites (
    merchant_id uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    site_id text NOT NULL CHECK (length(site_id) BETWEEN 1 AND 254),
    name text NOT NULL DEFAULT '',
    is_default boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    production_url text,
    price_list_group text,
    selected boolean NOT NULL,
    listed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, site_id)
);
