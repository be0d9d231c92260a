-- Envelope encryption (DESIGN.md section 3). Owned by crates/vault: no other crate queries these.
-- A merchant's data key (DEK) is sealed by a master key (KEK); secrets are sealed by the DEK.
-- Crypto-shredding a merchant deletes its DEK row, which cascades to its secrets.

CREATE TABLE vault_data_keys (
    merchant_id   uuid PRIMARY KEY REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    dek_id        uuid NOT NULL UNIQUE,
    kek_id        text NOT NULL,
    sealed_dek    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rewrapped_at  timestamptz
);
CREATE INDEX vault_data_keys_kek_idx ON vault_data_keys (kek_id);

CREATE TABLE vault_secrets (
    merchant_id  uuid NOT NULL REFERENCES vault_data_keys (merchant_id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 100),
    ciphertext   bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, purpose)
);
