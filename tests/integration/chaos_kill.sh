#!/bin/bash
# kill -9 at random moments (20 by default) of a long drain with the analytics
# on, restarting mentord each time: every table must end exactly as an
# uninterrupted drain's. The moments are random delays drawn from the seed
# (MENTORD_CHAOS_SEED): mostly once the restarted instance has stored a
# random share of what is left (mid-batch, mid-commit, mid-round), some a
# delay after its start, before its first commit (while it rebuilds the
# analytics' memory or joins the group). Each restart stores at most 1/(kills left + 1) of the rest, so every
# kill lands in the drain on a fast machine as on a slow one.
# chaos_kill_late runs it with MENTORD_CHAOS_LATE="72 48": surveys arrive up
# to 72 hours and evaluations up to 48 hours after their interactions,
# interleaved in arrival order, and one evaluation of the first day arrives
# after the last (decision time, docs/analytics.md).
# Sizes: MENTORD_CHAOS_AGENTS (600), MENTORD_CHAOS_DAYS (49), MENTORD_CHAOS_KILLS (20);
# the default drain takes about 20 s on the project's 2-core machine.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-600}
days=${MENTORD_CHAOS_DAYS:-49}
kills_wanted=${MENTORD_CHAOS_KILLS:-20}
prefix="chaoskill-$run_id"
mapfile -t arrival < <(arrival_options)
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" --duplicate-share 0.01 "${arrival[@]}" \
    2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))
# A few rejects too, so that rejected_events is compared as well.
for i in 1 2 3; do printf '{"schema":"aqm.v1","event_id":"bad-%s"' "$i" >"$work/bad-$i.json"; done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$work"/bad-*.json
total=$((total + 3))
if [[ -n ${MENTORD_CHAOS_LATE:-} ]]; then
    # A backfilled evaluation (re-sent or disputed): dated on the first day, it arrives after the last.
    printf '{"schema":"aqm.v1","event_id":"backfill-1","agent_id":"A0001","occurred_at":"2026-10-01T10:00:00Z","overall":35,"behaviors":{"empathy":20,"greeting":30}}' \
        >"$work/backfill.json"
    "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$work/backfill.json"
    total=$((total + 1))
fi

# Reference: one uninterrupted drain, timed to scale the kill delays to this machine.
ref_schema="it_chaoskill_ref_$run_id"
mapfile -t late_config < <(lateness_config)
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200" "${late_config[@]}"
ref_started=$(date +%s%3N)
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
ref_ms=$(($(date +%s%3N) - ref_started))
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref_schema")"
echo "reference drain: $total messages in $ref_ms ms"

# Small batches, so that kills land inside transactions as well as between them;
# a killed member leaves no goodbye: a short session lets the restart rejoin soon.
schema="it_chaoskill_$run_id"
write_config "$work/crash.conf" "$schema" "$prefix" "$prefix-crash" "[ingest]" "batch_max_events = 200" \
    "[kafka]" "session.timeout.ms = 3000" "heartbeat.interval.ms = 500" "${late_config[@]}"
kills=0
log=$work/crash.log
for ((i = 1; i <= kills_wanted; i++)); do
    stored_before=$(offsets_stored "$schema")
    start_instance crash "$work/crash.conf" --exit-at-end --http off
    pid=$instance_pid
    random_between from_start 0 3
    if ((from_start == 0)); then
        random_between delay 0 3000
        deadline=$(($(date +%s%3N) + delay))
        early() { (($(offsets_stored "$schema") > stored_before || $(date +%s%3N) >= deadline)); }
        wait_alive=$pid wait_until 120 early || true
        moment="$delay ms after its start (or at its first commit)"
    else
        share=$(((total - stored_before) / (kills_wanted - i + 2)))
        random_between target $((stored_before + 1)) $((stored_before + share))
        progressed() { (($(offsets_stored "$schema") >= target)); }
        wait_alive=$pid wait_until 120 progressed || fail "kill $i: the restarted instance did not store up to $target"
        moment="once $target were stored"
    fi
    stored=$(offsets_stored "$schema")
    if kill -9 "$pid" 2>/dev/null && ((stored < total)); then
        kills=$((kills + 1))
    fi
    wait "$pid" 2>/dev/null || true
    echo "kill $i: $moment, $stored of $total stored"
done
assert_eq "kill -9 landed mid-drain every time" "$kills_wanted" "$kills"
drain "$work/crash.conf" 2>>"$log" || fail "final drain failed"
assert_eq "crashed run consumed everything" "$total" "$(offsets_stored "$schema")"

ref=$(table_digest "$ref_schema")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables after $kills_wanted kills equal the uninterrupted run's" "$ref" "$got"

drop_schemas "$ref_schema" "$schema"
finish
