#!/bin/bash
# The analytics on a generated center whose low performers are planted and
# known (the generator's manifest): the lows with enough observations are
# flagged, nobody is flagged on too few, every mentor is truly strong, no
# pairing breaks a constraint, and every KPI row equals a recomputation in
# SQL from score_events (docs/analytics.md, "Recomputing the numbers").
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="planted-$run_id"
schema="it_planted_$run_id"
generate "$prefix" --agents 240 --days 63 --start 2026-06-01 --seed 23 --low-share 0.08 \
    --manifest "$work/manifest.csv" 2>"$work/gen.log"
cat "$work/gen.log"
write_config "$work/m.conf" "$schema" "$prefix" "$prefix-g"
drain "$work/m.conf" 2>"$work/mentord.log" || fail "drain failed"
grep -c 'low_score\|trigger' "$work/mentord.log" >/dev/null || true

q() { psql_val "$schema" "$1"; }
q "CREATE TABLE manifest (agent_id text, team_id text, team_lead_id text, site text, language text,
                          behavior text, latent float8, planted_low int, closed_loop int, effect float8,
                          effect_ramp_days int)" >/dev/null
psql "$MENTORD_PG" -Xq -v ON_ERROR_STOP=1 -c "SET search_path = $schema" \
    -c "\\copy manifest FROM '$work/manifest.csv' WITH (FORMAT csv, HEADER true)"

# Observations per (agent, behavior) over the whole run: "enough" is twice min_n (8) within 28 days on average.
q "CREATE TABLE obs AS
     SELECT s.agent_id, o.metric AS behavior, count(*) AS n
       FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o
      GROUP BY 1, 2" >/dev/null
q "CREATE TABLE flagged AS SELECT DISTINCT agent_id, behavior FROM triggers WHERE kind = 'low_score'" >/dev/null

planted=$(q "SELECT count(*) FROM manifest m JOIN obs USING (agent_id, behavior) WHERE m.planted_low = 1 AND obs.n >= 40")
found=$(q "SELECT count(*) FROM manifest m JOIN obs USING (agent_id, behavior) JOIN flagged USING (agent_id, behavior)
            WHERE m.planted_low = 1 AND obs.n >= 40")
flagged=$(q "SELECT count(*) FROM flagged")
true_flags=$(q "SELECT count(*) FROM flagged JOIN manifest m USING (agent_id, behavior) WHERE m.planted_low = 1")
echo "planted lows with >= 40 observations: $planted; flagged among them: $found"
echo "flagged (agent, behavior): $flagged; planted among them: $true_flags"
echo "recall $(q "SELECT round($found::numeric / nullif($planted, 0), 3)") precision $(q "SELECT round($true_flags::numeric / nullif($flagged, 0), 3)")"
checks=$((checks + 1))
((planted >= 20)) || fail "the scenario plants too few observable lows ($planted) to measure recall"
checks=$((checks + 1))
((found * 100 >= planted * 95)) || fail "recall below 0.95: $found of $planted planted lows flagged"
checks=$((checks + 1))
((true_flags * 100 >= flagged * 95)) || fail "precision below 0.95: $true_flags of $flagged flags are planted lows"

assert_eq "no trigger fired on fewer than min_n observations" 0 \
    "$(q "SELECT count(*) FROM triggers WHERE kind = 'low_score' AND n < 8")"
assert_eq "every trigger is for a behavior whose agent was low when it fired" 0 \
    "$(q "SELECT count(*) FROM triggers t JOIN metrics m ON m.metric = t.behavior
           WHERE t.kind = 'low_score'
             AND (t.score - m.scale_min) / (m.scale_max - m.scale_min) >= 0.60")"

pairings=$(q "SELECT count(*) FROM pairings")
echo "pairings: $pairings ($(q "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM pairings GROUP BY 1 ORDER BY 1) s"))"
checks=$((checks + 1))
((pairings >= 10)) || fail "too few pairings ($pairings) to check them"
assert_eq "every mentor is truly strong in the behavior (latent skill >= 0.85)" 0 \
    "$(q "SELECT count(*) FROM pairings p JOIN manifest m ON m.agent_id = p.mentor_id AND m.behavior = p.behavior
           WHERE m.latent < 0.85")"
assert_eq "every mentor's interval cleared the high threshold when paired" 0 \
    "$(q "SELECT count(*) FROM pairings p JOIN metrics m ON m.metric = p.behavior
           WHERE (p.mentor_ci_low - m.scale_min) / (m.scale_max - m.scale_min) < 0.85 OR p.mentor_ci_low IS NULL")"
assert_eq "no mentor is its own mentee, or of another language, or the mentee's team lead" 0 \
    "$(q "SELECT count(*) FROM pairings p JOIN agents e ON e.agent_id = p.mentee_id JOIN agents r ON r.agent_id = p.mentor_id
           WHERE p.mentee_id = p.mentor_id OR e.language IS DISTINCT FROM r.language
              OR e.team_lead_id = p.mentor_id")"
assert_eq "no mentor ever held more than 2 active mentees" 0 \
    "$(q "SELECT count(*) FROM pairings p
           WHERE (SELECT count(*) FROM pairings o WHERE o.mentor_id = p.mentor_id
                    AND o.started_at <= p.started_at AND coalesce(o.ended_at, o.ends_at) > p.started_at) > 2")"
assert_eq "no pair repeated within the 90-day cooldown" 0 \
    "$(q "SELECT count(*) FROM pairings a JOIN pairings b ON a.mentee_id = b.mentee_id AND a.mentor_id = b.mentor_id
           AND a.pairing_id < b.pairing_id AND abs(extract(epoch FROM b.started_at - a.started_at)) < 90 * 86400")"
assert_eq "every paired trigger points at its pairing" 0 \
    "$(q "SELECT count(*) FROM pairings p JOIN triggers t USING (trigger_id)
           WHERE t.pairing_id IS DISTINCT FROM p.pairing_id")"

# Alerts (SPEC section 6): each kind written by the analytics, once per cause, to the mentee's team lead.
for kind in low_score_trigger fatal_behavior pairing_created no_mentor_available pairing_completed; do
    n=$(q "SELECT count(*) FROM alerts WHERE kind = '$kind'")
    checks=$((checks + 1))
    ((n > 0)) || fail "no $kind alert"
    echo "alerts $kind: $n"
done
assert_eq "one low_score_trigger alert per low-score trigger" \
    "$(q "SELECT count(*) FROM triggers WHERE kind = 'low_score'")" \
    "$(q "SELECT count(*) FROM alerts WHERE kind = 'low_score_trigger'")"
assert_eq "one pairing_created alert per pairing" "$pairings" \
    "$(q "SELECT count(*) FROM alerts WHERE kind = 'pairing_created'")"
assert_eq "every alert routed to its agent's team lead" 0 \
    "$(q "SELECT count(*) FROM alerts l JOIN agents a USING (agent_id) WHERE l.team_lead_id IS DISTINCT FROM a.team_lead_id")"

# Every KPI row from score_events: the windows are whole UTC days.
recompute="
  WITH k AS (
    SELECT pairing_id AS owner, CASE subject WHEN 'mentor' THEN p.mentor_id ELSE p.mentee_id END AS agent_id,
           subject, metric, before_from, before_to, after_from, after_to, before_n, before_mean, after_n, after_mean, delta
      FROM pairing_kpis JOIN pairings p USING (pairing_id)
    UNION ALL
    SELECT trigger_id, t.agent_id, 'comparison', metric, before_from, before_to, after_from, after_to,
           before_n, before_mean, after_n, after_mean, delta
      FROM comparison_kpis JOIN triggers t USING (trigger_id)
  ), o AS (
    SELECT s.agent_id, ob.metric, s.occurred_at, ob.value
      FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) ob
  ), r AS (
    SELECT k.*, m.scale_min + (m.scale_max - m.scale_min) * avg(o.value) FILTER (WHERE o.occurred_at < k.before_to) AS b_mean,
           count(o.value) FILTER (WHERE o.occurred_at < k.before_to) AS b_n,
           m.scale_min + (m.scale_max - m.scale_min) * avg(o.value) FILTER (WHERE o.occurred_at >= k.after_from) AS a_mean,
           count(o.value) FILTER (WHERE o.occurred_at >= k.after_from) AS a_n
      FROM k JOIN metrics m USING (metric)
      LEFT JOIN o ON o.agent_id = k.agent_id AND o.metric = k.metric
                 AND ((o.occurred_at >= k.before_from AND o.occurred_at < k.before_to)
                   OR (o.occurred_at >= k.after_from AND o.occurred_at < k.after_to))
     GROUP BY k.owner, k.agent_id, k.subject, k.metric, k.before_from, k.before_to, k.after_from, k.after_to,
              k.before_n, k.before_mean, k.after_n, k.after_mean, k.delta, m.scale_min, m.scale_max
  )"
rows=$(q "SELECT count(*) FROM pairing_kpis")
echo "pairing_kpis rows: $rows, comparison_kpis rows: $(q "SELECT count(*) FROM comparison_kpis")"
assert_eq "every pairing and comparison KPI row equals its recomputation from score_events" 0 \
    "$(q "$recompute SELECT count(*) FROM r
           WHERE b_n <> before_n OR a_n <> after_n
              OR abs(coalesce(b_mean, -1) - coalesce(before_mean, -1)) > 1e-9
              OR abs(coalesce(a_mean, -1) - coalesce(after_mean, -1)) > 1e-9
              OR abs(coalesce(a_mean - b_mean, -1) - coalesce(delta, -1)) > 1e-9")"
assert_eq "the naive delta is the mean of the final mentee deltas" 0 \
    "$(q "SELECT count(*) FROM program_effect e
           WHERE e.paired_n > 0 AND abs(e.naive_delta - (
                 SELECT avg(k.delta) FROM pairing_kpis k JOIN pairings p USING (pairing_id)
                  WHERE p.behavior = e.behavior AND k.metric = e.metric AND k.subject = 'mentee' AND k.final
                    AND k.before_n > 0 AND k.after_n > 0 AND p.status <> 'cancelled')) > 1e-9")"
assert_eq "the program effect counts every final mentee and comparison row" 0 \
    "$(q "SELECT count(*) FROM program_effect e
           WHERE e.paired_n <> (SELECT count(*) FROM pairing_kpis k JOIN pairings p USING (pairing_id)
                                 WHERE p.behavior = e.behavior AND k.metric = e.metric AND k.subject = 'mentee'
                                   AND k.final AND k.before_n > 0 AND k.after_n > 0 AND p.status <> 'cancelled')
              OR e.comparison_n <> (SELECT count(*) FROM comparison_kpis c JOIN triggers t USING (trigger_id)
                                     WHERE t.behavior = e.behavior AND c.metric = e.metric AND c.final
                                       AND c.before_n > 0 AND c.after_n > 0)")"

[[ -n ${KEEP_WORK:-} ]] || psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
