-- Programs, ingest side (issue #20): every score event belongs to one
-- program, resolved when mentord stages it (docs/events.md), and the daily
-- parts are kept per program; the roster carries an agent's programs. Rows
-- stored before belong to program 'default' (the columns' default).
ALTER TABLE score_events ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE agent_daily_parts ADD COLUMN program text NOT NULL DEFAULT 'default';
-- NULL: the roster did not say; '{}': it said none.
ALTER TABLE agents ADD COLUMN programs text[];

-- Per agent, metric, UTC day and program; the columns before program keep
-- their place, so what read the view before reads it still (summing over
-- programs where it wants an agent's day).
CREATE OR REPLACE VIEW agent_daily AS
    SELECT agent_id, metric, day, sum(n)::bigint AS n,
           sum(sum_e6) * 0.000001 AS sum, sum(sumsq_e12) * 0.000000000001 AS sumsq, program
      FROM agent_daily_parts
     GROUP BY agent_id, metric, day, program;

-- As before (001_ingest.sql), per (agent_id, program, metric, day).
CREATE OR REPLACE FUNCTION compact_agent_daily(from_day date, to_day date)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH keys AS (
        SELECT agent_id, program, metric, day, count(*) AS parts FROM agent_daily_parts
         WHERE day BETWEEN from_day AND to_day
         GROUP BY agent_id, program, metric, day
    ), gone AS (
        DELETE FROM agent_daily_parts p USING keys k
         WHERE k.parts > 1 AND p.day BETWEEN from_day AND to_day
           AND p.agent_id = k.agent_id AND p.program = k.program AND p.metric = k.metric AND p.day = k.day
        RETURNING p.*
    ), merged AS (
        INSERT INTO agent_daily_parts (agent_id, program, metric, day, n, sum_e6, sumsq_e12)
        SELECT agent_id, program, metric, day, sum(n), sum(sum_e6), sum(sumsq_e12) FROM gone
         GROUP BY agent_id, program, metric, day
        RETURNING 1
    )
    SELECT count(*) + 0 * (SELECT count(*) FROM merged) FROM keys
$$;
