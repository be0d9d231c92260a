-- merchants.platform selects the merchant's connector (storelink-connector's Registry). Any platform
-- name a connector may carry is accepted here; the process refuses merchants of platforms it does
-- not serve (TokenError::UnknownPlatform), so adding a platform needs no migration.
ALTER TABLE merchants DROP CONSTRAINT merchants_platform_check;
ALTER TABLE merchants ADD CONSTRAINT merchants_platform_check CHECK (platform ~ '^[a-z][a-z0-9-]{0,31}$');
