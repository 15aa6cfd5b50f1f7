#!/bin/bash
# Every score event gets one program, resolved when mentord stages it
# (docs/events.md, Programs): its own program field; else [ingest] program;
# else its agent's only program in the roster as stored when it arrives (one
# instance learning the roster live, then another reading it at connect);
# else "default" (two programs, none, an agent the roster does not know). A
# mapped program field, a bad one rejected. agents.programs as the roster
# says, and agent_daily per program equal to a recomputation from
# score_events, with the same totals per agent as without programs.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="programs-$run_id"
schema="it_prog_$run_id"
ts=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)
n=0

# produce KIND AGENT JSON: one message, keyed by agent, to PREFIX.KIND.
produce() {
    n=$((n + 1))
    printf '%s' "$3" >"$work/msg-$n.json"
    "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.$1" "$2" "$work/msg-$n.json" || fail "producing to $prefix.$1"
}
# aqm EVENT_ID AGENT [EXTRA JSON members]: an evaluation.
aqm() {
    produce aqm "$2" "{\"schema\":\"aqm.v1\",\"event_id\":\"$1\",\"agent_id\":\"$2\",\"occurred_at\":\"$ts\",
        \"overall\":80,\"behaviors\":{\"empathy\":40}${3:+,$3}}"
}
# voc EVENT_ID AGENT [EXTRA JSON members]: a survey.
voc() {
    produce voc "$2" "{\"schema\":\"voc.v1\",\"event_id\":\"$1\",\"agent_id\":\"$2\",\"occurred_at\":\"$ts\",
        \"csat\":4,\"items\":{\"empathy\":3}${3:+,$3}}"
}
roster() { produce roster "$1" "{\"schema\":\"agent.v1\",\"agent_id\":\"$1\",\"language\":\"en\"${2:+,$2}}"; }
count() { psql_val "$schema" "$1" 2>/dev/null || echo none; }
equals() { [[ $(count "$1") == "$2" ]]; }

# Each topic exists before mentord subscribes to it.
roster F1
aqm f-aqm F1
voc f-voc F1

write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run"
start_instance run "$work/run.conf" --http off
wait_alive=$instance_pid
wait_until 120 equals "SELECT count(*) FROM score_events" 2 || fail "the first events were not stored"

# The roster first: one agent with one program, one with two.
roster R1 '"programs":["acme"]'
roster R2 '"programs":["acme","tech","acme"]'
wait_until 60 equals "SELECT count(*) FROM agents WHERE programs IS NOT NULL" 2 || fail "the roster was not stored"
aqm e1 R1                                   # R1's only program
voc e2 R1 '"program":"tech"'                # its own, before the roster's
aqm e3 R2                                   # two programs: default
aqm e4 R2 '"program":"tech"'
voc e5 U1                                   # not in the roster: default
voc e6 R1 '"program":"x","meta":{"program":"mapped"}'
aqm bad R1 '"program":""'                   # rejected
wait_until 60 equals "SELECT count(*) FROM score_events" 8 || fail "the score events were not stored"
wait_until 60 equals "SELECT count(*) FROM rejected_events" 1 || fail "the bad program was not rejected"
# The roster changes: R2 down to one program, from its next event on.
roster R2 '"programs":["tech"]'
wait_until 60 equals "SELECT programs FROM agents WHERE agent_id = 'R2'" "{tech}" || fail "R2's roster not updated"
aqm e7 R2
wait_until 60 equals "SELECT count(*) FROM score_events" 9 || fail "e7 was not stored"
kill -TERM "$instance_pid"
wait_instance code "$instance_pid" run 60
assert_eq "the live instance stopped cleanly" 0 "$code"
unset wait_alive

# A new instance reads the roster at connect.
aqm e8 R1
aqm e9 R2
drain "$work/run.conf" 2>"$work/drain.log" || fail "the second drain failed"

assert_eq "each event's program" \
    "e1=acme e2=tech e3=default e4=tech e5=default e6=x e7=tech e8=acme e9=tech f-aqm=default f-voc=default" \
    "$(psql_val "$schema" "SELECT string_agg(event_id || '=' || program, ' ' ORDER BY event_id) FROM score_events")"
assert_eq "the bad program rejected as bad_id" 'bad_id|program: "" is empty' \
    "$(psql_val "$schema" "SELECT reason || '|' || detail FROM rejected_events")"
assert_eq "agents' programs as the roster last said, duplicates dropped" "F1= R1={acme} R2={tech} U1=" \
    "$(psql_val "$schema" "SELECT string_agg(agent_id || '=' || coalesce(programs::text, ''), ' ' ORDER BY agent_id)
        FROM agents")"

# agent_daily: per program, as recomputed from score_events; per agent, the same totals.
recompute="SELECT e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                  count(*) AS n, sum(o.value) AS sum, sum(o.value * o.value) AS sumsq, e.program
             FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) o
            GROUP BY 1, 2, 3, 7"
stored="SELECT agent_id, metric, day, n, sum, sumsq, program FROM agent_daily"
assert_eq "agent_daily per program equals score_events'" "0 0" \
    "$(psql_val "$schema" "SELECT (SELECT count(*) FROM ($recompute EXCEPT $stored) a) || ' ' ||
                                  (SELECT count(*) FROM ($stored EXCEPT $recompute) b)")"
assert_eq "R1's empathy by program" "acme:2 tech:1 x:1" \
    "$(psql_val "$schema" "SELECT string_agg(program || ':' || n, ' ' ORDER BY program) FROM agent_daily
        WHERE agent_id = 'R1' AND metric = 'empathy'")"
assert_eq "summed over programs, an agent's day as before" "0" \
    "$(psql_val "$schema" "SELECT count(*) FROM (
        SELECT agent_id, metric, day, sum(n), sum(sum) FROM agent_daily GROUP BY 1, 2, 3
        EXCEPT SELECT e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(o.value)
                 FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) o
                GROUP BY 1, 2, 3) d")"
assert_eq "compaction keeps programs apart" "$(psql_val "$schema" "$stored ORDER BY 1, 2, 3, 7")" \
    "$(psql_val "$schema" "SELECT compact_agent_daily('-infinity', 'infinity')" >/dev/null
       psql_val "$schema" "$stored ORDER BY 1, 2, 3, 7")"

# [ingest] program, and a mapped program field, in another schema reading the same topics.
configured="it_progcfg_$run_id"
write_config "$work/cfg.conf" "$configured" "$prefix" "$prefix-cfg" "[ingest]" "program = site-wide" \
    "[map.voc]" "program = /meta/program"
drain "$work/cfg.conf" 2>"$work/cfg.log" || fail "the drain with [ingest] program failed"
assert_eq "[ingest] program before the roster, after the event's own (mapped)" \
    "e1=site-wide e2=site-wide e3=site-wide e4=tech e5=site-wide e6=mapped e7=site-wide e8=site-wide e9=site-wide bad=" \
    "$(psql_val "$configured" "SELECT string_agg(e.id || '=' || coalesce(s.program, ''), ' ' ORDER BY e.ord)
        FROM unnest('{e1,e2,e3,e4,e5,e6,e7,e8,e9,bad}'::text[]) WITH ORDINALITY AS e(id, ord)
        LEFT JOIN score_events s ON s.event_id = e.id")"

psql_val public "DROP SCHEMA $schema CASCADE; DROP SCHEMA $configured CASCADE" >/dev/null
finish
