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

-- One observation per metric an event carries, normalized to 0..1 exactly
-- (numeric). The single definition used by ingest and by QA recomputation.
CREATE FUNCTION event_observations(kind text, csat smallint, overall numeric, scores jsonb,
                                   csat_min integer, csat_max integer)
RETURNS TABLE (metric text, source text, value numeric)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'csat', 'voc', (csat - csat_min)::numeric / (csat_max - csat_min)
     WHERE kind = 'voc'
    UNION ALL
    SELECT 'csat_top2', 'voc', CASE WHEN csat >= csat_max - 1 THEN 1 ELSE 0 END::numeric
     WHERE kind = 'voc'
    UNION ALL
    SELECT 'aqm', 'aqm', overall / 100
     WHERE kind = 'aqm'
    UNION ALL
    SELECT s.key, kind,
           CASE kind WHEN 'aqm' THEN s.value::numeric / 100
                     ELSE (s.value::numeric - csat_min) / (csat_max - csat_min) END
      FROM jsonb_each_text(coalesce(scores, '{}'::jsonb)) AS s
$$;

-- Per agent, metric and UTC day: what rolling windows are computed from.
CREATE TABLE agent_daily (
    agent_id  text NOT NULL,
    metric    text NOT NULL,
    day       date NOT NULL,
    n         bigint NOT NULL,
    sum       numeric NOT NULL,  -- of normalized values
    sumsq     numeric NOT NULL,
    PRIMARY KEY (agent_id, metric, day)
) WITH (fillfactor = 50);  -- room on each page for HOT updates: every batch updates thousands of rows

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
