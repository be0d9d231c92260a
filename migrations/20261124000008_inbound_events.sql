-- Inbound OCC webhook deliveries (crates/inbound): stored verbatim and idempotently before the 2xx,
-- then processed by an `inbound` job. dedupe_key: slot + order id + lastModifiedTime when present,
-- else a hash of the body, so a redelivery is acknowledged but not stored twice.

CREATE TABLE inbound_events (
    merchant_id   uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    event_id      bigint GENERATED ALWAYS AS IDENTITY,
    slot          text NOT NULL,
    dedupe_key    text NOT NULL,
    body          bytea NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    PRIMARY KEY (merchant_id, event_id),
    UNIQUE (merchant_id, dedupe_key)
);
CREATE INDEX inbound_events_pending_idx ON inbound_events (merchant_id, event_id) WHERE processed_at IS NULL;

-- A job asked for again while it runs is run once more when it finishes (no lost wake-ups).
ALTER TABLE jobs ADD COLUMN rerun boolean NOT NULL DEFAULT false;
