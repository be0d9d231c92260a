-- Every ops action (crates/ops): who, what, when, from where, and the outcome. Append-only: the
-- trigger refuses UPDATE and DELETE, so the application cannot change history. No foreign key to
-- merchants, so the trail outlives a purged tenant.

CREATE TABLE audit_log (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,                      -- ops user name, or `cli:<os user>`
    source       text NOT NULL,                      -- client address, or `cli@<host>`
    action       text NOT NULL,
    merchant_id  uuid,
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_merchant_idx ON audit_log (merchant_id, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
