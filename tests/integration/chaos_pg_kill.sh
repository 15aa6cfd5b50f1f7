#!/bin/bash
# PostgreSQL, made durable (fsync, synchronous_commit and full_page_writes on),
# killed with SIGKILL (the postmaster and every backend at once) at random
# moments of a drain with the analytics on, and started again (crash
# recovery): mentord waits, reconnects, and ends with exactly the tables of an
# uninterrupted drain. A commit whose answer the crash swallowed is either in
# the tables or not; mentord must read which from PostgreSQL, not assume.
# Moments drawn from MENTORD_CHAOS_SEED; sizes MENTORD_CHAOS_AGENTS (200),
# MENTORD_CHAOS_DAYS (21), MENTORD_CHAOS_PG_KILLS (3).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"
chaos_seed

# The harness is shared with the tests that run after this one: whatever
# happens here, it ends up running, with its usual settings.
restore_pg() {
    [[ -f $MENTORD_HARNESS_DIR/pg/data/postmaster.pid ]] || harness_pg_start
    harness_pg_fsync off
}
trap 'restore_pg; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

agents=${MENTORD_CHAOS_AGENTS:-200}
days=${MENTORD_CHAOS_DAYS:-21}
kills_wanted=${MENTORD_CHAOS_PG_KILLS:-3}
prefix="chaospg-$run_id"
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" --duplicate-share 0.01 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref_schema="it_chaospg_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200"
ref_started=$(date +%s%3N)
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
ref_ms=$(($(date +%s%3N) - ref_started))
echo "reference drain: $total messages in $ref_ms ms"

harness_pg_fsync on || fail "PostgreSQL could not be made durable"
assert_eq "fsync, synchronous_commit, full_page_writes" "on on on" \
    "$(psql_val public "SELECT string_agg(setting, ' ' ORDER BY name) FROM pg_settings
                         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")"

schema="it_chaospg_$run_id"
log=$work/run.log
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 200"
start_instance run "$work/run.conf" --exit-at-end --http off
pid=$instance_pid
wait_alive=$pid
# The kills spread over the first half of the drain (delays after each recovery's first commit).
max_delay_ms=$((ref_ms / 2 / kills_wanted))
kills=0
for ((i = 1; i <= kills_wanted; i++)); do
    stored_before=$(offsets_stored "$schema")
    progressed() { (($(offsets_stored "$schema") > stored_before)); }
    wait_until 120 progressed || fail "kill $i: mentord stored nothing since the last recovery"
    random_between delay 0 "$max_delay_ms"
    sleep_ms "$delay"
    stored=$(offsets_stored "$schema")
    lines_before=$(grep -c '' "$log" || true)
    harness_pg_kill || fail "kill $i: PostgreSQL did not die"
    ((stored < total)) && kills=$((kills + 1))
    # Down for a random while; mentord notices (its next statement fails) or is still waiting for a fetch.
    random_between down_ms 0 2000
    sleep_ms "$down_ms"
    harness_pg_start || fail "kill $i: PostgreSQL did not recover"
    echo "kill $i: $delay ms after a commit, $stored of $total stored, down $down_ms ms"
    reconnected() { tail -n +"$((lines_before + 1))" "$log" | grep -q 'reconnected to PostgreSQL'; }
    wait_until 120 reconnected || fail "kill $i: mentord did not reconnect"
done
assert_eq "PostgreSQL killed mid-drain every time" "$kills_wanted" "$kills"
assert_eq "durable after the crashes" "on" "$(psql_val public "SHOW fsync")"
unset wait_alive
wait_instance code "$pid" run 480
assert_eq "mentord finished the drain (exit code)" 0 "$code"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
ref=$(table_digest "$ref_schema")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables after $kills_wanted PostgreSQL crashes equal the uninterrupted run's" "$ref" "$got"

drop_schemas "$ref_schema" "$schema"
finish
