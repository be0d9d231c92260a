-- A slot the store refused Storelink the right to register (SAP without integrationadmingroup) waits
-- for the merchant to enter it by hand: `manual`, until its first authenticated delivery.
ALTER TABLE webhook_slots DROP CONSTRAINT webhook_slots_status_check;
ALTER TABLE webhook_slots ADD CONSTRAINT webhook_slots_status_check
    CHECK (status IN ('pending', 'registered', 'failed', 'unsupported', 'unregistered', 'manual'));
