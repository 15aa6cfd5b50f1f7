#!/bin/bash
# A live run against a replay, on late data (issue #19): a center whose
# surveys arrive up to 72 hours and whose evaluations up to 48 hours after
# their interactions is produced day by day while mentord runs live (the
# generator's closed loop waits for mentord to consume each day and reads
# its pairings back, so mentord has read every partition to its end many
# times, between days, before the late events of a day arrive). Then the
# live run is stopped and a drain decides what the watermarks still held.
# A replay of the same topics into a new schema must end with every table
# identical: decisions depend on the events, never on how far the other
# partitions had been read when they came (docs/analytics.md). Surveys are
# allowed 72 hours of lateness, evaluations one hour.
# Sizes: MENTORD_LIVE_AGENTS (200), MENTORD_LIVE_DAYS (28).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

agents=${MENTORD_LIVE_AGENTS:-200}
days=${MENTORD_LIVE_DAYS:-28}
prefix="livelate-$run_id"
schema="it_livelate_$run_id"
ref_schema="it_livelate_ref_$run_id"
lateness=("[analytics]" "allowed_lateness_voc_seconds = 259200" "allowed_lateness_aqm_seconds = 3600")
write_config "$work/live.conf" "$schema" "$prefix" "$prefix-live" "${lateness[@]}"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "${lateness[@]}"

# The roster first, then mentord live, then the scored days in arrival order.
generate "$prefix" --agents "$agents" --days "$days" --seed 23 --roster-only 2>"$work/gen-roster.log" ||
    fail "producing the roster failed"
start_instance live "$work/live.conf" --http off
live_pid=$instance_pid
generate "$prefix" --agents "$agents" --days "$days" --seed 23 --no-roster --duplicate-share 0.01 \
    --voc-delay-hours 72 --aqm-delay-hours 48 \
    --closed-loop-pg "$MENTORD_PG" --closed-loop-schema "$schema" --closed-loop-group "$prefix-live" \
    2>"$work/gen.log" || fail "the closed-loop generator failed"
cat "$work/gen.log"
read -r voc aqm _ < <(generated_counts "$work/gen.log")
read -r _ _ roster _ < <(generated_counts "$work/gen-roster.log")
total=$((voc + aqm + roster))
stored_all() { (($(offsets_stored "$schema") == total)); }
wait_alive=$live_pid wait_until 120 stored_all || fail "the live run did not store every message"
live_decided=$(psql_val "$schema" "SELECT count(*) FROM triggers")
kill -TERM "$live_pid"
wait_instance code "$live_pid" live 60
assert_eq "the live run stopped cleanly" "0" "$code"
((live_decided > 0)) || fail "the live run decided nothing while it ran"
echo "live run: $total messages, $live_decided triggers while live"
drain "$work/live.conf" 2>"$work/live-drain.log" || fail "the drain after the live run failed"

drain "$work/ref.conf" 2>"$work/ref.log" || fail "the replay failed"
assert_eq "the replay consumed everything" "$total" "$(offsets_stored "$ref_schema")"
ref=$(table_digest "$ref_schema")
got=$(table_digest "$schema")
echo "$got"
assert_eq "the live run's tables equal the replay's" "$ref" "$got"
assert_eq "pairings were made" "t" "$(psql_val "$ref_schema" "SELECT count(*) > 0 FROM pairings")"

drop_schemas "$schema" "$ref_schema"
finish
