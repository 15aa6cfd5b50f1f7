#!/bin/bash
# mentord evaluates a batch's observations while PostgreSQL still stores its
# events, up to the batch's first pairing round. A drain in batches of 50
# events, most of them evaluated that way, ends with the tables of a drain in
# one batch, evaluated in its transaction; so does one whose stream brings a
# survey item never seen before in its middle (its scale is read first).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="early-$run_id"
generate "$prefix" --agents 40 --days 4 --start 2026-10-01 --seed 23 --partitions 1 2>"$work/gen1.log"
cat "$work/gen1.log"
for i in $(seq -w 1 12); do
    printf 'A00%s\t{"schema":"voc.v1","event_id":"v-new-item-%s","agent_id":"A00%s","occurred_at":"2026-10-04T23:59:%s.000Z","csat":4,"items":{"new_item":%d}}\n' \
        "$i" "$i" "$i" "$i" $((10#$i % 5 + 1))
done >"$work/new_item.tsv"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.voc" -K $'\t' <"$work/new_item.tsv" || fail "producing the new item's surveys"
generate "$prefix" --agents 40 --days 4 --start 2026-10-05 --seed 24 --partitions 1 --no-roster 2>"$work/gen2.log"
cat "$work/gen2.log"
read -r voc1 aqm1 roster _ < <(generated_counts "$work/gen1.log")
read -r voc2 aqm2 _ _ < <(generated_counts "$work/gen2.log")
total=$((voc1 + aqm1 + roster + 12 + voc2 + aqm2))

ref="it_early_ref_$run_id"
write_config "$work/ref.conf" "$ref" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100000"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref")"

schema="it_early_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 50" \
    "[kafka]" "max.partition.fetch.bytes = 4096"
drain "$work/run.conf" 2>"$work/run.log" || fail "drain in small batches failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "the new item's status rows, on its native scale" "12 1.00 5.00" \
    "$(psql_val "$schema" "SELECT count(*) || ' ' || min(mean)::numeric(4,2) || ' ' || max(mean)::numeric(4,2)
        FROM agent_behavior_status WHERE behavior = 'new_item'")"
assert_eq "no batch failed" "0" "$(grep -c 'batch not stored' "$work/run.log" || true)"

expected=$(table_digest "$ref")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables equal the one-batch drain's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
