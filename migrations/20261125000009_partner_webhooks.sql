-- Shipments and returns (crates/sync), orders placed by partners (crates/partner-api), and the
-- partner webhook outbox (crates/partner-webhooks).

ALTER TABLE change_events DROP CONSTRAINT change_events_entity_check;
ALTER TABLE change_events ADD CONSTRAINT change_events_entity_check
    CHECK (entity IN ('product', 'sku', 'inventory', 'shipping_method', 'order', 'shipment', 'return'));

-- A shipment is an order's shipping group once it ships (tracking number or a shipped state).
CREATE TABLE shipments (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    shipment_id      text COLLATE "C" NOT NULL,      -- the shipping group id
    order_id         text COLLATE "C" NOT NULL,
    state            text,
    shipping_method  text,
    tracking_number  text,
    carrier          text,
    ship_date        timestamptz,
    address          jsonb NOT NULL DEFAULT '{}',
    items            jsonb NOT NULL DEFAULT '[]',
    content_hash     bytea NOT NULL,
    seen_generation  bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, shipment_id)
);
CREATE INDEX shipments_updated_idx ON shipments (merchant_id, updated_at, shipment_id);

-- Return requests, from the Return Request Update webhook.
CREATE TABLE returns (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    return_id        text COLLATE "C" NOT NULL,      -- OCC requestId
    order_id         text COLLATE "C",
    state            text,
    authorization_number text,
    tracking_number  text,
    return_label     text,
    refund_total     numeric,
    items            jsonb NOT NULL DEFAULT '[]',
    content_hash     bytea NOT NULL,
    seen_generation  bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, return_id)
);
CREATE INDEX returns_updated_idx ON returns (merchant_id, updated_at, return_id);

-- Orders a partner placed through the API. The row is written before OCC is called: an
-- Idempotency-Key retry finds it and answers with the same order, never a second one.
CREATE TABLE partner_orders (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     bytea NOT NULL,                 -- a reused key with another body is refused
    partner_reference text,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'created', 'failed')),
    order_id         text COLLATE "C",
    response         jsonb,
    error            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, idempotency_key)
);

-- Partner webhook endpoints. Secrets are sealed by the master key (crates/vault MasterKeys::seal).
CREATE TABLE partner_endpoints (
    endpoint_id      uuid PRIMARY KEY,
    partner_id       uuid NOT NULL REFERENCES partners (partner_id) ON DELETE CASCADE,
    url              text NOT NULL,
    events           text[] NOT NULL,
    description      text NOT NULL DEFAULT '',
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    failure_streak   integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partner_endpoints_partner_idx ON partner_endpoints (partner_id, created_at);

-- The current secret has expires_at NULL; a rotated-out secret keeps signing until expires_at.
CREATE TABLE partner_endpoint_secrets (
    endpoint_id  uuid NOT NULL REFERENCES partner_endpoints (endpoint_id) ON DELETE CASCADE,
    secret_id    bigint GENERATED ALWAYS AS IDENTITY,
    kek_id       text NOT NULL,
    sealed       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    PRIMARY KEY (endpoint_id, secret_id)
);

-- The outbox: one row per partner-visible event, written by the triggers below in the same
-- transaction as the change that caused it.
CREATE TABLE partner_events (
    merchant_id  uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    event_id     bigint GENERATED ALWAYS AS IDENTITY,
    partner_id   uuid NOT NULL,
    type         text NOT NULL,
    data         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, event_id)
);

-- One delivery per (endpoint, event); delivered in event order per (endpoint, merchant).
CREATE TABLE partner_deliveries (
    merchant_id      uuid NOT NULL,
    delivery_id      bigint GENERATED ALWAYS AS IDENTITY,
    endpoint_id      uuid NOT NULL REFERENCES partner_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id         bigint NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, delivery_id),
    FOREIGN KEY (merchant_id, event_id) REFERENCES partner_events (merchant_id, event_id) ON DELETE CASCADE
);
CREATE INDEX partner_deliveries_stream_idx ON partner_deliveries (merchant_id, endpoint_id, delivery_id)
    WHERE state = 'pending';
CREATE INDEX partner_deliveries_endpoint_idx ON partner_deliveries (endpoint_id, delivery_id);

-- Every attempt, for the delivery log.
CREATE TABLE partner_delivery_attempts (
    merchant_id   uuid NOT NULL,
    delivery_id   bigint NOT NULL,
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status        integer,
    error         text,
    duration_ms   integer NOT NULL,
    PRIMARY KEY (merchant_id, delivery_id, attempt),
    FOREIGN KEY (merchant_id, delivery_id) REFERENCES partner_deliveries (merchant_id, delivery_id) ON DELETE CASCADE
);

-- Catalog, order, shipment and return changes -> partner events. Entities partners do not
-- subscribe to (sku, shipping_method) produce none.
CREATE FUNCTION partner_events_from_changes() RETURNS trigger LANGUAGE plpgsql AS $$
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
           END
    FROM new_rows c JOIN merchants m USING (merchant_id)
    WHERE c.entity IN ('product', 'inventory', 'order', 'shipment', 'return')
      AND NOT (c.entity IN ('order', 'shipment') AND c.change = 'deleted')
    ORDER BY c.event_id;
    RETURN NULL;
END $$;
CREATE TRIGGER change_events_to_partner_events AFTER INSERT ON change_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_events_from_changes();

CREATE FUNCTION partner_events_from_merchant_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_events (merchant_id, partner_id, type, data)
    SELECT e.merchant_id, m.partner_id, e.kind, jsonb_build_object('merchant_id', e.merchant_id) || e.detail
    FROM new_rows e JOIN merchants m USING (merchant_id)
    WHERE e.kind IN ('merchant.connected', 'merchant.credentials_invalid', 'merchant.revoked')
    ORDER BY e.event_id;
    RETURN NULL;
END $$;
CREATE TRIGGER merchant_events_to_partner_events AFTER INSERT ON merchant_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_events_from_merchant_events();

-- Fan-out to the partner's enabled endpoints subscribed to the type, and wake the merchant's
-- `deliver` job (same enqueue rule as crates/jobs Queue::enqueue: one live job, rerun if running).
CREATE FUNCTION partner_deliveries_from_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    merchant uuid;
BEGIN
    INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id)
    SELECT e.merchant_id, p.endpoint_id, e.event_id
    FROM new_rows e JOIN partner_endpoints p ON p.partner_id = e.partner_id
    WHERE p.enabled AND e.type = ANY (p.events)
    ORDER BY e.event_id;
    FOR merchant IN
        SELECT DISTINCT e.merchant_id FROM new_rows e
        WHERE EXISTS (SELECT 1 FROM partner_endpoints p WHERE p.partner_id = e.partner_id AND p.enabled AND e.type = ANY (p.events))
    LOOP
        INSERT INTO jobs (merchant_id, kind) VALUES (merchant, 'deliver')
        ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused')
        DO UPDATE SET run_at = CASE WHEN jobs.state = 'queued' THEN LEAST(jobs.run_at, now()) ELSE jobs.run_at END,
                      rerun = jobs.rerun OR jobs.state = 'running', updated_at = now();
        PERFORM pg_notify('storelink_jobs', 'deliver');
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER partner_events_to_deliveries AFTER INSERT ON partner_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partner_deliveries_from_events();
