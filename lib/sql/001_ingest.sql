-- Ingest foundation: the roster, every accepted and rejected event, daily
-- per-agent aggregates, and the consumer offsets stored beside the data.
-- Applied inside the configured schema (search_path is set by mentord).

CREATE TABLE team_leads (
    team_lead_id  text PRIMARY KEY,
    name          text,
    webhook_url   text,
    body_format   text NOT NULL DEFAULT 'json' CHECK (body_format IN ('json', 'slack', 'teams')),
    secret_ref    text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    agent_id            text PRIMARY KEY,
    name                text,
    team_id             text,
    team_lead_id        text,
    site                text,
    language            text,
    active              boolean NOT NULL DEFAULT true,
    roster_known        boolean NOT NULL DEFAULT false,  -- false: seen only in score events so far
    roster_occurred_at  timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE score_events (
    event_id        text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('voc', 'aqm')),
    agent_id        text NOT NULL,
    interaction_id  text,
    channel         text,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    csat            smallint,  -- voc: on the configured CSAT scale
    nps             smallint,  -- voc: 0..10, NULL if not asked
    overall         numeric,   -- aqm: 0..100
    scores          jsonb,     -- voc items or aqm behaviors, native scale
    fatal           jsonb,     -- aqm: behaviors failed critically
    topic           text NOT NULL,
    partition       integer NOT NULL,
    kafka_offset    bigint NOT NULL
);

-- One observation per metric an event carries, normalized to 0..1 and rounded
-- to 1e-6 (half away from zero): an exact numeric with 6 decimals. The single
-- definition used by QA recomputation; mentord computes the same values in C.
CREATE FUNCTION event_observations(kind text, csat smallint, overall numeric, scores jsonb,
                                   csat_min integer, csat_max integer)
RETURNS TABLE (metric text, source text, value numeric)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'csat', 'voc', round((csat - csat_min)::numeric / (csat_max - csat_min), 6)
     WHERE kind = 'voc'
    UNION ALL
    SELECT 'csat_top2', 'voc', round(CASE WHEN csat >= csat_max - 1 THEN 1 ELSE 0 END::numeric, 6)
     WHERE kind = 'voc'
    UNION ALL
    SELECT 'aqm', 'aqm', round(overall / 100, 6)
     WHERE kind = 'aqm'
    UNION ALL
    SELECT s.key, kind,
           round(CASE kind WHEN 'aqm' THEN s.value::numeric / 100
                           ELSE (s.value::numeric - csat_min) / (csat_max - csat_min) END, 6)
      FROM jsonb_each_text(coalesce(scores, '{}'::jsonb)) AS s
$$;

-- Per agent, metric and UTC day, partial sums: each batch appends one row per
-- (agent_id, metric, day) it observed, and compaction merges a key's rows into
-- one. Append-only between compactions, hence no unique index; the BRIN index
-- lets a range of days skip blocks. Sums are integers: normalized values in
-- millionths (value * 10^6, exact since values are rounded to 1e-6), squares
-- in 10^-12 units. Read it through the agent_daily view.
CREATE TABLE agent_daily_parts (
    agent_id  text NOT NULL,
    metric    text NOT NULL,
    day       date NOT NULL,
    n         bigint NOT NULL,
    sum_e6    bigint NOT NULL,  -- sum of normalized values * 10^6
    sumsq_e12 bigint NOT NULL   -- sum of their squares * 10^12
);
CREATE INDEX agent_daily_parts_day ON agent_daily_parts USING brin (day);

-- Per agent, metric and UTC day: what rolling windows are computed from.
CREATE VIEW agent_daily AS
    SELECT agent_id, metric, day, sum(n)::bigint AS n,
           sum(sum_e6) * 0.000001 AS sum, sum(sumsq_e12) * 0.000000000001 AS sumsq
      FROM agent_daily_parts
     GROUP BY agent_id, metric, day;

-- Merges the parts of each (agent_id, metric, day) with a day in
-- [from_day, to_day] into one row. Value-preserving, so it may run at any time,
-- concurrently with writers. Returns the number of rows the range has after it
-- (its distinct keys).
CREATE FUNCTION compact_agent_daily(from_day date, to_day date)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH keys AS (
        SELECT agent_id, metric, day, count(*) AS parts FROM agent_daily_parts
         WHERE day BETWEEN from_day AND to_day
         GROUP BY agent_id, metric, day
    ), gone AS (
        DELETE FROM agent_daily_parts p USING keys k
         WHERE k.parts > 1 AND p.day BETWEEN from_day AND to_day
           AND p.agent_id = k.agent_id AND p.metric = k.metric AND p.day = k.day
        RETURNING p.*
    ), merged AS (
        INSERT INTO agent_daily_parts (agent_id, metric, day, n, sum_e6, sumsq_e12)
        SELECT agent_id, metric, day, sum(n), sum(sum_e6), sum(sumsq_e12) FROM gone
         GROUP BY agent_id, metric, day
        RETURNING 1
    )
    SELECT count(*) + 0 * (SELECT count(*) FROM merged) FROM keys
$$;

-- Each metric's source and native scale (normalized = (native - min) / (max - min)).
CREATE TABLE metrics (
    metric     text PRIMARY KEY,
    source     text NOT NULL,
    scale_min  numeric NOT NULL,
    scale_max  numeric NOT NULL
);

CREATE TABLE rejected_events (
    topic         text NOT NULL,
    partition     integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    received_at   timestamptz NOT NULL,
    key           bytea,
    payload       bytea NOT NULL,
    reason        text NOT NULL,
    detail        text NOT NULL,
    PRIMARY KEY (topic, partition, kafka_offset)
);

-- next_offset = -1: assigned, nothing consumed yet.
CREATE TABLE consumer_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
