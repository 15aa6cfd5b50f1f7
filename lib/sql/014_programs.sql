-- Programs (SPEC section 2, docs/analytics.md "Programs"): a BPO runs many
-- client programs in one deployment, and everything the analytics decide is
-- per program: a behavior is (program, name), its population and thresholds
-- are the program's, and no pairing crosses programs. Every analytics row
-- carries its program; rows written before programs existed belong to the
-- program 'default', where every event without one goes. The defaults are
-- dropped once the rows are filled: mentord names the program of every row
-- it writes.

ALTER TABLE agent_behavior_status ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE agent_behavior_status ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT agent_behavior_status_pkey, ADD PRIMARY KEY (program, agent_id, behavior);

ALTER TABLE status_past ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE status_past ALTER COLUMN program DROP DEFAULT;

ALTER TABLE behavior_priors ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE behavior_priors ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT behavior_priors_pkey, ADD PRIMARY KEY (program, metric, day);

-- Trigger and pairing ids name the event that caused them, which belongs to
-- one program: they stay unique across programs.
ALTER TABLE triggers ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE triggers ALTER COLUMN program DROP DEFAULT;
DROP INDEX triggers_open, triggers_agent, triggers_open_key;
CREATE INDEX triggers_open ON triggers (program, behavior) WHERE status IN ('open', 'waiting');
CREATE INDEX triggers_agent ON triggers (agent_id, program, behavior);

-- Why a trigger waits (docs/analytics.md, "Pairing rounds"): no mentor could
-- take it, its agent is mentored in as many behaviors as it may be at once
-- (max_pairings_per_mentee) or is served in a lower one first, or it is held
-- out. Waiting rows from before held out or waited for a mentor.
ALTER TABLE triggers ADD COLUMN waiting_reason text CHECK (waiting_reason IN ('no_mentor', 'one_focus', 'holdout'));
UPDATE triggers SET waiting_reason = CASE WHEN holdout THEN 'holdout' ELSE 'no_mentor' END WHERE status = 'waiting';

-- A mentor's capacity counts its pairings in every program (pairings_mentor).
ALTER TABLE pairings ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE pairings ALTER COLUMN program DROP DEFAULT;

ALTER TABLE pairing_kpis ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE pairing_kpis ALTER COLUMN program DROP DEFAULT;
ALTER TABLE comparison_kpis ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE comparison_kpis ALTER COLUMN program DROP DEFAULT;

ALTER TABLE program_effect ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE program_effect ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT program_effect_pkey, ADD PRIMARY KEY (program, behavior, metric);

ALTER TABLE alerts ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE alerts ALTER COLUMN program DROP DEFAULT;

-- Each program is decided on its own (its own state, read positions and
-- backpressure), so that instances of a group can decide different
-- programs at the same time.
ALTER TABLE analytics_state ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE analytics_state ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT analytics_state_pkey, ADD PRIMARY KEY (group_id, program);
ALTER TABLE analytics_offsets ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE analytics_offsets ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT analytics_offsets_pkey, ADD PRIMARY KEY (group_id, program, topic, partition);
ALTER TABLE analytics_pause ADD COLUMN program text NOT NULL DEFAULT 'default';
ALTER TABLE analytics_pause ALTER COLUMN program DROP DEFAULT,
    DROP CONSTRAINT analytics_pause_pkey, ADD PRIMARY KEY (group_id, program);
