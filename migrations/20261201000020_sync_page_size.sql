-- Issue 16 item 6: the page size that passed for a (merchant, kind) after the store refused a larger
-- one as too expensive (OCC 403/60012). NULL: the default. page_shrunk_at: when it last shrank; a run
-- that finishes without shrinking grows it back by a quarter (NULL again once it reaches 250).
ALTER TABLE sync_state
    ADD COLUMN page_size integer CHECK (page_size > 0),
    ADD COLUMN page_shrunk_at timestamptz;
