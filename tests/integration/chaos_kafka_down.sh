#!/bin/bash
# The harness's Kafka broker down for minutes (MENTORD_CHAOS_KAFKA_DOWN_S,
# 150 s by default) under a live mentord, stopped at a random moment of its
# catch-up (MENTORD_CHAOS_SEED): mentord stays up and says so, is in its group
# afterwards with every partition assigned (the same process: nothing
# restarted it), consumes the rest of the backlog and what is produced after
# the outage, and ends with exactly the ingest tables of an undisturbed drain:
# nothing lost, nothing doubled. (The analytics tables are not compared: a
# live instance decides late arrivals as they come; see kafka_restart.sh.)
# Sizes: MENTORD_CHAOS_AGENTS (200), MENTORD_CHAOS_DAYS (21).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-200}
days=${MENTORD_CHAOS_DAYS:-21}
down_s=${MENTORD_CHAOS_KAFKA_DOWN_S:-150}
prefix="chaoskafka-$run_id"
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" 2>"$work/gen1.log"
cat "$work/gen1.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen1.log")
before=$((voc + aqm + roster))
partitions=$((3 * 4)) # three topics of the harness's 4 partitions

# A reference drain of the backlog, timed to draw the moment of the outage within the catch-up.
write_config "$work/timing.conf" "it_chaoskafka_timing_$run_id" "$prefix" "$prefix-timing" \
    "[ingest]" "batch_max_events = 100"
timing_started=$(date +%s%3N)
drain "$work/timing.conf" 2>"$work/timing.log" || fail "timing drain failed"
timing_ms=$(($(date +%s%3N) - timing_started))
psql_val public "DROP SCHEMA it_chaoskafka_timing_$run_id CASCADE" >/dev/null

# A small fetch queue: mentord cannot hold the whole backlog in memory, so the
# outage leaves it something to read from the broker when it is back.
schema="it_chaoskafka_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100" \
    "[kafka]" "queued.max.messages.kbytes = 1024" "max.partition.fetch.bytes = 16384"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_instance live "$work/run.conf" --http "127.0.0.1:$port"
pid=$instance_pid
wait_alive=$pid
assigned_partitions() { curl -sf "http://127.0.0.1:$port/metrics" | awk '$1 == "mentord_assigned_partitions" { print $2 }'; }
consumed() { (($(offsets_stored "$schema") >= $1)); }
wait_until 120 consumed 1 || fail "mentord stored nothing before the outage"
random_between delay 0 $((timing_ms / 2))
sleep_ms "$delay"
# Paused while the broker stops, so the stop lands mid-stream however fast it goes.
kill -STOP "$pid"
harness_kafka_stop || fail "the broker did not stop"
stopped_at=$(grep -c '' "$work/live.log" || true)
kill -CONT "$pid"
echo "broker stopped $delay ms after the first commit, at $(offsets_stored "$schema") of $before stored; down for $down_s s"
saw_outage() { tail -n +"$((stopped_at + 1))" "$work/live.log" | grep -q '^<[0-4]>kafka'; }
wait_until 60 saw_outage || fail "mentord did not log the broker's absence"
# The outage's length is this test's input, not a wait for a condition.
sleep "$down_s"
stored_down=$(offsets_stored "$schema")
assert_eq "mentord alive after $down_s s without a broker" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
assert_eq "the outage left part of the backlog in the broker" yes "$( ((stored_down < before)) && echo yes || echo no)"
harness_kafka_start || fail "the broker did not start again"

wait_until 300 consumed "$before" || fail "the backlog was not consumed after the outage"
all_assigned() { [[ $(assigned_partitions) == "$partitions" ]]; }
wait_until 120 all_assigned || fail "mentord is not in its group with every partition after the outage"
assert_eq "partitions assigned after the outage" "$partitions" "$(assigned_partitions)"
# Another seed: the same one would make the same event ids, repeats of the first part's.
generate "$prefix" --agents "$agents" --days 7 --start 2026-12-01 --seed "$((chaos_seed + 1))" --no-roster \
    2>"$work/gen2.log"
cat "$work/gen2.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen2.log")
total=$((before + voc + aqm + roster))
wait_until 120 consumed "$total" || fail "what was produced after the outage was not consumed"
unset wait_alive
kill -TERM "$pid"
wait_instance code "$pid" live 60
assert_eq "mentord stopped cleanly after the outage (exit code)" 0 "$code"
# The end of the drain: the events still behind the watermark are decided.
drain "$work/run.conf" 2>>"$work/live.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"

ref_schema="it_chaoskafka_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "ingest tables equal an undisturbed drain's" "$(ingest_digest "$ref_schema")" "$(ingest_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
