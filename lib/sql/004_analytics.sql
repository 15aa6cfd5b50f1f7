-- Analytics core (SPEC sections 2 to 5): status per agent and behavior, the
-- triggers it fires, pairings, their KPI deltas and the program effect.
-- Every row is a function of the stored events (docs/analytics.md): event
-- times, never wall-clock times, so a replay gives the same tables.
-- Applied inside the configured schema (search_path is set by mentord).

-- Event-time scans: the analytics reload the current day at start, QA
-- recomputation reads windows. Events arrive roughly in time order, so a
-- BRIN index stays small and cheap to maintain.
CREATE INDEX score_events_occurred ON score_events USING brin (occurred_at);

-- The decider reads the roster changes any instance stored since its last look.
CREATE INDEX agents_updated ON agents (updated_at);

-- How far the analytics have decided, per consumer group: every observation
-- with occurred_at < closed_at has been evaluated; later ones wait for the
-- watermark. last_round_at: event time of the latest pairing round.
CREATE TABLE analytics_state (
    group_id       text PRIMARY KEY,
    closed_at      timestamptz NOT NULL,
    last_round_at  timestamptz,
    event_time_at  timestamptz  -- newest event time evaluated: "now" in event time
);

-- How far the analytics have read each partition (next offset), per group.
-- One instance of a group decides (it holds an advisory lock); it reads the
-- events other instances stored from these offsets on.
CREATE TABLE analytics_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);
-- Offsets grow together across partitions: a BRIN index finds a partition's
-- recent offsets cheaply, and costs ingest next to nothing.
CREATE INDEX score_events_offset ON score_events USING brin (kafka_offset);

-- The shrinkage prior of each metric for one UTC day, from the complete days
-- of the window before it (SPEC section 2). Normalized 0..1 scale.
CREATE TABLE behavior_priors (
    metric         text NOT NULL,
    day            date NOT NULL,
    n_agents       integer NOT NULL,
    n_obs          bigint NOT NULL,
    pop_mean       double precision,
    sigma2_within  double precision,
    tau2_between   double precision,
    k              double precision NOT NULL,
    k_estimated    boolean NOT NULL,
    PRIMARY KEY (metric, day)
);

-- One row per agent and behavior (every metric: AQM behaviors, VOC items,
-- csat, csat_top2, aqm), as decided after the latest observation. Numbers on
-- the metric's native scale; norm_* on 0..1, what the thresholds compare.
CREATE TABLE agent_behavior_status (
    agent_id      text NOT NULL,
    behavior      text NOT NULL,
    n             bigint NOT NULL,
    mean          double precision,
    shrunk_mean   double precision,
    ci_low        double precision,
    ci_high       double precision,
    status        text NOT NULL CHECK (status IN ('low', 'ok', 'high')),
    reason        text NOT NULL,
    since         timestamptz NOT NULL,  -- event time the status was entered
    updated_at    timestamptz NOT NULL,  -- event time of the observation decided last
    norm_mean     double precision,
    norm_shrunk   double precision,
    norm_ci_low   double precision,
    norm_ci_high  double precision,
    pop_mean      double precision,      -- the prior it was shrunk toward (normalized)
    prior_k       double precision,
    week          integer NOT NULL,      -- persistence history: bit i of weekly_low = week - i was low
    weekly_low    bigint NOT NULL,
    PRIMARY KEY (agent_id, behavior)
) WITH (fillfactor = 70);  -- rewritten by nearly every batch: room for HOT updates

-- trigger_id: '<kind>/<event_id>/<behavior>', the event that caused it.
CREATE TABLE triggers (
    trigger_id    text PRIMARY KEY,
    agent_id      text NOT NULL,
    behavior      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('low_score', 'fatal')),
    fired_at      timestamptz NOT NULL,  -- event time of the deciding event
    event_id      text NOT NULL,
    score         double precision,      -- low_score: shrunk mean; fatal: the behavior's score if given (native)
    n             bigint,
    status        text NOT NULL CHECK (status IN ('open', 'waiting', 'paired', 'resolved')),
    pairing_id    text,
    waiting_since timestamptz,           -- round at which no mentor was possible
    holdout       boolean NOT NULL DEFAULT false,  -- held back from pairing (randomized holdout)
    holdout_until timestamptz,           -- paired only from then on
    resolved_at   timestamptz,
    resolution    text                   -- 'recovered', 'completed', 'cancelled', 'fatal_recorded'
);
CREATE INDEX triggers_open ON triggers (behavior) WHERE status IN ('open', 'waiting');
CREATE INDEX triggers_agent ON triggers (agent_id, behavior);

-- pairing_id: 'p/' || trigger_id.
CREATE TABLE pairings (
    pairing_id    text PRIMARY KEY,
    trigger_id    text NOT NULL UNIQUE REFERENCES triggers,
    mentee_id     text NOT NULL,
    mentor_id     text NOT NULL,
    behavior      text NOT NULL,
    status        text NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
    started_at    timestamptz NOT NULL,  -- the round's event time
    ends_at       timestamptz NOT NULL,
    ended_at      timestamptz,
    mentee_score  double precision,      -- shrunk means at the round (native)
    mentor_score  double precision,
    mentor_ci_low double precision,
    cost          bigint NOT NULL,
    n_feasible    integer NOT NULL,
    alternatives  jsonb NOT NULL         -- [{mentor_id, cost, score}]: the candidates it beat
);
CREATE INDEX pairings_mentor ON pairings (mentor_id) WHERE status = 'active';
CREATE INDEX pairings_pair ON pairings (mentee_id, mentor_id);

-- KPI deltas (SPEC section 4) in whole UTC days: before = the before_days
-- days before the start's day, after = from the start's day (plus washout)
-- for after_days. Means on the native scale; the sums (normalized, in 1e-6
-- and 1e-12 units) are what they are computed from.
CREATE TABLE pairing_kpis (
    pairing_id    text NOT NULL REFERENCES pairings,
    subject       text NOT NULL CHECK (subject IN ('mentee', 'mentor')),
    metric        text NOT NULL,
    is_target     boolean NOT NULL,      -- the pairing's behavior
    before_n      bigint NOT NULL,
    before_mean   double precision,
    after_n       bigint NOT NULL,
    after_mean    double precision,
    delta         double precision,
    ci_low        double precision,
    ci_high       double precision,
    final         boolean NOT NULL,
    before_from   date NOT NULL,         -- windows: [from, to)
    before_to     date NOT NULL,
    after_from    date NOT NULL,
    after_to      date NOT NULL,
    before_sum_e6 bigint NOT NULL, before_sumsq_e12 bigint NOT NULL,
    after_sum_e6  bigint NOT NULL, after_sumsq_e12  bigint NOT NULL,
    PRIMARY KEY (pairing_id, subject, metric)
);

-- The same for the comparison group: low-score triggers never paired, with
-- the trigger time as their start (SPEC section 4).
CREATE TABLE comparison_kpis (
    trigger_id    text NOT NULL REFERENCES triggers,
    metric        text NOT NULL,
    is_target     boolean NOT NULL,
    before_n      bigint NOT NULL,
    before_mean   double precision,
    after_n       bigint NOT NULL,
    after_mean    double precision,
    delta         double precision,
    ci_low        double precision,
    ci_high       double precision,
    final         boolean NOT NULL,
    before_from   date NOT NULL,
    before_to     date NOT NULL,
    after_from    date NOT NULL,
    after_to      date NOT NULL,
    before_sum_e6 bigint NOT NULL, before_sumsq_e12 bigint NOT NULL,
    after_sum_e6  bigint NOT NULL, after_sumsq_e12  bigint NOT NULL,
    PRIMARY KEY (trigger_id, metric)
);

-- Per behavior and metric: mentees' deltas against the comparison group's,
-- final KPI rows only. naive_delta is NOT the effect (regression to the
-- mean); did_effect is, with its interval. Native scale.
CREATE TABLE program_effect (
    behavior      text NOT NULL,
    metric        text NOT NULL,
    is_target     boolean NOT NULL,
    paired_n      integer NOT NULL,
    comparison_n  integer NOT NULL,
    naive_delta   double precision,
    comparison_delta double precision,
    did_effect    double precision,
    ci_low        double precision,
    ci_high       double precision,
    cuped         boolean NOT NULL,
    theta         double precision,
    as_of         timestamptz NOT NULL,  -- event time it was computed at
    PRIMARY KEY (behavior, metric)
);
