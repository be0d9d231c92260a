-- Each claim of an Idempotency-Key (the first request, or a retry taking over a key whose outcome is
-- unknown or whose attempt was abandoned) gets a new attempt id. An attempt records its outcome only
-- while the key is still its own, so one that outlives the takeover cannot overwrite the retry's.
ALTER TABLE partner_orders ADD COLUMN attempt uuid NOT NULL DEFAULT gen_random_uuid();
