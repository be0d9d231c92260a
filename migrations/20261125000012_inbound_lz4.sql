-- Stored webhook bodies (JSON of a few KiB) are compressed with lz4 rather than the default pglz:
-- several times faster to compress on the ingest path, at a slightly larger size. A server built
-- without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE inbound_events ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; inbound_events.body keeps the default compression';
END
$$;
