-- Partners, their allowed redirect URIs, and the merchants (tenants) they connect.
-- Every tenant table carries merchant_id first in its primary key (DESIGN.md section 7: Citus-ready).

CREATE TABLE partners (
    partner_id          uuid PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    client_id           text NOT NULL UNIQUE,
    client_secret_hash  text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE partner_redirect_uris (
    partner_id    uuid NOT NULL REFERENCES partners (partner_id) ON DELETE CASCADE,
    redirect_uri  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, redirect_uri)
);

CREATE TABLE merchants (
    merchant_id   uuid PRIMARY KEY,
    partner_id    uuid NOT NULL REFERENCES partners (partner_id),
    platform      text NOT NULL DEFAULT 'occ' CHECK (platform IN ('occ')),
    store_url     text NOT NULL,
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'credentials_invalid', 'paused', 'revoked')),
    connected_at  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, store_url)
);
CREATE INDEX merchants_partner_idx ON merchants (partner_id, merchant_id);

-- Result of each connection check (shipping methods, one permission probe per resource).
-- ok = false is a warning shown to the merchant and ops; it never fails the connection.
CREATE TABLE merchant_checks (
    merchant_id  uuid NOT NULL REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    check_name   text NOT NULL,
    ok           boolean NOT NULL,
    detail       text NOT NULL DEFAULT '',
    checked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, check_name)
);
