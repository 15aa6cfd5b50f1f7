#!/bin/bash
# kill -9 mentord several times during a replay, restarting it each time: the
# tables must end exactly as those of an uninterrupted run of the same topics.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="crash-$run_id"
generate "$prefix" --agents 150 --days 21 --seed 11 --duplicate-share 0.01 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))
# A few rejects too, so that rejected_events is compared as well.
for i in 1 2 3; do printf '{"schema":"aqm.v1","event_id":"bad-%s"' "$i" >"$work/bad-$i.json"; done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$work"/bad-*.json
total=$((total + 3))

# Reference: one uninterrupted drain.
write_config "$work/ref.conf" "it_crash_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "it_crash_ref_$run_id")"

# Crashed: small batches so every kill lands between or inside transactions.
schema="it_crash_$run_id"
# A killed member leaves no goodbye: a short session lets the restart rejoin at once.
write_config "$work/crash.conf" "$schema" "$prefix" "$prefix-crash" "[ingest]" "batch_max_events = 200" \
    "[kafka]" "session.timeout.ms = 3000" "heartbeat.interval.ms = 500"
kills=0
for cut in 15 35 55 75; do
    "$MENTORD_BIN" --config "$work/crash.conf" --exit-at-end 2>>"$work/crash.log" &
    pid=$!
    target=$((total * cut / 100))
    progress_past() { (($(offsets_stored "$schema") >= target)); }
    if wait_until 120 progress_past && kill -0 "$pid" 2>/dev/null; then
        kills=$((kills + 1))
    fi
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "killed mentord at $(offsets_stored "$schema") of $total stored"
done
assert_eq "kill -9 landed mid-replay" "4" "$kills"
drain "$work/crash.conf" 2>>"$work/crash.log" || fail "final drain failed"
assert_eq "crashed run consumed everything" "$total" "$(offsets_stored "$schema")"

ref=$(table_digest "it_crash_ref_$run_id")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables after 4 kills equal the uninterrupted run's" "$ref" "$got"

psql_val public "DROP SCHEMA it_crash_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
