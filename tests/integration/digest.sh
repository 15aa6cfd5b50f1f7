# shellcheck shell=bash
# Sourced by the integration tests (lib.sh) and bench/ingest.sh: a digest of
# every table's deterministic content, to compare two runs. Needs MENTORD_PG.

# table_digest SCHEMA: one line per table with a digest of its deterministic
# columns (wall-clock columns such as received_at and updated_at left out;
# the analytics tables hold event times only, so all of their columns count).
# status_past's seq is left out: the order in which states were kept
# depends on how far each source was decided when. analytics_pause is left
# out: whether a run ends over the bound, and where the pause stood, depends
# on the timing of batches, not on what was read.
table_digest() {
    # UNION ALL has no order of its own: sorted, so that two digests compare line by line.
    psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "SET search_path = $1" -c "
      SELECT 'score_events ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', event_id, kind, agent_id, interaction_id, channel, occurred_at, csat, nps,
                         overall, scores, fatal, topic, partition, kafka_offset, program), '|' ORDER BY event_id), ''))
        FROM score_events
      UNION ALL
      SELECT 'agent_daily ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', agent_id, metric, day, n, sum, sumsq, program), '|'
                         ORDER BY agent_id, metric, day, program), ''))
        FROM agent_daily
      UNION ALL
      SELECT 'agents ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', agent_id, name, team_id, team_lead_id, site, language, active, roster_known, programs),
               '|' ORDER BY agent_id), ''))
        FROM agents
      UNION ALL
      SELECT 'rejected_events ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', topic, partition, kafka_offset, key, payload, reason, detail),
               '|' ORDER BY topic, partition, kafka_offset), ''))
        FROM rejected_events
      UNION ALL
      SELECT 'metrics ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', metric, source, scale_min, scale_max), '|' ORDER BY metric), ''))
        FROM metrics
      UNION ALL
      SELECT 'consumer_offsets ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', topic, partition, next_offset, max_event_at), '|' ORDER BY topic, partition), ''))
        FROM consumer_offsets
      UNION ALL
      SELECT 'analytics_state ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', program, closed_at, closed_voc_at, closed_aqm_at, last_round_at, event_time_at),
               '|' ORDER BY program), ''))
        FROM analytics_state
      UNION ALL
      SELECT 'alerts ' || count(*) || ' ' || md5(coalesce(string_agg(
               concat_ws(',', alert_id, kind, team_lead_id, agent_id, occurred_at, payload, program),
               '|' ORDER BY alert_id), ''))
        FROM alerts
      UNION ALL
      SELECT 'status_past ' || count(*) || ' ' || md5(coalesce(string_agg(r, '|' ORDER BY r), ''))
        FROM (SELECT concat_ws(',', program, decided_at, agent_id, behavior, status, reason, n, norm_mean, norm_shrunk,
                               norm_ci_low, norm_ci_high, pop_mean, prior_k, since, updated_at, week, weekly_low) AS r
                FROM status_past) p
      $(for t in behavior_priors agent_behavior_status triggers pairings pairing_kpis comparison_kpis program_effect; do
            echo "UNION ALL SELECT '$t ' || count(*) || ' ' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $t x"
        done)" | sort
}
