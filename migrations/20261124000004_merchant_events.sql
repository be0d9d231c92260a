-- Lifecycle events of a merchant connection (connected, credentials_invalid, revoked, ...), for
-- partners (delivered by the partner webhook outbox) and ops (tenant page). Owned by crates/tenants.

CREATE TABLE merchant_events (
    merchant_id  uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    event_id     bigint GENERATED ALWAYS AS IDENTITY,
    kind         text NOT NULL CHECK (kind ~ '^[a-z_.]{1,64}$'),
    detail       jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, event_id)
);
