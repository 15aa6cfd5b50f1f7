#!/bin/bash
# Backpressure holds for the whole consumer group, not only for the deciding
# instance. Two instances of one group, [analytics] max_waiting_observations
# = 1000; a row of the group's consumer_offsets for an evaluation partition
# nobody consumes, its newest stored event before every event of the topics,
# plays a quiet partition that holds the evaluations' watermark back. The
# decider starts first and takes the analytics lock; past the bound it
# publishes the pause (analytics_pause) and pauses its two evaluation
# partitions (the surveys' watermark is not held: their partitions are read
# on; roster partitions carry no event time and are never paused). Each is
# read until its first batch is stored: with nothing stored, a partition
# holds the watermark at "no event yet", and reading it is what moves it; so
# the decider's waiting observations settle at no more than the bound plus
# one batch per evaluation partition (500 events, times the most
# observations an event of the topics carries). The second instance then
# joins and takes half of the partitions: it must pause its evaluation
# partition too (its log, /metrics) with the topics not consumed, so that
# the decider, which reads what it stores, grows by a batch per source at
# most: one of evaluations the second instance stores before it reads the
# pause (it pauses them when they are assigned, as they have events stored),
# and one of surveys the decider reads on while a survey partition the
# second instance took over now holds that source back, until its next
# batch publishes the surveys' pause too. Once the quiet partition goes away, both must resume and consume
# everything, the pause row must be gone, and both must stop cleanly.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="bpgroup-$run_id"
generate "$prefix" --agents 100 --days 20 --start 2026-09-01 --seed 62 --partitions 2 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

schema="it_bpgroup_$run_id"
group="$prefix-run"
bound=1000
batch=500
migrate_schema "$schema"
psql_val "$schema" "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, max_event_at)
    VALUES ('$group', '$prefix.aqm', 7, 0, '2026-08-01 00:00+00')" >/dev/null

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_a=$(free_port)
port_b=$(free_port)
# Small fetches: what librdkafka fetched before a pause is still delivered.
write_config "$work/run.conf" "$schema" "$prefix" "$group" "[ingest]" "batch_max_events = $batch" \
    "[analytics]" "max_waiting_observations = $bound" \
    "[kafka]" "max.partition.fetch.bytes = 4096" "queued.min.messages = 100"

start_instance bp_a "$work/run.conf" --http "127.0.0.1:$port_a"
pid_a=$instance_pid
pid_b=
trap 'kill -9 $pid_a $pid_b 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

gauge() { curl -sf "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
a_decides() { [[ $(decider_of "$schema" "$group") == bp_a ]]; }
wait_alive=$pid_a wait_until 60 a_decides || fail "the first instance did not take the analytics lock"
a_paused() { grep -q "pausing consumption of 2 of 6 partitions" "$work/bp_a.log"; }
wait_alive=$pid_a wait_until 120 a_paused || fail "the decider did not pause its two evaluation partitions"
alone=$(gauge "$port_a" mentord_waiting_observations)
per_event=$(psql_val "$schema" "SELECT max(n) FROM (SELECT count(*) AS n FROM score_events s,
    event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o GROUP BY s.event_id) e")
batch_most=$((batch * per_event))
echo "the decider alone paused with $alone observations waiting (bound $bound, a batch $batch_most at most)"
checks=$((checks + 1))
((alone >= bound && alone <= bound + 2 * batch_most)) ||
    fail "the decider alone paused with $alone observations waiting, not within $bound + 2 x $batch_most"
checks=$((checks + 1))
[[ $(gauge "$port_a" mentord_consumption_paused) == 1 ]] || fail "/metrics does not show the pause"
checks=$((checks + 1))
(($(psql_val "$schema" "SELECT count(*) FROM analytics_pause WHERE group_id = '$group'") == 1)) ||
    fail "the decider did not publish the pause"

start_instance bp_b "$work/run.conf" --http "127.0.0.1:$port_b"
pid_b=$instance_pid
# The decider's waiting observations, at their most over every check from here on.
most_waiting=0
b_paused() {
    local waiting
    waiting=$(gauge "$port_a" mentord_waiting_observations)
    ((${waiting:-0} > most_waiting)) && most_waiting=$waiting
    [[ $(gauge "$port_b" mentord_consumption_paused) == 1 && $(gauge "$port_b" mentord_assigned_partitions) -gt 0 ]] &&
        grep -q "pausing consumption" "$work/bp_b.log"
}
wait_alive=$pid_b wait_until 120 b_paused || fail "the second instance did not pause"
stored=$(offsets_stored "$schema")
# Both paused: the decider's catch-up reads what the second instance stored up to now.
a_caught_up() {
    local waiting
    waiting=$(gauge "$port_a" mentord_waiting_observations)
    ((${waiting:-0} > most_waiting)) && most_waiting=$waiting
    (($(psql_val "$schema" "SELECT coalesce(sum(c.next_offset - coalesce(a.next_offset, 0)), 0)
            FROM consumer_offsets c LEFT JOIN analytics_offsets a USING (group_id, topic, partition)
           WHERE c.group_id = '$group' AND c.topic <> '$prefix.roster' AND c.next_offset > 0") == 0))
}
wait_alive=$pid_a wait_until 60 a_caught_up || fail "the decider did not read what the second instance stored"
allowed=$((alone + 2 * batch_most))
echo "both paused: $stored of $total messages stored; the decider had at most $most_waiting observations waiting" \
    "(allowed $allowed: $alone + a batch per source)"
checks=$((checks + 1))
((stored < total)) || fail "everything was consumed before the pause"
checks=$((checks + 1))
((most_waiting <= allowed)) || fail "the decider's waiting observations grew to $most_waiting past $allowed"
checks=$((checks + 1))
grep -q "pausing consumption of [0-9]* of [0-9]* partitions: the decider's" "$work/bp_b.log" ||
    fail "the second instance did not log the group's pause"

psql_val "$schema" "DELETE FROM consumer_offsets WHERE partition = 7" >/dev/null
resumed() {
    [[ $(gauge "$port_a" mentord_consumption_paused) == 0 && $(gauge "$port_b" mentord_consumption_paused) == 0 &&
        $(offsets_stored "$schema") == "$total" ]]
}
wait_alive=$pid_b wait_until 180 resumed || fail "consumption did not resume to the end"
for name in bp_a bp_b; do
    checks=$((checks + 1))
    grep -q "resuming consumption" "$work/$name.log" || fail "$name: the resume is not logged"
done
cleared() { (($(psql_val "$schema" "SELECT count(*) FROM analytics_pause") == 0)); }
wait_alive=$pid_a wait_until 60 cleared || fail "the pause row is still there below the bound"
checks=$((checks + 1))
(($(psql_val "$schema" "SELECT count(*) FROM agent_behavior_status") > 0)) || fail "nothing decided"
kill -TERM "$pid_a" "$pid_b"
wait "$pid_a" || fail "the decider did not stop cleanly"
wait "$pid_b" || fail "the second instance did not stop cleanly"
trap '[[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

drop_schemas "$schema"
finish
