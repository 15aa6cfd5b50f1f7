-- Bounds on what input can make mentord store ([ingest] max_unknown_agents and
-- max_behaviors, issue 18), and the length and hash of a rejected payload
-- stored cut short.

-- Set only when payload holds the first bytes of a longer (oversize) message:
-- its whole length and the SHA-256 of the whole message.
ALTER TABLE rejected_events ADD COLUMN payload_bytes bigint, ADD COLUMN payload_sha256 bytea;

-- How much of each bounded thing is stored: unknown_agents, the agents rows
-- the roster does not know (roster_known false); behaviors, the metrics other
-- than the outcomes csat, csat_top2 and aqm. Kept exact by the triggers below
-- whoever writes (mentord, mentord-load-csv, SQL by hand). A batch that may
-- add either locks both rows (FOR UPDATE, in bound order) before it decides,
-- so that instances admitting at the same time stay within the bounds.
CREATE TABLE ingest_bounds (
    bound  text PRIMARY KEY,
    used   bigint NOT NULL
);
INSERT INTO ingest_bounds (bound, used)
SELECT 'unknown_agents', count(*) FROM agents WHERE NOT roster_known
UNION ALL
SELECT 'behaviors', count(*) FROM metrics WHERE metric NOT IN ('csat', 'csat_top2', 'aqm');

-- Statement triggers with transition tables: one UPDATE per statement, none
-- when the statement changes no count (a roster update of a known agent).
CREATE FUNCTION ingest_bounds_count() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    added bigint := 0;
    gone bigint := 0;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE ingest_bounds SET used = 0 WHERE bound = TG_ARGV[0];
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'agents' THEN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            SELECT count(*) INTO added FROM new_rows WHERE NOT roster_known;
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            SELECT count(*) INTO gone FROM old_rows WHERE NOT roster_known;
        END IF;
    ELSE
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            SELECT count(*) INTO added FROM new_rows WHERE metric NOT IN ('csat', 'csat_top2', 'aqm');
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            SELECT count(*) INTO gone FROM old_rows WHERE metric NOT IN ('csat', 'csat_top2', 'aqm');
        END IF;
    END IF;
    IF added <> gone THEN
        UPDATE ingest_bounds SET used = used + added - gone WHERE bound = TG_ARGV[0];
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER agents_bound_insert AFTER INSERT ON agents REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('unknown_agents');
CREATE TRIGGER agents_bound_update AFTER UPDATE ON agents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('unknown_agents');
CREATE TRIGGER agents_bound_delete AFTER DELETE ON agents REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('unknown_agents');
CREATE TRIGGER agents_bound_truncate AFTER TRUNCATE ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('unknown_agents');
CREATE TRIGGER metrics_bound_insert AFTER INSERT ON metrics REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('behaviors');
CREATE TRIGGER metrics_bound_update AFTER UPDATE ON metrics REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('behaviors');
CREATE TRIGGER metrics_bound_delete AFTER DELETE ON metrics REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('behaviors');
CREATE TRIGGER metrics_bound_truncate AFTER TRUNCATE ON metrics
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_bounds_count('behaviors');
