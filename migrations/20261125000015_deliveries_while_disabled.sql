-- Events raised while an endpoint is disabled (failure streak, 410 Gone, or by the partner) are kept
-- for it as pending deliveries: the `deliver` job skips disabled endpoints, and re-enabling sends
-- them, in order. Before, they were never fanned out and so were lost to that endpoint.
CREATE OR REPLACE FUNCTION partner_deliveries_from_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    merchant uuid;
BEGIN
    INSERT INTO partner_deliveries (merchant_id, endpoint_id, event_id)
    SELECT e.merchant_id, p.endpoint_id, e.event_id
    FROM new_rows e JOIN partner_endpoints p ON p.partner_id = e.partner_id
    WHERE e.type = ANY (p.events)
    ORDER BY e.event_id;
    FOR merchant IN
        SELECT DISTINCT e.merchant_id FROM new_rows e
        WHERE EXISTS (SELECT 1 FROM partner_endpoints p WHERE p.partner_id = e.partner_id AND p.enabled AND e.type = ANY (p.events))
    LOOP
        INSERT INTO jobs (merchant_id, kind) VALUES (merchant, 'deliver')
        ON CONFLICT (merchant_id, kind) WHERE state IN ('queued', 'running', 'paused')
        DO UPDATE SET run_at = CASE WHEN jobs.state = 'queued' THEN LEAST(jobs.run_at, now()) ELSE jobs.run_at END,
                      rerun = jobs.rerun OR jobs.state = 'running', updated_at = now();
        PERFORM pg_notify('storelink_jobs', 'deliver');
    END LOOP;
    RETURN NULL;
END $$;
