#!/bin/bash
# Upgrade (issue #20): a database written by the previous release migrates,
# and a drain continues on it. The fixture tests/upgrade/previous-release.sql.gz
# (tests/upgrade/make-fixture.sh) is the first part of a generated center
# drained by that release; its header says which commit made it and with which
# generator options. The test restores it into a schema of its own, produces
# the same first part to topics of its own (the same messages at the same
# offsets) and the rest of the center after it, points the stored topic names
# and consumer group at them, and lets this build's mentord drain the rest.
# It requires every migration of this build applied, the previous release's
# rows unchanged (and in program 'default'), everything decided, and the
# aggregates and status counts equal to their recomputation in SQL. It never
# compares with a fresh run's decisions: those may differ from the previous
# release's by design.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
fixture="$root/tests/upgrade/previous-release.sql.gz"

# The fixture's "-- fixture KEY: VALUE" header lines.
header=$(gzip -dc "$fixture" | sed -n 's/^-- fixture //p')
fixture_value() { sed -n "s/^$1: //p" <<<"$header"; }
old_schema=$(fixture_value schema)
old_prefix=$(fixture_value prefix)
old_group=$(fixture_value group)
read -ra part1 <<<"$(fixture_value part1)"
read -ra rest <<<"$(fixture_value rest)"
rest_start=$(sed -n 's/.*--start \([0-9-]*\).*/\1/p' <<<"${rest[*]}")
echo "fixture: $(fixture_value commit); first part: ${part1[*]}; rest: ${rest[*]}"
if [[ -z $old_schema || -z $old_prefix || -z $old_group || ${#part1[@]} == 0 || -z $rest_start ]]; then
    fail "the fixture's header lacks schema, prefix, group, part1 or rest"
    finish || exit 1
fi

prefix="upgrade-$run_id"
group="upgrade-$run_id"
schema="it_upgrade_$run_id"
# An untouched copy of the fixture, to compare the upgraded schema with.
before="it_upgrade_before_$run_id"
for target in "$schema" "$before"; do
    gzip -dc "$fixture" | sed "s/\b$old_schema\b/$target/g" |
        psql "$MENTORD_PG" -Xq -v ON_ERROR_STOP=1 >"$work/restore-$target.log" 2>&1 ||
        { fail "restoring the fixture into $target: $(tail -n 3 "$work/restore-$target.log")"; finish || exit 1; }
done

# Every topic and consumer group name stored, in any table, moved to this run's.
topic_is_old="left(topic, length('$old_prefix') + 1) = '$old_prefix.'"
mapfile -t named < <(psql_val "$schema" "SELECT c.table_name || ' ' || c.column_name
    FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
   WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
     AND c.column_name IN ('topic', 'group_id') ORDER BY 1")
left_over=0
for table_column in "${named[@]}"; do
    read -r table column <<<"$table_column"
    if [[ $column == topic ]]; then
        update="topic = '$prefix' || substr(topic, length('$old_prefix') + 1) WHERE $topic_is_old"
        foreign="left(topic, length('$prefix') + 1) <> '$prefix.'"
    else
        update="group_id = '$group' WHERE group_id = '$old_group'"
        foreign="group_id <> '$group'"
    fi
    echo "rewrote $(psql_val "$schema" "WITH u AS (UPDATE $table SET $update RETURNING 1) SELECT count(*) FROM u") rows of $table.$column"
    left_over=$((left_over + $(psql_val "$schema" "SELECT count(*) FROM $table WHERE $foreign")))
done
assert_eq "rows naming other topics or groups than this run's" 0 "$left_over"
assert_eq "score events moved to this run's topics" "$(psql_val "$before" "SELECT count(*) FROM score_events")" \
    "$(psql_val "$schema" "SELECT count(*) FROM score_events WHERE left(topic, length('$prefix') + 1) = '$prefix.'")"

# The first part again: the same messages at the offsets the fixture stored.
generate "$prefix" "${part1[@]}" 2>"$work/gen1.log"
cat "$work/gen1.log"
read -r voc1 aqm1 roster1 _ < <(generated_counts "$work/gen1.log")
assert_eq "the first part as produced for the fixture" "$(fixture_value "part1 produced")" \
    "voc=$voc1 aqm=$aqm1 roster=$roster1"
for kind in voc aqm roster; do
    kcat -C -b "$MENTORD_KAFKA" -t "$prefix.$kind" -o beginning -e -q -f '%t %p %o %s\n'
done >"$work/part1.txt"
assert_eq "messages per partition = the fixture's stored next offsets" \
    "$(psql_val "$schema" "SELECT topic || ' ' || partition || ' ' || next_offset FROM consumer_offsets
                            WHERE next_offset > 0" | sort | paste -sd ,)" \
    "$(awk '{ print $1, $2 }' "$work/part1.txt" | sort | uniq -c | awk '{ print $2, $3, $1 }' | sort | paste -sd ,)"
assert_eq "the event at each offset = the fixture's stored event" \
    "$(psql_val "$schema" "SELECT topic || ' ' || partition || ' ' || kafka_offset || ' ' || event_id
                            FROM score_events" | sort | md5sum)" \
    "$(sed -n 's/^\([^ ]* [0-9]* [0-9]*\) .*"event_id":"\([^"]*\)".*/\1 \2/p' "$work/part1.txt" |
        grep -v "^$prefix\.roster " | sort | md5sum)"

generate "$prefix" "${rest[@]}" 2>"$work/gen2.log"
cat "$work/gen2.log"
read -r voc2 aqm2 _ _ < <(generated_counts "$work/gen2.log")

# This build's mentord on the previous release's database: a drain that does
# not end in 300 s (one that retries a failing statement for ever) is reported
# and killed.
write_config "$work/run.conf" "$schema" "$prefix" "$group"
start_instance upgraded "$work/run.conf" --exit-at-end --http off
wait_instance code "$instance_pid" upgraded 300
assert_eq "the upgraded drain's exit code" 0 "$code"
assert_eq "error lines in its log" 0 "$(grep -c '^<[0-3]>' "$work/upgraded.log" || true)"
grep '^<[0-3]>' "$work/upgraded.log" | head -n 5 >&2 || true

# Migrations: every one compiled into this build (lib/sql) is recorded, and
# this start applied those the previous release did not have.
compiled=$(for sql in "$root"/lib/sql/*.sql; do
    name=$(basename "$sql" .sql)
    echo "$((10#${name%%_*})) $name"
done | paste -sd ,)
assert_eq "schema_migrations lists every migration of this build" "$compiled" \
    "$(psql_val "$schema" "SELECT version || ' ' || name FROM schema_migrations ORDER BY version" | paste -sd ,)"
previous=$(psql_val "$before" "SELECT max(version) FROM schema_migrations")
assert_eq "migrations applied at start (those after the previous release's $previous)" \
    "$(tr , '\n' <<<"$compiled" | awk -v p="$previous" '$1 > p' | wc -l)" \
    "$(sed -n "s/.*PostgreSQL schema $schema ready (\([0-9]*\) migrations\{0,1\} applied).*/\1/p" "$work/upgraded.log")"

# The previous release's rows are all there, unchanged in what they recorded.
read -r old_voc old_aqm _ <<<"$(fixture_value "part1 produced" | tr -c '0-9\n' ' ')"
assert_eq "the previous release's score events" "$((old_voc + old_aqm))" \
    "$(psql_val "$before" "SELECT count(*) FROM score_events")"
changed() { # changed TABLE KEY COLUMNS: previous-release rows (by KEY) missing or with other COLUMNS
    psql_val "$schema" "SELECT count(*) FROM $before.$1 b LEFT JOIN $1 a USING ($2)
                         WHERE ($(sed 's/[a-z_]\+/a.&/g' <<<"$3")) IS DISTINCT FROM ($(sed 's/[a-z_]\+/b.&/g' <<<"$3"))"
}
assert_eq "score events of the previous release changed or missing" 0 \
    "$(changed score_events event_id "kind, agent_id, interaction_id, channel, occurred_at, decide_at, csat, nps,
        overall, scores, fatal, partition, kafka_offset")"
assert_eq "agents of the previous release changed or missing" 0 \
    "$(changed agents agent_id "name, team_id, team_lead_id, site, language, active, roster_known, roster_occurred_at")"
assert_eq "triggers of the previous release changed or missing" 0 \
    "$(changed triggers trigger_id "agent_id, behavior, kind, fired_at, event_id, score, n, holdout, holdout_until")"
assert_eq "pairings of the previous release changed or missing" 0 \
    "$(changed pairings pairing_id "trigger_id, mentee_id, mentor_id, behavior, started_at, ends_at, mentee_score,
        mentor_score, mentor_ci_low, cost, n_feasible, alternatives")"
assert_eq "alerts of the previous release changed or missing" 0 \
    "$(changed alerts alert_id "kind, team_lead_id, agent_id, occurred_at")"
echo "the previous release's rows: $(psql_val "$before" "SELECT (SELECT count(*) FROM triggers) || ' triggers, '
    || (SELECT count(*) FROM pairings) || ' pairings, ' || (SELECT count(*) FROM behavior_priors) || ' priors, '
    || (SELECT count(*) FROM pairing_kpis) || ' pairing_kpis, ' || (SELECT count(*) FROM comparison_kpis)
    || ' comparison_kpis'")"
# Days before the continuation: the same priors and daily aggregates, no more, no fewer.
same_days() { # same_days TABLE COLUMNS: rows of days before the rest's first that differ, both ways
    local rows="SELECT $2 FROM %s WHERE day < DATE '$rest_start'"
    # shellcheck disable=SC2059 # the format is the query
    echo "$(psql_val "$schema" "SELECT count(*) FROM (($(printf "$rows" "$before.$1")) EXCEPT ($(printf "$rows" "$1"))) x")" \
        "$(psql_val "$schema" "SELECT count(*) FROM (($(printf "$rows" "$1")) EXCEPT ($(printf "$rows" "$before.$1"))) x")"
}
assert_eq "behavior_priors of the previous release's days that differ (both ways)" "0 0" \
    "$(same_days behavior_priors "metric, day, n_agents, n_obs, pop_mean, sigma2_within, tau2_between, k, k_estimated")"
assert_eq "agent_daily of the previous release's days that differ (both ways)" "0 0" \
    "$(same_days agent_daily "agent_id, metric, day, n, sum, sumsq")"

# Programs (migrations 013 and 014): the previous release's rows are program 'default'.
not_default() { # not_default TABLE WHERE: its rows of the previous release not in program 'default'
    psql_val "$schema" "SELECT count(*) FROM $1 WHERE ($2) AND program IS DISTINCT FROM 'default'"
}
for check in \
    "score_events|event_id IN (SELECT event_id FROM $before.score_events)" \
    "agent_daily_parts|day < DATE '$rest_start'" \
    "behavior_priors|day < DATE '$rest_start'" \
    "agent_behavior_status|(agent_id, behavior) IN (SELECT agent_id, behavior FROM $before.agent_behavior_status)" \
    "triggers|trigger_id IN (SELECT trigger_id FROM $before.triggers)" \
    "pairings|pairing_id IN (SELECT pairing_id FROM $before.pairings)" \
    "pairing_kpis|pairing_id IN (SELECT pairing_id FROM $before.pairings)" \
    "comparison_kpis|trigger_id IN (SELECT trigger_id FROM $before.comparison_kpis)" \
    "program_effect|(behavior, metric) IN (SELECT behavior, metric FROM $before.program_effect)"; do
    assert_eq "${check%%|*} rows of the previous release not in program 'default'" 0 \
        "$(not_default "${check%%|*}" "${check#*|}")"
done

# The drain went on: everything of both parts stored and decided.
assert_eq "score events of both parts" "$((voc1 + aqm1 + voc2 + aqm2))" \
    "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
assert_eq "every message consumed" "$((voc1 + aqm1 + roster1 + voc2 + aqm2))" "$(offsets_stored "$schema")"
assert_eq "analytics_state: everything decided" "$group infinity" \
    "$(psql_val "$schema" "SELECT group_id || ' ' || closed_at FROM analytics_state")"
after_first_day="DATE '$rest_start' + 1"
for what in "triggers fired_at" "pairings started_at" "agent_behavior_status updated_at"; do
    read -r table column <<<"$what"
    n=$(psql_val "$schema" "SELECT count(*) FROM $table WHERE $column >= $after_first_day")
    echo "$table with $column after the continuation's first day: $n"
    checks=$((checks + 1))
    ((n > 0)) || fail "no $table with $column after the continuation's first day"
done

# The numbers: agent_daily equals its recomputation from score_events (both
# ways), and each status row's n the count of its observations decided by its
# updated_at in its 28-day window (docs/analytics.md, "Recomputing the numbers
# with SQL"; the window ends on updated_at's UTC day).
assert_eq "agent_daily rows unlike their recomputation (both ways)" "0 0" "$(psql_val "$schema" "
    CREATE TEMP VIEW recomputed AS
      SELECT e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
             count(*) AS n, sum(o.value) AS sum, sum(o.value * o.value) AS sumsq
        FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) o
       GROUP BY 1, 2, 3;
    SELECT (SELECT count(*) FROM (TABLE recomputed EXCEPT SELECT agent_id, metric, day, n, sum, sumsq
                                                         FROM agent_daily) x)
           || ' ' || (SELECT count(*) FROM (SELECT agent_id, metric, day, n, sum, sumsq FROM agent_daily
                                            EXCEPT TABLE recomputed) x)")"
read -r statuses unlike < <(psql_val "$schema" "
    SELECT count(*), count(*) FILTER (WHERE b.n <> coalesce(r.n, 0))
      FROM agent_behavior_status b
      LEFT JOIN (SELECT k.agent_id, k.behavior, count(*) AS n
                   FROM agent_behavior_status k
                   JOIN score_events s ON s.agent_id = k.agent_id AND s.decide_at <= k.updated_at
                                      AND s.occurred_at >= date_trunc('day', k.updated_at, 'UTC') - interval '27 days',
                        event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o
                  WHERE o.metric = k.behavior
                  GROUP BY 1, 2) r USING (agent_id, behavior)" | tr '|' ' ')
echo "agent_behavior_status rows: $statuses"
checks=$((checks + 1))
((statuses > 0)) || fail "no agent_behavior_status rows"
assert_eq "status rows whose n differs from their window's observations" 0 "$unlike"

drop_schemas "$schema" "$before"
finish
