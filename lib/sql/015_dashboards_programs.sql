-- Dashboards per program (issue #20, docs/dashboards.md): the views of
-- 005_dashboards.sql again, each with `program` as its first column, so
-- that a panel or the report shows one program at a time. A behavior is
-- (program, name): its population, thresholds, comparison group and effect
-- are the program's (docs/analytics.md, "Programs"). Every other column
-- keeps its name and meaning; the rules of 005 hold (native scales, event
-- time as "now", the naive delta never called the effect, UTC days).
--
-- Rows of different programs never meet:
-- - every join on a behavior or an agent's status, every window and every
--   GROUP BY carries program;
-- - joins on trigger_id or pairing_id need nothing more: those ids name the
--   event that caused them, which belongs to one program (014_programs.sql);
-- - the roster (agents) and the scales (metrics) are one per deployment.
-- dash_rejects_daily stays as it is: a rejected message has no trustworthy
-- program, as it has no trustworthy event time.
--
-- "Now" is per program: the newest event time evaluated in the program.

-- A view dropped and created again loses its grants (the read-only role of
-- docs/dashboards.md): they are kept here and given again below.
-- grantee NULL: PUBLIC.
CREATE TEMP TABLE dash_grants AS
SELECT c.relname AS view_name, r.rolname AS grantee, g.privilege_type, g.is_grantable
  FROM pg_class c
 CROSS JOIN LATERAL aclexplode(c.relacl) AS g
  LEFT JOIN pg_roles r ON r.oid = g.grantee
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
   AND c.relkind = 'v' AND c.relname LIKE 'dash\_%' AND g.grantee <> c.relowner;

DROP VIEW dash_event_time, dash_behavior_leaderboard, dash_open_triggers, dash_active_pairings,
    dash_mentor_load, dash_pairing_kpis, dash_mentor_kpis, dash_program_outcomes, dash_comparison_group,
    dash_program_team, dash_program_site, dash_program_effect, dash_trigger_changes;

-- "Now" in event time, one row per program: the newest event time the
-- analytics evaluated in the program (the maximum over the consumer groups'
-- rows of analytics_state for it). A program whose feed stops shows its
-- clock stopped, and its ages and days remaining count from there rather
-- than from another program's events. The pairing rounds are shared by
-- every program (docs/analytics.md): last_round_at says where they are.
CREATE VIEW dash_event_time AS
SELECT program,
       max(event_time_at) AS now_at,
       max(closed_at) AS closed_at,
       max(last_round_at) AS last_round_at
  FROM analytics_state
 GROUP BY program;

-- Who needs help and who can help, per program and behavior: every agent's
-- current status, ranked within the program's behavior (1 = best). The
-- status rows are ranked before the roster is joined, and sorted once (see
-- 005). A filter on program alone is pushed into the ranking: it is the
-- window's partition.
CREATE VIEW dash_behavior_leaderboard AS
SELECT s.program, s.behavior, m.source, m.scale_min, m.scale_max,
       s.agent_id, a.name, a.site, a.team_id, a.team_lead_id, a.language,
       coalesce(a.active, true) AS active,
       s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason,
       s.since, s.updated_at,
       s.rank_best,
       CASE WHEN s.shrunk_mean IS NOT NULL
            THEN s.agents_ranked - round(s.at_least * s.agents_ranked)::bigint + 1 END AS rank_worst,
       s.agents_ranked
  FROM (SELECT program, agent_id, behavior, n, mean, shrunk_mean, ci_low, ci_high, status, reason, since,
               updated_at,
               rank() OVER w AS rank_best,
               cume_dist() OVER w AS at_least,
               count(*) OVER (PARTITION BY program, behavior) AS agents_ranked
          FROM agent_behavior_status
        WINDOW w AS (PARTITION BY program, behavior ORDER BY shrunk_mean DESC NULLS LAST)) AS s
  LEFT JOIN agents a ON a.agent_id = s.agent_id
  LEFT JOIN metrics m ON m.metric = s.behavior;

-- Triggers still waiting for a mentor (open or waiting), their age in the
-- program's event time, and the agent's current status in the behavior.
CREATE VIEW dash_open_triggers AS
SELECT t.program, t.trigger_id, t.status, t.kind, t.behavior,
       t.agent_id, a.name, a.site, a.team_id, a.team_lead_id, a.language,
       t.fired_at, t.score, t.n, t.waiting_since,
       (extract(epoch FROM e.now_at - t.fired_at) / 86400)::double precision AS age_days,
       s.n AS current_n, s.shrunk_mean AS current_shrunk_mean, s.status AS current_status,
       m.scale_min, m.scale_max
  FROM triggers t
  LEFT JOIN dash_event_time e ON e.program = t.program
  LEFT JOIN agents a ON a.agent_id = t.agent_id
  LEFT JOIN agent_behavior_status s ON s.program = t.program AND s.agent_id = t.agent_id AND s.behavior = t.behavior
  LEFT JOIN metrics m ON m.metric = t.behavior
 WHERE t.status IN ('open', 'waiting');

-- Active pairings: who helps whom in what, how long is left in the
-- program's event time, and the mentee's current deltas (provisional until
-- final), the mentee's pairing_kpis rows pivoted into columns.
CREATE VIEW dash_active_pairings AS
SELECT p.program, p.pairing_id, p.behavior, p.trigger_id,
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
  LEFT JOIN dash_event_time e ON e.program = p.program
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

-- Who is helping, per program: every agent who mentors or has mentored in
-- the program, or is mentor-eligible (high) in one of its behaviors, with
-- the load in the program. A person has one capacity across programs
-- (docs/analytics.md): active_mentees_all_programs is the load that
-- capacity counts, so that an agent busy in another program is not shown
-- as spare capacity here.
CREATE VIEW dash_mentor_load AS
WITH load AS (
    SELECT program, mentor_id AS agent_id,
           count(*) FILTER (WHERE status = 'active') AS active_mentees,
           count(*) FILTER (WHERE status = 'completed') AS completed_pairings,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled_pairings,
           count(*) AS total_pairings,
           string_agg(DISTINCT behavior, ', ' ORDER BY behavior) FILTER (WHERE status = 'active') AS active_behaviors,
           min(ends_at) FILTER (WHERE status = 'active') AS next_end_at,
           max(started_at) AS last_started_at
      FROM pairings
     GROUP BY program, mentor_id
), high AS (
    SELECT program, agent_id, count(*) AS high_behaviors,
           string_agg(behavior, ', ' ORDER BY behavior) AS high_in
      FROM agent_behavior_status
     WHERE status = 'high'
     GROUP BY program, agent_id
), everywhere AS (
    SELECT mentor_id AS agent_id, count(*) AS active_mentees
      FROM pairings
     WHERE status = 'active'
     GROUP BY mentor_id
)
SELECT coalesce(l.program, h.program) AS program,
       coalesce(l.agent_id, h.agent_id) AS mentor_id, a.name, a.site, a.team_id, a.team_lead_id,
       a.language, coalesce(a.active, true) AS active,
       coalesce(l.active_mentees, 0) AS active_mentees,
       coalesce(w.active_mentees, 0) AS active_mentees_all_programs,
       coalesce(l.completed_pairings, 0) AS completed_pairings,
       coalesce(l.cancelled_pairings, 0) AS cancelled_pairings,
       coalesce(l.total_pairings, 0) AS total_pairings,
       l.active_behaviors, l.next_end_at, l.last_started_at,
       coalesce(h.high_behaviors, 0) AS high_behaviors, h.high_in
  FROM load l
  FULL JOIN high h ON h.program = l.program AND h.agent_id = l.agent_id
  LEFT JOIN agents a ON a.agent_id = coalesce(l.agent_id, h.agent_id)
  LEFT JOIN everywhere w ON w.agent_id = coalesce(l.agent_id, h.agent_id);

-- Every KPI row of every pairing, for the mentee and for the mentor, with
-- names, the pairing's state and the metric's scale. A KPI row counts the
-- observations of its pairing's program only.
CREATE VIEW dash_pairing_kpis AS
SELECT p.program, k.pairing_id, p.behavior, p.status AS pairing_status, p.started_at, p.ends_at,
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

-- The mentors' own KPIs, per program, mentor and metric, over the pairings
-- they mentored in the program. Descriptive: no comparison group.
CREATE VIEW dash_mentor_kpis AS
SELECT k.program, k.agent_id AS mentor_id, k.name, k.site, k.team_id, k.metric, k.scale_min, k.scale_max,
       count(*) AS pairings,
       count(*) FILTER (WHERE k.final) AS final_pairings,
       avg(k.before_mean) AS avg_before_mean,
       avg(k.after_mean) AS avg_after_mean,
       avg(k.delta) AS avg_delta,
       sum(k.before_n) AS before_n,
       sum(k.after_n) AS after_n
  FROM dash_pairing_kpis k
 WHERE k.subject = 'mentor' AND k.metric IN ('csat', 'csat_top2', 'aqm')
 GROUP BY k.program, k.agent_id, k.name, k.site, k.team_id, k.metric, k.scale_min, k.scale_max;

-- One row per trigger: its arm (paired, cancelled, comparison) and its
-- outcome in the targeted behavior, as in 005.
CREATE VIEW dash_program_outcomes AS
SELECT t.program, t.trigger_id, t.kind, t.behavior, t.agent_id, a.site, a.team_id,
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

-- The program's comparison group per behavior (final target deltas), what
-- its team and site summaries difference against.
CREATE VIEW dash_comparison_group AS
SELECT program, behavior, count(*) AS comparison_n, avg(target_delta) AS comparison_delta,
       var_samp(target_delta) AS comparison_var
  FROM dash_program_outcomes
 WHERE arm = 'comparison' AND final AND target_delta IS NOT NULL
 GROUP BY program, behavior;

-- Per program, team and behavior: throughput and outcome. The naive delta
-- is NOT the effect; did_* is, the team's mentees against the program's
-- comparison group in the behavior (plain DiD, Welch 95% interval).
CREATE VIEW dash_program_team AS
SELECT g.program, g.site, g.team_id, g.behavior,
       g.low_score_triggers, g.fatal_triggers, g.awaiting, g.waiting,
       g.pairings, g.pairings_active, g.pairings_completed, g.pairings_cancelled,
       g.paired_n, c.comparison_n,
       g.target_delta_naive_not_effect, c.comparison_delta,
       w.diff AS did_effect, w.ci_low AS did_ci_low, w.ci_high AS did_ci_high
  FROM (SELECT program, site, team_id, behavior,
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
         GROUP BY program, site, team_id, behavior) AS g
  LEFT JOIN dash_comparison_group c ON c.program = g.program AND c.behavior = g.behavior
  LEFT JOIN LATERAL dash_welch(g.target_delta_naive_not_effect, g.paired_var, g.paired_n,
                               c.comparison_delta, c.comparison_var, c.comparison_n) AS w ON true;

-- The same per program and site.
CREATE VIEW dash_program_site AS
SELECT g.program, g.site, g.behavior,
       g.low_score_triggers, g.fatal_triggers, g.awaiting, g.waiting,
       g.pairings, g.pairings_active, g.pairings_completed, g.pairings_cancelled,
       g.paired_n, c.comparison_n,
       g.target_delta_naive_not_effect, c.comparison_delta,
       w.diff AS did_effect, w.ci_low AS did_ci_low, w.ci_high AS did_ci_high
  FROM (SELECT program, site, behavior,
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
         GROUP BY program, site, behavior) AS g
  LEFT JOIN dash_comparison_group c ON c.program = g.program AND c.behavior = g.behavior
  LEFT JOIN LATERAL dash_welch(g.target_delta_naive_not_effect, g.paired_var, g.paired_n,
                               c.comparison_delta, c.comparison_var, c.comparison_n) AS w ON true;

-- Whether it works, per program, behavior and metric: program_effect with
-- the effect first and the naive delta named for what it is.
CREATE VIEW dash_program_effect AS
SELECT e.program, e.behavior, e.metric, e.is_target, m.source, m.scale_min, m.scale_max,
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
-- time (see 005), per program, day, behavior, kind, site and team.
CREATE VIEW dash_trigger_changes AS
WITH spans AS (
    SELECT t.program, t.behavior, t.kind, a.site, a.team_id, t.fired_at, t.waiting_since,
           least(p.started_at, t.resolved_at) AS ended_at
      FROM triggers t
      LEFT JOIN pairings p ON p.trigger_id = t.trigger_id
      LEFT JOIN agents a ON a.agent_id = t.agent_id
), changes AS (
    SELECT program, fired_at AS at, behavior, kind, site, team_id, 1 AS awaiting, 0 AS waiting, 1 AS fired, 0 AS ended
      FROM spans
    UNION ALL
    SELECT program, ended_at, behavior, kind, site, team_id, -1, 0, 0, 1
      FROM spans WHERE ended_at IS NOT NULL
    UNION ALL
    SELECT program, waiting_since, behavior, kind, site, team_id, 0, 1, 0, 0
      FROM spans WHERE waiting_since IS NOT NULL
    UNION ALL
    SELECT program, greatest(ended_at, waiting_since), behavior, kind, site, team_id, 0, -1, 0, 0
      FROM spans WHERE waiting_since IS NOT NULL AND ended_at IS NOT NULL
)
SELECT program,
       (date_trunc('day', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS day_start,
       behavior, kind, site, team_id,
       sum(awaiting)::bigint AS awaiting_change,
       sum(waiting)::bigint AS waiting_change,
       sum(fired)::bigint AS fired,
       sum(ended)::bigint AS ended
  FROM changes
 GROUP BY 1, 2, 3, 4, 5, 6;

-- The grants kept above, given again. Names come from the catalog and go
-- out quoted (format's %I), never as SQL text of their own.
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT * FROM pg_temp.dash_grants ORDER BY view_name, grantee, privilege_type LOOP
        EXECUTE format('GRANT %s ON %I.%I TO %s%s', g.privilege_type, current_schema(), g.view_name,
                       coalesce(quote_ident(g.grantee), 'PUBLIC'),
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;
DROP TABLE pg_temp.dash_grants;
