#!/bin/bash
# Roster updates carry no event time, so decisions wait until the roster is
# stored to its end, whichever instance of the group reads it. Another group
# member (kcat, which stores nothing in PostgreSQL) holds half the roster's
# partitions: mentord stores every score event and its own roster partitions
# and decides nothing, since the roster it would decide with is incomplete.
# Once that member leaves, mentord takes its partitions, stores them and
# decides; drained to the end, its tables equal a single instance's.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="rosterheld-$run_id"
generate "$prefix" --agents 120 --days 14 --seed 23 --partitions 4 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref_schema="it_rosterheld_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

schema="it_rosterheld_$run_id"
group="$prefix-run"
write_config "$work/run.conf" "$schema" "$prefix" "$group" "[kafka]" "partition.assignment.strategy = range" \
    "session.timeout.ms = 6000"
# The other member: subscribed to the roster topic only, so the range assignor
# gives it half of the roster's partitions and mentord all the others.
kcat -b "$MENTORD_KAFKA" -G "$group" -X partition.assignment.strategy=range "$prefix.roster" \
    >/dev/null 2>"$work/kcat.log" &
kcat_pid=$!
trap 'kill "$kcat_pid" "${run_pid:-}" 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
kcat_assigned() { grep -q 'assigned:' "$work/kcat.log"; }
wait_alive=$kcat_pid wait_until 60 kcat_assigned || fail "kcat was not assigned the roster"

start_instance run "$work/run.conf" --http off
run_pid=$instance_pid
score_stored() {
    (($(psql_val "$schema" "SELECT coalesce(sum(greatest(next_offset, 0)), 0) FROM consumer_offsets
                            WHERE topic <> '$prefix.roster'" 2>/dev/null || echo 0) == voc + aqm))
}
wait_alive=$run_pid wait_until 120 score_stored || fail "mentord did not store every score event"
roster_stored=$(psql_val "$schema" "SELECT count(*) FROM agents WHERE roster_known")
echo "score events stored; the roster's agents stored: $roster_stored of $roster"
checks=$((checks + 1))
((roster_stored < roster)) || fail "mentord stored the whole roster: kcat held none of it"
assert_eq "nothing decided while another member holds part of the roster" "0 0" \
    "$(psql_val "$schema" "SELECT (SELECT count(*) FROM agent_behavior_status) || ' ' || (SELECT count(*) FROM triggers)")"

kill "$kcat_pid"
wait "$kcat_pid" 2>/dev/null || true
decided() { (($(psql_val "$schema" "SELECT count(*) FROM agent_behavior_status") > 0)); }
wait_alive=$run_pid wait_until 120 decided || fail "nothing decided once the roster was stored"
kill -TERM "$run_pid"
wait "$run_pid" || fail "mentord did not stop cleanly"
drain "$work/run.conf" 2>>"$work/run.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal a single instance's" "$(table_digest "$ref_schema")" "$(table_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
