#!/bin/bash
# Events stored before arrive again in later batches (a producer resending
# after a timeout): old ones, whose time the watermark passed long ago, and
# the newest ones, which may still wait for it. mentord feeds a batch's
# observations to the detector before PostgreSQL has said which events are
# new, and takes the repeats' back once it knows: it ends with the same
# tables as a run that never saw the resends, without reading its memory
# from the tables again (the state is read once, at start).
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
# after everything else: their batch comes well after the originals'. Then
# the last 100 VOC messages of each partition, just after their originals.
kcat -C -b "$MENTORD_KAFKA" -t "$prefix.aqm" -o beginning -c 300 -e -q -f '%k\t%s\n' >"$work/resend.tsv"
kcat -C -b "$MENTORD_KAFKA" -t "$prefix.voc" -o -100 -e -q -f '%k\t%s\n' >"$work/resend_voc.tsv"
resent_voc=$(wc -l <"$work/resend_voc.tsv")
resent=$(($(wc -l <"$work/resend.tsv") + resent_voc))
checks=$((checks + 1))
((resent_voc >= 100)) || fail "too few VOC messages to resend: $resent_voc"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/resend.tsv" || fail "resending"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.voc" -K $'\t' <"$work/resend_voc.tsv" || fail "resending"

schema="it_repeats_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 500"
drain "$work/run.conf" 2>"$work/run.log" || fail "drain with the resends failed"
assert_eq "consumed everything, resends included" "$((total + resent))" "$(offsets_stored "$schema")"
assert_eq "no resend stored twice" "$((voc + aqm))" "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
loads=$(grep -c "analytics state read from the tables" "$work/run.log" || true)
checks=$((checks + 1))
((loads == 1)) || fail "the memory was read from the tables again after batches of repeats (loads: $loads)"

# Offsets count the resent messages; every other table is the reference's.
expected=$(table_digest_without_offsets "$ref")
got=$(table_digest_without_offsets "$schema")
echo "$got"
assert_eq "tables with the resends equal the reference's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
