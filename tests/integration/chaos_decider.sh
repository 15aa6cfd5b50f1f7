#!/bin/bash
# Two instances drain together; the one deciding for the group (holding its
# analytics lock, lib/decider.c) is killed with kill -9 at a random moment
# (MENTORD_CHAOS_SEED) of the drain: the other must take the lock, rebuild the
# analytics' memory, consume the rest alone, and (after the drain's last
# round) end with the tables of one uninterrupted instance. Sizes: MENTORD_CHAOS_AGENTS (300), MENTORD_CHAOS_DAYS (28).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-300}
days=${MENTORD_CHAOS_DAYS:-28}
prefix="chaosdecider-$run_id"
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" --duplicate-share 0.01 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref_schema="it_chaosdecider_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200"
ref_started=$(date +%s%3N)
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
ref_ms=$(($(date +%s%3N) - ref_started))
echo "reference drain: $total messages in $ref_ms ms"

schema="it_chaosdecider_$run_id"
group="$prefix-run"
write_config "$work/run.conf" "$schema" "$prefix" "$group" "[ingest]" "batch_max_events = 200" \
    "[kafka]" "session.timeout.ms = 3000" "heartbeat.interval.ms = 500"
declare -A pid
start_instance first "$work/run.conf" --exit-at-end --http off
pid[first]=$instance_pid
started() { (($(offsets_stored "$schema") > 0)); }
wait_until 60 started || fail "the first instance stored nothing"
# Live (no --exit-at-end): an instance that does not decide leaves a drain once
# its own partitions are stored, and would not wait for the killed one's.
start_instance second "$work/run.conf" --http off
pid[second]=$instance_pid
both_assigned() { grep -q '^<6>assigned ' "$work/second.log"; }
wait_alive=${pid[second]} wait_until 60 both_assigned || fail "the second instance was not assigned partitions"

decider=$(decider_of "$schema" "$group")
assert_eq "the first instance decides (it took the lock first)" first "$decider"
# At a random moment of the rest of the drain (the two instances together go
# about as fast as one: the analytics of one decider bound them).
random_between delay 0 $((ref_ms / 3))
sleep_ms "$delay"
stored=$(offsets_stored "$schema")
kill -9 "${pid[first]}"
wait "${pid[first]}" 2>/dev/null || true
echo "killed the decider $delay ms after both were assigned, at $stored of $total stored"
assert_eq "the decider was killed mid-drain" yes "$( ((stored < total)) && echo yes || echo no)"

took_over() { [[ $(decider_of "$schema" "$group") == second ]]; }
wait_alive=${pid[second]} wait_until 120 took_over || fail "the second instance did not take the analytics lock"
assert_eq "the analytics lock holder after the kill" second "$(decider_of "$schema" "$group")"
consumed_all() { (($(offsets_stored "$schema") >= total)); }
wait_alive=${pid[second]} wait_until 300 consumed_all || fail "the second instance did not consume the rest"
kill -TERM "${pid[second]}"
wait_instance code "${pid[second]}" second 60
assert_eq "the second instance stopped cleanly (exit code)" 0 "$code"
# The end of the drain (its last round), as after any live run.
drain "$work/run.conf" 2>>"$work/closing.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal one uninterrupted instance's" "$(table_digest "$ref_schema")" "$(table_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
