#!/bin/bash
# The harness's real Kafka broker stopped and started again under a running
# mentord (kafka_outage.sh does finer faults on librdkafka's mock cluster):
# mentord keeps running while the broker is gone and says so, rejoins its
# group when it is back, consumes what is produced after the restart, and
# ends with exactly the ingest tables of an undisturbed drain of the same
# topics: nothing lost, nothing doubled. (The analytics tables are not
# compared: events that arrive after a live instance has caught up are decided
# as they come, not in the event-time order of a drain; see docs/analytics.md,
# "Event time".) Run against every broker version the suite supports.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"

prefix="kafkarestart-$run_id"
# Two weeks before the outage; one week after it (other seed, later days, the
# same roster).
generate "$prefix" --agents 150 --days 14 --seed 17 2>"$work/gen1.log"
cat "$work/gen1.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen1.log")
before=$((voc + aqm + roster))

schema="it_kr_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100"
"$MENTORD_BIN" --config "$work/run.conf" --http off 2>"$work/run.log" &
pid=$!
wait_alive=$pid
consumed() { (($(offsets_stored "$schema") >= $1)); }
wait_until 120 consumed "$before" || fail "the first two weeks were not consumed"

harness_kafka_stop || fail "the broker did not stop"
stopped_at=$(grep -c . "$work/run.log" || true)
# librdkafka reports the lost connection; mentord logs it and keeps running.
saw_outage() { tail -n +"$stopped_at" "$work/run.log" | grep -q '^<[0-4]>kafka'; }
wait_until 60 saw_outage || fail "mentord did not log the broker's absence"
assert_eq "mentord alive while the broker is down" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
harness_kafka_start || fail "the broker did not start again"

generate "$prefix" --agents 150 --days 7 --start 2026-10-15 --seed 18 --no-roster 2>"$work/gen2.log"
cat "$work/gen2.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen2.log")
total=$((before + voc + aqm + roster))
wait_until 120 consumed "$total" || fail "what was produced after the restart was not consumed"
unset wait_alive
kill -TERM "$pid"
wait "$pid" || fail "mentord did not stop cleanly after the outage"
# The end of the drain: the events still behind the watermark are decided.
drain "$work/run.conf" 2>>"$work/run.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"

write_config "$work/ref.conf" "it_kr_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "ingest tables equal an undisturbed drain's" "$(ingest_digest "it_kr_ref_$run_id")" "$(ingest_digest "$schema")"

psql_val public "DROP SCHEMA it_kr_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
