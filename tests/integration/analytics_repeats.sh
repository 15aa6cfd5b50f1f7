#!/bin/bash
# Events stored before arrive again in a later batch (a producer resending
# after a timeout). mentord feeds a batch's observations to the detector
# before PostgreSQL has said which events are new, so such a batch leaves
# the analytics' memory ahead of the tables: mentord stores the batch,
# rebuilds the memory from the tables, and ends with the same tables as a
# run that never saw the resends.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="repeats-$run_id"
generate "$prefix" --agents 120 --days 14 --seed 21 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref="it_repeats_ref_$run_id"
write_config "$work/ref.conf" "$ref" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 500"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref")"

# The first 300 AQM messages again, with their keys (so on their partitions),
# after everything else: their batch comes well after the originals'.
kcat -C -b "$MENTORD_KAFKA" -t "$prefix.aqm" -o beginning -c 300 -e -q -f '%k\t%s\n' >"$work/resend.tsv"
resent=$(wc -l <"$work/resend.tsv")
assert_eq "messages to resend" "300" "$resent"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/resend.tsv" || fail "resending"

schema="it_repeats_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 500"
drain "$work/run.conf" 2>"$work/run.log" || fail "drain with the resends failed"
assert_eq "consumed everything, resends included" "$((total + resent))" "$(offsets_stored "$schema")"
assert_eq "no resend stored twice" "$((voc + aqm))" "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
loads=$(grep -c "analytics state read from the tables" "$work/run.log" || true)
checks=$((checks + 1))
((loads >= 2)) || fail "the memory was not rebuilt after a batch of repeats (loads: $loads)"

# Offsets count the resent messages; every other table is the reference's.
expected=$(table_digest_without_offsets "$ref")
got=$(table_digest_without_offsets "$schema")
echo "$got"
assert_eq "tables with the resends equal the reference's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
