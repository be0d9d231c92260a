-- The shared (L2) OCC access token per merchant. The token itself is sealed in the vault under
-- purpose 'occ-access-token'; this row carries its timing and is the per-merchant lock that keeps
-- several processes to one login per token lifetime. Owned by crates/token-cache.

CREATE TABLE occ_tokens (
    merchant_id  uuid PRIMARY KEY REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    token_hash   bytea,                        -- sha256 of the token, to invalidate exactly that token
    expires_at   timestamptz,
    refresh_at   timestamptz,
    logins       bigint NOT NULL DEFAULT 0,
    last_login_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
