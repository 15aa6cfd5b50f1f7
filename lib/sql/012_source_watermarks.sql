-- Each source of score events (surveys, evaluations) is decided behind its
-- own watermark (docs/analytics.md), so that late surveys do not hold back
-- decisions on evaluations. How far each got, per consumer group; closed_at
-- stays the lesser of the two (everything before it is decided).
-- decided_at: the newest decision time evaluated, which KPI windows are
-- closed by (a restart closes them as the run it replaces would have).
ALTER TABLE analytics_state ADD COLUMN closed_voc_at timestamptz, ADD COLUMN closed_aqm_at timestamptz,
    ADD COLUMN decided_at timestamptz;

-- A pairing round reads every key as of its time, while the faster source
-- may already be decided beyond it: from the next round's time on, each
-- decision keeps the state it replaced here, until that round has run.
-- status NULL: the key had no decision before. Values are normalized (0..1).
CREATE TABLE status_past (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decided_at    timestamptz NOT NULL,  -- the decision that replaced this state
    agent_id      text NOT NULL,
    behavior      text NOT NULL,
    status        text CHECK (status IN ('low', 'ok', 'high')),
    reason        text,
    n             bigint,
    norm_mean     double precision,
    norm_shrunk   double precision,
    norm_ci_low   double precision,
    norm_ci_high  double precision,
    pop_mean      double precision,
    prior_k       double precision,
    since         timestamptz,
    updated_at    timestamptz,
    week          integer,
    weekly_low    bigint
);
CREATE INDEX status_past_decided ON status_past (decided_at);

-- Backpressure per source: past the bound, each source's partitions after
-- the one that holds that source's watermark back pause (a partition of one
-- source never waits for the other's). pause_after stays the lesser.
ALTER TABLE analytics_pause ADD COLUMN pause_voc_after timestamptz, ADD COLUMN pause_aqm_after timestamptz;
