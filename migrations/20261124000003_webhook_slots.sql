-- The four OCC webhook slots per merchant and the outcome of registering each. Owned by crates/registrar.
CREATE TABLE webhook_slots (
    merchant_id      uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    slot             text NOT NULL
                     CHECK (slot IN ('order-submit', 'order-update', 'shipment-create', 'shipment-update')),
    occ_webhook_id   text NOT NULL,
    callback_url     text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'registered', 'failed', 'unsupported', 'unregistered')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz,
    registered_at    timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, slot)
);
CREATE INDEX webhook_slots_retry_idx ON webhook_slots (next_attempt_at) WHERE status = 'failed';
