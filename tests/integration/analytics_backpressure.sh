#!/bin/bash
# Waiting observations are bounded by pausing consumption, not by growing.
# Past the bound, an instance pauses its partitions of each source whose
# newest stored event is after the one holding that source's watermark
# back, and reads on that one (only reading it moves the watermark: pausing
# it could never end). First a drain with [analytics]
# max_waiting_observations = 1000 where only this instance's own partitions
# hold the watermarks: evaluations are allowed two days of lateness, so two
# days of them wait, and of the two evaluation partitions the one ahead must
# pause while the one behind is read; the drain must resume and finish.
# Then a live run where a partition of
# "another instance" holds the watermark back: a row of the group's
# consumer_offsets for a partition this instance does not consume, its
# newest stored event before every event of the topics (what a quiet
# partition of another instance leaves). Past the bound the run must pause
# (log, /metrics) with the topics not consumed; once that partition goes
# away, decisions free the observations and the run must resume and
# consume everything.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="backpressure-$run_id"
generate "$prefix" --agents 100 --days 20 --start 2026-09-01 --seed 61 --partitions 2 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

own="it_backpressure_own_$run_id"
write_config "$work/own.conf" "$own" "$prefix" "$prefix-own" "[ingest]" "batch_max_events = 500" \
    "[analytics]" "max_waiting_observations = 1000" "allowed_lateness_aqm_seconds = 172800"
drain "$work/own.conf" 2>"$work/own.log" || fail "drain with only its own partitions failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$own")"
checks=$((checks + 1))
grep -q "pausing consumption" "$work/own.log" || fail "the drain did not pause the partition ahead"
checks=$((checks + 1))
[[ $(grep -E "(pausing|resuming) consumption" "$work/own.log" | tail -n 1) == *"resuming consumption"* ]] ||
    fail "the drain's last pause did not end"

schema="it_backpressure_$run_id"
group="$prefix-run"
migrate_schema "$schema"
psql_val "$schema" "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, max_event_at)
    VALUES ('$group', '$prefix.aqm', 7, 0, '2026-08-01 00:00+00')" >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Small fetches: what librdkafka fetched before the pause is still delivered.
write_config "$work/run.conf" "$schema" "$prefix" "$group" "[ingest]" "batch_max_events = 500" \
    "[analytics]" "max_waiting_observations = 1000" \
    "[kafka]" "max.partition.fetch.bytes = 4096" "queued.min.messages = 100"
"$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" 2>"$work/run.log" &
pid=$!
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

gauge() { curl -sf "http://127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"; }
paused() { [[ $(gauge mentord_consumption_paused) == 1 ]]; }
wait_alive=$pid wait_until 120 paused || fail "consumption was not paused"
waiting=$(gauge mentord_waiting_observations)
stored=$(offsets_stored "$schema")
echo "paused with $waiting observations waiting, $stored of $total messages stored"
checks=$((checks + 1))
((waiting >= 1000)) || fail "paused below the bound: $waiting observations waiting"
checks=$((checks + 1))
((stored < total)) || fail "everything was consumed before the pause"
checks=$((checks + 1))
grep -q "pausing consumption" "$work/run.log" || fail "the pause is not logged"

psql_val "$schema" "DELETE FROM consumer_offsets WHERE partition = 7" >/dev/null
resumed() { [[ $(gauge mentord_consumption_paused) == 0 && $(offsets_stored "$schema") == "$total" ]]; }
wait_alive=$pid wait_until 120 resumed || fail "consumption did not resume to the end"
checks=$((checks + 1))
grep -q "resuming consumption" "$work/run.log" || fail "the resume is not logged"
checks=$((checks + 1))
(($(psql_val "$schema" "SELECT count(*) FROM agent_behavior_status") > 0)) || fail "nothing decided"
kill -TERM "$pid"
wait "$pid" || fail "mentord did not stop cleanly"
trap 'rm -rf "$work"' EXIT

psql_val public "DROP SCHEMA $own CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
