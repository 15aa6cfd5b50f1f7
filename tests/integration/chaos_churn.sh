#!/bin/bash
# Up to three instances of one group join and leave through a drain: every
# 0.2 to 1 s (a random delay) one of three slots changes, an instance starts
# in an empty slot or the one in it stops, by turns with SIGTERM (a clean
# leave) and kill -9 (a crash). The first four changes are a join, a stop, a
# join and a stop of the other kind, so that every run has each before the
# drain ends (on a fast machine it takes seconds); then slots are drawn too.
# Delays, slots and which stop comes first are drawn from MENTORD_CHAOS_SEED.
# Once everything is stored the churn stops, the instances still running end
# the drain, and the tables must equal those of one uninterrupted instance.
# Sizes: MENTORD_CHAOS_AGENTS (1000), MENTORD_CHAOS_DAYS (42); at most
# MENTORD_CHAOS_STEPS (60) changes. chaos_churn_late runs it with
# MENTORD_CHAOS_LATE="72 48 21600 3600": surveys arrive up to 72 hours and
# evaluations up to 48 hours after their interactions, and mentord allows
# surveys 6 hours of lateness and evaluations 1 hour (decision time,
# docs/analytics.md).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-1000}
days=${MENTORD_CHAOS_DAYS:-42}
steps=${MENTORD_CHAOS_STEPS:-60}
prefix="chaoschurn-$run_id"
mapfile -t arrival < <(arrival_options)
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" --duplicate-share 0.01 "${arrival[@]}" \
    2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref_schema="it_chaoschurn_ref_$run_id"
mapfile -t late_config < <(lateness_config)
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200" "${late_config[@]}"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

schema="it_chaoschurn_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 200" \
    "[kafka]" "session.timeout.ms = 3000" "heartbeat.interval.ms = 500" "${late_config[@]}"
declare -A pid=()
joins=0 terms=0 kills=0 finished=0

# reap SLOT: forget the slot's instance if it ended by itself (its part of the drain done); it must have exited 0.
reap() {
    local code=0
    [[ -n ${pid[$1]:-} ]] && ! kill -0 "${pid[$1]}" 2>/dev/null || return 0
    wait "${pid[$1]}" || code=$?
    assert_eq "slot $1 ended by itself, exit code" 0 "$code"
    finished=$((finished + 1))
    unset "pid[$1]"
}

start_instance slot1 "$work/run.conf" --exit-at-end --http off
pid[1]=$instance_pid
joins=1
step=0
random_between first_stop 0 1 # whether the first stop is a kill -9 or a SIGTERM
opening=(2 1 3 2)              # the first changes' slots: join, stop, join, stop
drained() { (($(offsets_stored "$schema") >= total)); }
while ((step < steps)) && ! drained; do
    step=$((step + 1))
    random_between delay 200 1000
    sleep_ms "$delay"
    if ((step <= ${#opening[@]})); then
        slot=${opening[step - 1]}
    else
        random_between slot 1 3
    fi
    reap "$slot"
    stored=$(offsets_stored "$schema")
    if [[ -z ${pid[$slot]:-} ]]; then
        start_instance "slot$slot" "$work/run.conf" --exit-at-end --http off
        pid[$slot]=$instance_pid
        joins=$((joins + 1))
        change="slot $slot joins"
    else
        # It may have ended by itself since reap looked (its part of the drain done): then kill finds nothing.
        if (((terms + kills) % 2 == first_stop)); then
            kill -9 "${pid[$slot]}" 2>/dev/null || true
            wait "${pid[$slot]}" 2>/dev/null || true
            kills=$((kills + 1))
            change="slot $slot killed (-9)"
        else
            kill -TERM "${pid[$slot]}" 2>/dev/null || true
            wait_instance code "${pid[$slot]}" "slot$slot" 60
            assert_eq "slot $slot stopped by SIGTERM, exit code" 0 "$code"
            terms=$((terms + 1))
            change="slot $slot leaves (SIGTERM)"
        fi
        unset "pid[$slot]"
    fi
    echo "step $step after $delay ms: $change at $stored of $total stored; running: ${!pid[*]}"
done
echo "churn: $joins joins, $terms clean leaves, $kills kills, $finished ended by themselves, in $step steps"
assert_eq "the churn ran through the drain (a join, a clean leave and a kill before the end)" yes \
    "$( ((joins > 1 && terms > 0 && kills > 0)) && echo yes || echo no)"

# The instances still running end the drain (the decider after its last round); if none is, one more does.
for slot in "${!pid[@]}"; do
    wait_instance code "${pid[$slot]}" "slot$slot" 480
    assert_eq "slot $slot finished the drain, exit code" 0 "$code"
done
drain "$work/run.conf" 2>>"$work/closing.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal one instance's" "$(table_digest "$ref_schema")" "$(table_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
