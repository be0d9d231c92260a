-- Return policies (issue 16, item 10): what Storelink answers OCC's Return Request Validation
-- function webhook. One row per partner (merchant_id NULL) and optionally one per merchant, which
-- wins over the partner's. Owned by tenants (crates/tenants/src/return_policy.rs).
CREATE TABLE return_policies (
    partner_id      uuid NOT NULL REFERENCES partners (partner_id) ON DELETE CASCADE,
    merchant_id     uuid REFERENCES merchants (merchant_id) ON DELETE CASCADE,
    window_days     integer NOT NULL CHECK (window_days BETWEEN 0 AND 3650),
    -- SKU or product ids that are never returnable.
    nonreturnable   text[] NOT NULL DEFAULT '{}' CHECK (cardinality(nonreturnable) <= 10000),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (partner_id, merchant_id)
);
CREATE INDEX return_policies_merchant_idx ON return_policies (merchant_id) WHERE merchant_id IS NOT NULL;
