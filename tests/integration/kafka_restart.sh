#!/bin/bash
# The harness's real Kafka broker stopped and started again in the middle of a
# drain (kafka_outage.sh does the same faults on librdkafka's mock cluster):
# mentord keeps running while the broker is gone, says so, rejoins its group
# when it is back, and ends with exactly the tables of an undisturbed run.
# Run against every broker version the suite supports (scripts/test).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"

prefix="kafkarestart-$run_id"
generate "$prefix" --agents 150 --days 21 --seed 17 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

write_config "$work/ref.conf" "it_kr_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

# Small fetches and batches, so that the drain is still under way when the
# broker goes.
schema="it_kr_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100" \
    "[kafka]" "max.partition.fetch.bytes = 4096"
"$MENTORD_BIN" --config "$work/run.conf" --exit-at-end --http off 2>"$work/run.log" &
pid=$!
wait_alive=$pid
progress_past() { (($(offsets_stored "$schema") >= total / 5)); }
wait_until 120 progress_past || fail "no progress before the broker stopped"
harness_kafka_stop || fail "the broker did not stop"
stopped_at=$(grep -c . "$work/run.log" || true)
stored_when_stopped=$(offsets_stored "$schema")
# librdkafka reports the lost connection; mentord logs it and keeps running.
saw_outage() { tail -n +"$stopped_at" "$work/run.log" | grep -q '^<[0-4]>kafka'; }
wait_until 60 saw_outage || fail "mentord did not log the broker's absence"
assert_eq "mentord alive while the broker is down" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
assert_eq "the drain was not over when the broker stopped" "yes" \
    "$( ((stored_when_stopped < total)) && echo yes || echo no)"
harness_kafka_start || fail "the broker did not start again"
unset wait_alive
wait "$pid" || fail "mentord exited non-zero after the broker came back"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal an undisturbed run's" "$(table_digest "it_kr_ref_$run_id")" "$(table_digest "$schema")"

psql_val public "DROP SCHEMA it_kr_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
