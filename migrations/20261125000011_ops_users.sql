-- Ops console users (argon2id password hashes) and their sessions (only a hash of the cookie value
-- is stored). Owned by crates/ops-console.

CREATE TABLE ops_users (
    user_id        uuid PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,64}$'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ops_sessions (
    session_hash  bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES ops_users (user_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX ops_sessions_expiry_idx ON ops_sessions (expires_at);

-- Tenants list: search by store URL and filter by status, fast at 10,000+ tenants.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX merchants_store_url_trgm_idx ON merchants USING gin (store_url gin_trgm_ops);
CREATE INDEX merchants_status_idx ON merchants (status, merchant_id);
