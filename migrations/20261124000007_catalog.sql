-- Ids are COLLATE "C": they are opaque, so bytewise order is right and much cheaper to index.
-- The normalized copy of each merchant's store (crates/sync owns these tables; docs/DATA-MODEL.md).
-- Every table leads with merchant_id (Citus-ready). content_hash lets a sync skip unchanged rows;
-- seen_generation marks rows seen by the current full run, so the run can sweep deletions at its end.

CREATE TABLE products (
    merchant_id         uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    product_id          text COLLATE "C" NOT NULL,
    display_name        text,
    description         text,
    brand               text,
    active              boolean NOT NULL DEFAULT true,
    list_price          numeric,
    sale_price          numeric,
    image_url           text,
    route               text,
    category_ids        text[] NOT NULL DEFAULT '{}',
    source_modified_at  timestamptz,
    content_hash        bytea NOT NULL,
    seen_generation     bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, product_id)
);
CREATE INDEX products_updated_idx ON products (merchant_id, updated_at, product_id);

CREATE TABLE skus (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    sku_id           text COLLATE "C" NOT NULL,
    product_id       text COLLATE "C" NOT NULL,
    display_name     text,
    active           boolean NOT NULL DEFAULT true,
    list_price       numeric,
    sale_price       numeric,
    attributes       jsonb NOT NULL DEFAULT '{}',
    content_hash     bytea NOT NULL,
    seen_generation  bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, sku_id)
);
CREATE INDEX skus_product_idx ON skus (merchant_id, product_id);
CREATE INDEX skus_updated_idx ON skus (merchant_id, updated_at, sku_id);

CREATE TABLE inventory (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    sku_id           text COLLATE "C" NOT NULL,
    location_id      text COLLATE "C" NOT NULL DEFAULT '',      -- '' is the store's default location
    product_id       text COLLATE "C" NOT NULL,
    stock_level      bigint NOT NULL,
    availability     text,
    content_hash     bytea NOT NULL,
    seen_generation  bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, sku_id, location_id)
);
CREATE INDEX inventory_updated_idx ON inventory (merchant_id, updated_at, sku_id, location_id);

CREATE TABLE shipping_methods (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    method_id        text COLLATE "C" NOT NULL,
    display_name     text,
    enabled          boolean NOT NULL,
    calculator       text,
    ranges           jsonb NOT NULL DEFAULT '[]',
    content_hash     bytea NOT NULL,
    seen_generation  bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, method_id)
);

CREATE TABLE orders (
    merchant_id         uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    order_id            text COLLATE "C" NOT NULL,
    state               text,
    site_id             text,
    currency            text,
    total               numeric,
    submitted_at        timestamptz,
    source_modified_at  timestamptz,
    items               jsonb NOT NULL DEFAULT '[]',
    shipping_groups     jsonb NOT NULL DEFAULT '[]',
    content_hash        bytea NOT NULL,
    seen_generation     bigint NOT NULL,              -- orders are never swept; kept for uniform upserts
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, order_id)
);
CREATE INDEX orders_updated_idx ON orders (merchant_id, updated_at, order_id);

-- Created / updated / deleted rows, written in the same transaction as the change; the partner
-- webhook outbox reads from here.
CREATE TABLE change_events (
    merchant_id  uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    event_id     bigint GENERATED ALWAYS AS IDENTITY,
    entity       text NOT NULL CHECK (entity IN ('product', 'sku', 'inventory', 'shipping_method', 'order')),
    entity_id    text NOT NULL,
    change       text NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, event_id)
);

-- Progress and checkpoint of each (merchant, kind). The checkpoint (next_offset) is written in the
-- same transaction as the page it follows, so a crash resumes at the last committed page.
CREATE TABLE sync_state (
    merchant_id       uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    kind              text NOT NULL,
    job_id            bigint,                 -- the job whose run this is
    mode              text NOT NULL DEFAULT 'full',
    generation        bigint NOT NULL DEFAULT 0,
    since             timestamptz,            -- incremental lower bound
    run_started_at    timestamptz,
    next_offset       bigint NOT NULL DEFAULT 0,
    pages_done        bigint NOT NULL DEFAULT 0,
    items_done        bigint NOT NULL DEFAULT 0,
    items_total       bigint,
    state             text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'running', 'failed', 'paused')),
    watermark         timestamptz,            -- start of the last successful run
    last_success_at   timestamptz,
    last_full_at      timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, kind)
);
