-- Store callbacks that take a single URL (OCC's function webhooks; issue 16, item 10): whether
-- Storelink's URL is set, or why not. Owned by registrar (crates/registrar/src/callbacks.rs).
CREATE TABLE store_callbacks (
    merchant_id   uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name IN ('return-request-validation')),
    callback_url  text NOT NULL,
    status        text NOT NULL CHECK (status IN ('registered', 'in_use', 'unsupported', 'failed')),
    detail        text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, name)
);
