-- Issue 18, item 4 (docs/SCALING.md): a unique index of a table distributed by merchant_id must
-- include merchant_id. The data key id is a random v4 UUID, bound with the merchant id into every
-- ciphertext's associated data, and nothing looks a key up by it alone: the primary key (the merchant)
-- identifies the row, so the global uniqueness of dek_id is dropped rather than widened.
ALTER TABLE vault_data_keys DROP CONSTRAINT vault_data_keys_dek_id_key;
