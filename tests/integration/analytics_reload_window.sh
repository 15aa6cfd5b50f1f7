#!/bin/bash
# A reload that makes the status window longer must not leave the analytics
# deciding on history cut short (issue 20). mentord runs live with a 7-day
# status window and 7-day KPI windows, so its memory keeps little more than
# a week per agent and behavior; SIGHUP then asks for 28 days, and a week
# more arrives. Every status row decided after the reload must count the 28
# days, as the recomputation from score_events does.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="reloadwin-$run_id"
schema="it_reloadwin_$run_id"
generate "$prefix" --agents 30 --days 21 --start 2026-09-01 --seed 41 2>"$work/gen1.log"
read -r voc1 aqm1 roster _ < <(generated_counts "$work/gen1.log")
first=$((voc1 + aqm1 + roster))

short=("[detect]" "window_days = 7" "[kpi]" "before_days = 7" "after_days = 7")
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "${short[@]}"
start_instance reloadwin "$work/run.conf" --http off
pid=$instance_pid
trap 'kill -9 $pid 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

stored() { (($(offsets_stored "$schema") >= $1)); }
wait_alive=$pid wait_until 120 stored "$first" || fail "the first three weeks were not stored"

write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "[detect]" "window_days = 28" \
    "[kpi]" "before_days = 7" "after_days = 7"
kill -HUP "$pid"
wait_alive=$pid wait_until 30 grep -q 'configuration reloaded' "$work/reloadwin.log" || fail "the reload was not logged"

generate "$prefix" --agents 30 --days 7 --start 2026-09-22 --seed 42 --no-roster 2>"$work/gen2.log"
read -r voc2 aqm2 _ < <(generated_counts "$work/gen2.log")
wait_alive=$pid wait_until 120 stored $((first + voc2 + aqm2)) || fail "the fourth week was not stored"
decided() { [[ $(psql_val "$schema" "SELECT coalesce(closed_at >= '2026-09-28', false) FROM analytics_state") == t ]]; }
wait_alive=$pid wait_until 60 decided || fail "the fourth week was not decided"
kill -TERM "$pid"
wait "$pid" || fail "mentord did not stop cleanly"
pid=

# Rows decided after the reload, and those whose n is not the count of the
# 28 UTC days ending with updated_at's day, up to updated_at.
after="b.updated_at >= '2026-09-22'"
rows=$(psql_val "$schema" "SELECT count(*) FROM agent_behavior_status b WHERE $after")
checks=$((checks + 1))
((rows > 0)) || fail "no status row was decided after the reload"
assert_eq "status rows decided after the reload that count fewer or more than 28 days ($rows rows)" 0 \
    "$(psql_val "$schema" "SET TimeZone = 'UTC';
       SELECT count(*) FROM agent_behavior_status b
        WHERE $after AND b.n <> (
              SELECT count(*) FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o
               WHERE s.program = b.program AND s.agent_id = b.agent_id AND o.metric = b.behavior
                 AND s.occurred_at <= b.updated_at
                 AND s.occurred_at >= date_trunc('day', b.updated_at) - interval '27 days')")"
drop_schemas "$schema"
finish
