-- Issue 16 item 9: sync per site. The store's site (`x-ccsite`) becomes part of the key of the rows
-- that differ per site (prices and currency, stock location, shipping methods); '' is "no site sent"
-- (a single-site store, or a platform without sites), which is what every existing row is.
-- Owned by storelink-sync (docs/DATA-MODEL.md, "Sites").
ALTER TABLE products ADD COLUMN site_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE products DROP CONSTRAINT products_pkey, ADD PRIMARY KEY (merchant_id, product_id, site_id);
ALTER TABLE skus ADD COLUMN site_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE skus DROP CONSTRAINT skus_pkey, ADD PRIMARY KEY (merchant_id, sku_id, site_id);
ALTER TABLE inventory ADD COLUMN site_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE inventory DROP CONSTRAINT inventory_pkey, ADD PRIMARY KEY (merchant_id, sku_id, location_id, site_id);
ALTER TABLE shipping_methods ADD COLUMN site_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE shipping_methods DROP CONSTRAINT shipping_methods_pkey, ADD PRIMARY KEY (merchant_id, method_id, site_id);

-- A change event names its row's site: the entity id alone (a product id) is unique only per site.
ALTER TABLE change_events ADD COLUMN site_id text NOT NULL DEFAULT '';

-- A run reads each of its sites in turn: the sites it was started with (in order; '{""}' = one pass
-- without a site), the one being read, and whether any site's list ended early (no sweep then).
ALTER TABLE sync_state
    ADD COLUMN run_sites text[] NOT NULL DEFAULT '{""}',
    ADD COLUMN site_index integer NOT NULL DEFAULT 0,
    ADD COLUMN run_cut_short boolean NOT NULL DEFAULT false;

-- Product, inventory and order events carry `site` (null for rows without one: a single-site store's),
-- so a partner tells apart the same product id on two sites.
CREATE OR REPLACE FUNCTION partner_events_from_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_events (merchant_id, partner_id, type, data)
    SELECT c.merchant_id, m.partner_id,
           CASE c.entity WHEN 'inventory' THEN 'inventory.updated'
                         WHEN 'return' THEN 'return.updated'
                         ELSE c.entity || '.' || c.change END,
           CASE c.entity
               WHEN 'inventory' THEN jsonb_build_object('merchant_id', c.merchant_id,
                   'sku_id', split_part(c.entity_id, '@', 1), 'location_id', NULLIF(split_part(c.entity_id, '@', 2), ''))
               ELSE jsonb_build_object('merchant_id', c.merchant_id, c.entity || '_id', c.entity_id)
           END || CASE WHEN c.entity IN ('product', 'inventory', 'order')
                       THEN jsonb_build_object('site', NULLIF(c.site_id, '')) ELSE '{}'::jsonb END
    FROM new_rows c JOIN merchants m USING (merchant_id)
    WHERE c.entity IN ('product', 'inventory', 'order', 'shipment', 'return')
      AND NOT (c.entity IN ('order', 'shipment') AND c.change = 'deleted')
    ORDER BY c.event_id;
    RETURN NULL;
END $$;
