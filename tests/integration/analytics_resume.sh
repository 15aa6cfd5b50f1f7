#!/bin/bash
# A drain that starts where another ended (every event decided, the
# watermark at infinity) and whose first batch brings new events together
# with resends of stored ones. Such a batch is stored without its analytics
# and mentord rebuilds its memory from the tables: the new events, stored but
# never read by the analytics, must still be decided. The tables end as those
# of a run that drained the same new events without the resends.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="resume-$run_id"
generate "$prefix" --agents 60 --days 10 --start 2026-09-01 --seed 31 --partitions 1 2>"$work/gen1.log"
cat "$work/gen1.log"
read -r voc1 aqm1 roster _ < <(generated_counts "$work/gen1.log")

ref="it_resume_ref_$run_id"
schema="it_resume_$run_id"
write_config "$work/ref.conf" "$ref" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100000"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100000"
drain "$work/ref.conf" 2>"$work/ref1.log" || fail "reference's first drain failed"
drain "$work/run.conf" 2>"$work/run1.log" || fail "first drain failed"
assert_eq "first drain decided everything" "infinity" "$(psql_val "$schema" "SELECT closed_at FROM analytics_state")"

# Three more days of AQM events, copied from topics of their own, then the
# reference drains them.
generate "$prefix-new" --agents 60 --days 3 --start 2026-09-11 --seed 32 --partitions 1 --no-roster 2>"$work/gen2.log"
cat "$work/gen2.log"
read -r _ aqm2 _ _ < <(generated_counts "$work/gen2.log")
kcat -C -b "$MENTORD_KAFKA" -t "$prefix-new.aqm" -o beginning -e -q -f '%k\t%s\n' |
    kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' || fail "copying the new days"
total=$((voc1 + aqm1 + roster + aqm2))
drain "$work/ref.conf" 2>"$work/ref2.log" || fail "reference's second drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref")"

# The first 300 AQM messages again, after the new days: on one partition,
# the run's one batch holds new events and resends alike.
kcat -C -b "$MENTORD_KAFKA" -t "$prefix.aqm" -o beginning -c 300 -e -q -f '%k\t%s\n' >"$work/resend.tsv"
resent=$(wc -l <"$work/resend.tsv")
assert_eq "messages to resend" "300" "$resent"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/resend.tsv" || fail "resending"

drain "$work/run.conf" 2>"$work/run2.log" || fail "drain of the new days with the resends failed"
assert_eq "batches of the drain with the resends" "1" \
    "$(sed -n 's/.* batches \([0-9]*\),.*/\1/p' "$work/run2.log")"
assert_eq "consumed everything, resends included" "$((total + resent))" "$(offsets_stored "$schema")"
loads=$(grep -c "analytics state read from the tables" "$work/run2.log" || true)
checks=$((checks + 1))
((loads >= 2)) || fail "the memory was not rebuilt after the batch with resends (loads: $loads)"
new_days="SELECT count(*) FROM agent_behavior_status WHERE updated_at >= '2026-09-11'"
decided=$(psql_val "$ref" "$new_days")
checks=$((checks + 1))
((decided > 0)) || fail "the reference decided nothing of the new days"
assert_eq "statuses decided in the new days" "$decided" "$(psql_val "$schema" "$new_days")"

without_offsets() { table_digest "$1" | grep -v '^consumer_offsets '; }
expected=$(without_offsets "$ref")
got=$(without_offsets "$schema")
echo "$got"
assert_eq "tables with the resends equal the reference's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
