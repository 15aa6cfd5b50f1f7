-- Dashboards for QA leads (SPEC section 5): read-only views over the
-- analytics tables, one per panel kind, read by the Grafana dashboard in
-- dashboards/grafana/ and by tools/mentord-report. docs/dashboards.md
-- documents every column and the SQL that recomputes each figure.
-- Applied inside the configured schema (search_path is set by mentord).
--
-- Rules every view follows:
-- - Numbers are on the metric's native scale, as the base tables store them;
--   scale_min and scale_max come along so a panel can say what the scale is.
-- - "Now" is event time: the newest event time the analytics evaluated
--   (dash_event_time), never the wall clock, so a replay of last year's
--   events shows last year's dashboards.
-- - The naive before/after delta of the mentees is never called an effect:
--   its columns are named *_naive_not_effect, beside the difference in
--   differences (did_*) and the group sizes.
-- - Days are UTC days, as everywhere in mentord.

-- "Now" in event time: the newest event time evaluated over every consumer
-- group (analytics_state has one row per group). NULL before the analytics
-- ran, and then every "days remaining" or "age" is NULL rather than a guess.
CREATE VIEW dash_event_time AS
SELECT max(event_time_at) AS now_at,
       max(closed_at) AS closed_at,
       max(last_round_at) AS last_round_at
  FROM analytics_state;

-- The 97.5% quantile of Student's t (for two-sided 95% intervals), by the
-- Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5) with z = 1.95996:
--   t = z + g1/df + g2/df^2 + g3/df^3 + g4/df^4
-- within 0.1% of the exact value from 3 degrees of freedom up, 1% at 2.
-- PostgreSQL has no inverse t, and a normal interval would be too narrow for
-- small groups. One expression without FROM, so the planner inlines it.
CREATE FUNCTION dash_t975(df double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN df >= 1 THEN
        1.959963984540054 + 2.372271230298562 / df + 2.8224986157396112 / df ^ 2
        + 2.555849679507722 / df ^ 3 + 1.5895340533938225 / df ^ 4 END
$$;

-- Welch's 95% interval for mean1 - mean2, as lib/stats.c computes it:
--   se^2 = var1/n1 + var2/n2, df = se^4 / ((var1/n1)^2/(n1-1) + (var2/n2)^2/(n2-1))
-- with the t quantile of dash_t975, written out again here: a view read
-- with a schema prefix and another search_path (Grafana's user) would not
-- find dash_t975 from inside the body. NULL bounds when a group has fewer
-- than 2 values or neither varies (nothing to estimate the noise from),
-- never a zero-width interval. A set-returning SQL function of one SELECT,
-- so the planner inlines it into the views instead of calling it per row.
CREATE FUNCTION dash_welch(mean1 double precision, var1 double precision, n1 bigint,
                           mean2 double precision, var2 double precision, n2 bigint)
RETURNS TABLE (diff double precision, ci_low double precision, ci_high double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT w.d, w.d - w.t * w.se, w.d + w.t * w.se
      FROM (SELECT v.d, v.se,
                   CASE WHEN v.df >= 1 THEN
                       1.959963984540054 + 2.372271230298562 / v.df + 2.8224986157396112 / v.df ^ 2
                       + 2.555849679507722 / v.df ^ 3 + 1.5895340533938225 / v.df ^ 4 END AS t
              FROM (SELECT mean1 - mean2 AS d,
                           sqrt(var1 / n1 + var2 / n2) AS se,
                           CASE WHEN n1 >= 2 AND n2 >= 2 AND var1 + var2 > 0
                                THEN (var1 / n1 + var2 / n2) ^ 2
                                     / ((var1 / n1) ^ 2 / (n1 - 1) + (var2 / n2) ^ 2 / (n2 - 1)) END AS df) AS v) AS w
$$;

-- Who needs help and who can help, per behavior: every agent's current
-- status with n, the shrunken mean and its interval, ranked within the
-- behavior (1 = best) over all agents, whatever filter a panel adds.
-- The status rows are ranked before the roster is joined (narrower rows to
-- sort), and sorted once: the worst-first rank comes from the same order
-- (cume_dist counts the rows scoring at least as high). No index on
-- shrunk_mean: mentord rewrites it with every observation, and an index
-- would cost its hottest table its HOT updates.
CREATE VIEW dash_behavior_leaderboard AS
SELECT s.behavior, m.source, m.scale_min, m.scale_max,
       s.agent_id, a.name, a.site, a.team_id, a.team_lead_id, a.language,
       coalesce(a.active, true) AS active,
       s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason,
       s.since, s.updated_at,
       s.rank_best,
       CASE WHEN s.shrunk_mean IS NOT NULL
            THEN s.agents_ranked - round(s.at_least * s.agents_ranked)::bigint + 1 END AS rank_worst,
       s.agents_ranked
  FROM (SELECT agent_id, behavior, n, mean, shrunk_mean, ci_low, ci_high, status, reason, since, updated_at,
               rank() OVER w AS rank_best,
               cume_dist() OVER w AS at_least,
               count(*) OVER (PARTITION BY behavior) AS agents_ranked
          FROM agent_behavior_status
        WINDOW w AS (PARTITION BY behavior ORDER BY shrunk_mean DESC NULLS LAST)) AS s
  LEFT JOIN agents a ON a.agent_id = s.agent_id
  LEFT JOIN metrics m ON m.metric = s.behavior;

-- Triggers still waiting for a mentor: open (not yet through a round) and
-- waiting (a round found no possible mentor), with their age in event time
-- and the agent's current status in the behavior.
CREATE VIEW dash_open_triggers AS
SELECT t.trigger_id, t.status, t.kind, t.behavior,
       t.agent_id, a.name, a.site, a.team_id, a.team_lead_id, a.language,
       t.fired_at, t.score, t.n, t.waiting_since,
       (extract(epoch FROM e.now_at - t.fired_at) / 86400)::double precision AS age_days,
       s.n AS current_n, s.shrunk_mean AS current_shrunk_mean, s.status AS current_status,
       m.scale_min, m.scale_max
  FROM triggers t
 CROSS JOIN dash_event_time e
  LEFT JOIN agents a ON a.agent_id = t.agent_id
  LEFT JOIN agent_behavior_status s ON s.agent_id = t.agent_id AND s.behavior = t.behavior
  LEFT JOIN metrics m ON m.metric = t.behavior
 WHERE t.status IN ('open', 'waiting');

-- Active pairings: who helps whom in what, how long is left (event time),
-- and the mentee's current deltas (provisional until final). One row per
-- pairing; the mentee's pairing_kpis rows pivoted into columns.
CREATE VIEW dash_active_pairings AS
SELECT p.pairing_id, p.behavior, p.trigger_id,
       p.mentee_id, ee.name AS mentee_name, ee.site AS mentee_site, ee.team_id AS mentee_team_id,
       p.mentor_id, mr.name AS mentor_name, mr.site AS mentor_site, mr.team_id AS mentor_team_id,
       p.started_at, p.ends_at,
       (extract(epoch FROM e.now_at - p.started_at) / 86400)::double precision AS days_elapsed,
       greatest(extract(epoch FROM p.ends_at - e.now_at) / 86400, 0)::double precision AS days_remaining,
       p.mentee_score, p.mentor_score, p.cost, p.n_feasible,
       m.scale_min AS target_scale_min, m.scale_max AS target_scale_max,
       k.target_before_n, k.target_before_mean, k.target_after_n, k.target_after_mean,
       k.target_delta, k.target_ci_low, k.target_ci_high,
       k.csat_delta, k.csat_top2_delta, k.aqm_delta, k.kpis_final
  FROM pairings p
 CROSS JOIN dash_event_time e
  LEFT JOIN agents ee ON ee.agent_id = p.mentee_id
  LEFT JOIN agents mr ON mr.agent_id = p.mentor_id
  LEFT JOIN metrics m ON m.metric = p.behavior
  LEFT JOIN LATERAL (
        SELECT max(x.before_n) FILTER (WHERE x.is_target) AS target_before_n,
               max(x.before_mean) FILTER (WHERE x.is_target) AS target_before_mean,
               max(x.after_n) FILTER (WHERE x.is_target) AS target_after_n,
               max(x.after_mean) FILTER (WHERE x.is_target) AS target_after_mean,
               max(x.delta) FILTER (WHERE x.is_target) AS target_delta,
               max(x.ci_low) FILTER (WHERE x.is_target) AS target_ci_low,
               max(x.ci_high) FILTER (WHERE x.is_target) AS target_ci_high,
               max(x.delta) FILTER (WHERE x.metric = 'csat') AS csat_delta,
               max(x.delta) FILTER (WHERE x.metric = 'csat_top2') AS csat_top2_delta,
               max(x.delta) FILTER (WHERE x.metric = 'aqm') AS aqm_delta,
               bool_and(x.final) AS kpis_final
          FROM pairing_kpis x
         WHERE x.pairing_id = p.pairing_id AND x.subject = 'mentee') AS k ON true
 WHERE p.status = 'active';

-- Who is helping: every agent who mentors or has mentored, or is
-- mentor-eligible (high) in some behavior, with the active load. An
-- eligible agent with no pairing shows 0 active mentees: spare capacity.
CREATE VIEW dash_mentor_load AS
WITH load AS (
    SELECT mentor_id AS agent_id,
           count(*) FILTER (WHERE status = 'active') AS active_mentees,
           count(*) FILTER (WHERE status = 'completed') AS completed_pairings,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled_pairings,
           count(*) AS total_pairings,
           string_agg(DISTINCT behavior, ', ' ORDER BY behavior) FILTER (WHERE status = 'active') AS active_behaviors,
           min(ends_at) FILTER (WHERE status = 'active') AS next_end_at,
           max(started_at) AS last_started_at
      FROM pairings
     GROUP BY mentor_id
), high AS (
    SELECT agent_id, count(*) AS high_behaviors,
           string_agg(behavior, ', ' ORDER BY behavior) AS high_in
      FROM agent_behavior_status
     WHERE status = 'high'
     GROUP BY agent_id
)
SELECT coalesce(l.agent_id, h.agent_id) AS mentor_id, a.name, a.site, a.team_id, a.team_lead_id,
       a.language, coalesce(a.active, true) AS active,
       coalesce(l.active_mentees, 0) AS active_mentees,
       coalesce(l.completed_pairings, 0) AS completed_pairings,
       coalesce(l.cancelled_pairings, 0) AS cancelled_pairings,
       coalesce(l.total_pairings, 0) AS total_pairings,
       l.active_behaviors, l.next_end_at, l.last_started_at,
       coalesce(h.high_behaviors, 0) AS high_behaviors, h.high_in
  FROM load l
  FULL JOIN high h ON h.agent_id = l.agent_id
  LEFT JOIN agents a ON a.agent_id = coalesce(l.agent_id, h.agent_id);

-- Every KPI row of every pairing, for the mentee and for the mentor, with
-- names, the pairing's state and the metric's scale: each pairing's before
-- and after, and the mentors' own KPIs while they mentor.
CREATE VIEW dash_pairing_kpis AS
SELECT k.pairing_id, p.behavior, p.status AS pairing_status, p.started_at, p.ends_at,
       k.subject, x.agent_id, a.name, a.site, a.team_id,
       CASE k.subject WHEN 'mentee' THEN p.mentor_id ELSE p.mentee_id END AS partner_id,
       k.metric, k.is_target, m.scale_min, m.scale_max,
       k.before_n, k.before_mean, k.after_n, k.after_mean, k.delta, k.ci_low, k.ci_high, k.final,
       k.before_from, k.before_to, k.after_from, k.after_to
  FROM pairing_kpis k
  JOIN pairings p ON p.pairing_id = k.pairing_id
 CROSS JOIN LATERAL (SELECT CASE k.subject WHEN 'mentee' THEN p.mentee_id ELSE p.mentor_id END AS agent_id) AS x
  LEFT JOIN agents a ON a.agent_id = x.agent_id
  LEFT JOIN metrics m ON m.metric = k.metric;

-- The mentors' own KPIs: per mentor and metric, over the pairings they
-- mentored, the average of their before and after means and of their own
-- change. Does mentoring cost the mentor? (Descriptive: no comparison group.)
CREATE VIEW dash_mentor_kpis AS
SELECT k.agent_id AS mentor_id, k.name, k.site, k.team_id, k.metric, k.scale_min, k.scale_max,
       count(*) AS pairings,
       count(*) FILTER (WHERE k.final) AS final_pairings,
       avg(k.before_mean) AS avg_before_mean,
       avg(k.after_mean) AS avg_after_mean,
       avg(k.delta) AS avg_delta,
       sum(k.before_n) AS before_n,
       sum(k.after_n) AS after_n
  FROM dash_pairing_kpis k
 WHERE k.subject = 'mentor' AND k.metric IN ('csat', 'csat_top2', 'aqm')
 GROUP BY k.agent_id, k.name, k.site, k.team_id, k.metric, k.scale_min, k.scale_max;

-- One row per trigger: which arm of the program it is in and its outcome in
-- the targeted behavior: paired (an active or completed pairing), cancelled
-- (a pairing cancelled when an agent left: in neither group, as in
-- program_effect), or comparison (a low-score trigger never paired). The
-- per-team and per-site summaries aggregate it.
CREATE VIEW dash_program_outcomes AS
SELECT t.trigger_id, t.kind, t.behavior, t.agent_id, a.site, a.team_id,
       t.status AS trigger_status, t.fired_at,
       p.pairing_id, p.status AS pairing_status, p.mentor_id,
       CASE WHEN p.status = 'cancelled' THEN 'cancelled'
            WHEN p.pairing_id IS NOT NULL THEN 'paired'
            WHEN c.trigger_id IS NOT NULL THEN 'comparison' END AS arm,
       coalesce(mk.final, c.final) AS final,
       coalesce(mk.before_mean, c.before_mean) AS target_before_mean,
       coalesce(mk.after_mean, c.after_mean) AS target_after_mean,
       coalesce(mk.delta, c.delta) AS target_delta
  FROM triggers t
  LEFT JOIN agents a ON a.agent_id = t.agent_id
  LEFT JOIN pairings p ON p.trigger_id = t.trigger_id
  LEFT JOIN pairing_kpis mk ON mk.pairing_id = p.pairing_id AND mk.subject = 'mentee' AND mk.is_target
  LEFT JOIN comparison_kpis c ON c.trigger_id = t.trigger_id AND c.is_target AND p.pairing_id IS NULL;

-- The center's comparison group per behavior (final target deltas), what
-- the team and site summaries difference against: a team alone rarely has
-- enough unpaired low scorers to be its own comparison.
CREATE VIEW dash_comparison_group AS
SELECT behavior, count(*) AS comparison_n, avg(target_delta) AS comparison_delta,
       var_samp(target_delta) AS comparison_var
  FROM dash_program_outcomes
 WHERE arm = 'comparison' AND final AND target_delta IS NOT NULL
 GROUP BY behavior;

-- Per team and behavior: the program's throughput (triggers, waiting,
-- pairings by state) and its outcome in the targeted behavior. The naive
-- delta is the mentees' own before/after change: NOT the effect. The effect
-- estimate is did_*: the team's mentees against the center's comparison
-- group, plain DiD (no CUPED) with a Welch 95% interval.
CREATE VIEW dash_program_team AS
SELECT g.site, g.team_id, g.behavior,
       g.low_score_triggers, g.fatal_triggers, g.awaiting, g.waiting,
       g.pairings, g.pairings_active, g.pairings_completed, g.pairings_cancelled,
       g.paired_n, c.comparison_n,
       g.target_delta_naive_not_effect, c.comparison_delta,
       w.diff AS did_effect, w.ci_low AS did_ci_low, w.ci_high AS did_ci_high
  FROM (SELECT site, team_id, behavior,
               count(*) FILTER (WHERE kind = 'low_score') AS low_score_triggers,
               count(*) FILTER (WHERE kind = 'fatal') AS fatal_triggers,
               count(*) FILTER (WHERE trigger_status IN ('open', 'waiting')) AS awaiting,
               count(*) FILTER (WHERE trigger_status = 'waiting') AS waiting,
               count(pairing_id) AS pairings,
               count(*) FILTER (WHERE pairing_status = 'active') AS pairings_active,
               count(*) FILTER (WHERE pairing_status = 'completed') AS pairings_completed,
               count(*) FILTER (WHERE pairing_status = 'cancelled') AS pairings_cancelled,
               count(*) FILTER (WHERE arm = 'paired' AND final AND target_delta IS NOT NULL) AS paired_n,
               avg(target_delta) FILTER (WHERE arm = 'paired' AND final) AS target_delta_naive_not_effect,
               var_samp(target_delta) FILTER (WHERE arm = 'paired' AND final) AS paired_var
          FROM dash_program_outcomes
         GROUP BY site, team_id, behavior) AS g
  LEFT JOIN dash_comparison_group c ON c.behavior = g.behavior
  LEFT JOIN LATERAL dash_welch(g.target_delta_naive_not_effect, g.paired_var, g.paired_n,
                               c.comparison_delta, c.comparison_var, c.comparison_n) AS w ON true;

-- The same per site.
CREATE VIEW dash_program_site AS
SELECT g.site, g.behavior,
       g.low_score_triggers, g.fatal_triggers, g.awaiting, g.waiting,
       g.pairings, g.pairings_active, g.pairings_completed, g.pairings_cancelled,
       g.paired_n, c.comparison_n,
       g.target_delta_naive_not_effect, c.comparison_delta,
       w.diff AS did_effect, w.ci_low AS did_ci_low, w.ci_high AS did_ci_high
  FROM (SELECT site, behavior,
               count(*) FILTER (WHERE kind = 'low_score') AS low_score_triggers,
               count(*) FILTER (WHERE kind = 'fatal') AS fatal_triggers,
               count(*) FILTER (WHERE trigger_status IN ('open', 'waiting')) AS awaiting,
               count(*) FILTER (WHERE trigger_status = 'waiting') AS waiting,
               count(pairing_id) AS pairings,
               count(*) FILTER (WHERE pairing_status = 'active') AS pairings_active,
               count(*) FILTER (WHERE pairing_status = 'completed') AS pairings_completed,
               count(*) FILTER (WHERE pairing_status = 'cancelled') AS pairings_cancelled,
               count(*) FILTER (WHERE arm = 'paired' AND final AND target_delta IS NOT NULL) AS paired_n,
               avg(target_delta) FILTER (WHERE arm = 'paired' AND final) AS target_delta_naive_not_effect,
               var_samp(target_delta) FILTER (WHERE arm = 'paired' AND final) AS paired_var
          FROM dash_program_outcomes
         GROUP BY site, behavior) AS g
  LEFT JOIN dash_comparison_group c ON c.behavior = g.behavior
  LEFT JOIN LATERAL dash_welch(g.target_delta_naive_not_effect, g.paired_var, g.paired_n,
                               c.comparison_delta, c.comparison_var, c.comparison_n) AS w ON true;

-- Whether it works, per behavior and metric: program_effect with the
-- effect first and the naive delta named for what it is. verdict reads the
-- interval: 'improved' or 'worsened' only when it excludes 0.
CREATE VIEW dash_program_effect AS
SELECT e.behavior, e.metric, e.is_target, m.source, m.scale_min, m.scale_max,
       e.paired_n, e.comparison_n,
       e.did_effect, e.ci_low AS did_ci_low, e.ci_high AS did_ci_high,
       CASE WHEN e.did_effect IS NULL THEN 'no estimate'
            WHEN e.ci_low IS NULL OR e.ci_high IS NULL THEN 'no interval'
            WHEN e.ci_low > 0 THEN 'improved'
            WHEN e.ci_high < 0 THEN 'worsened'
            ELSE 'inconclusive' END AS verdict,
       e.naive_delta AS naive_delta_not_effect,
       e.comparison_delta,
       e.cuped, e.theta, e.as_of
  FROM program_effect e
  LEFT JOIN metrics m ON m.metric = e.metric;

-- The trend of triggers awaiting a mentor, as changes per UTC day of event
-- time: a trigger awaits from fired_at until it is paired (its pairing's
-- started_at) or resolved, whichever is first; it is waiting from
-- waiting_since to the same end. The count at the end of a day is the
-- running sum of the changes up to that day (over whatever filter), which
-- keeps this view as small as the days that changed rather than days x
-- groups. Per day, behavior, kind, site and team.
CREATE VIEW dash_trigger_changes AS
WITH spans AS (
    SELECT t.behavior, t.kind, a.site, a.team_id, t.fired_at, t.waiting_since,
           least(p.started_at, t.resolved_at) AS ended_at
      FROM triggers t
      LEFT JOIN pairings p ON p.trigger_id = t.trigger_id
      LEFT JOIN agents a ON a.agent_id = t.agent_id
), changes AS (
    SELECT fired_at AS at, behavior, kind, site, team_id, 1 AS awaiting, 0 AS waiting, 1 AS fired, 0 AS ended
      FROM spans
    UNION ALL
    SELECT ended_at, behavior, kind, site, team_id, -1, 0, 0, 1
      FROM spans WHERE ended_at IS NOT NULL
    UNION ALL
    SELECT waiting_since, behavior, kind, site, team_id, 0, 1, 0, 0
      FROM spans WHERE waiting_since IS NOT NULL
    UNION ALL
    SELECT greatest(ended_at, waiting_since), behavior, kind, site, team_id, 0, -1, 0, 0
      FROM spans WHERE waiting_since IS NOT NULL AND ended_at IS NOT NULL
)
SELECT (date_trunc('day', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS day_start,
       behavior, kind, site, team_id,
       sum(awaiting)::bigint AS awaiting_change,
       sum(waiting)::bigint AS waiting_change,
       sum(fired)::bigint AS fired,
       sum(ended)::bigint AS ended
  FROM changes
 GROUP BY 1, 2, 3, 4, 5;

-- Rejected messages per UTC day of receipt (rejects have no trustworthy
-- event time: many are rejected for their timestamp), topic and reason.
CREATE VIEW dash_rejects_daily AS
SELECT (date_trunc('day', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS day_start,
       topic, reason, count(*) AS rejected
  FROM rejected_events
 GROUP BY 1, 2, 3;
