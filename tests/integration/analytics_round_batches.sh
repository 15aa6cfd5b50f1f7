#!/bin/bash
# Long catch-up work is done in pieces: one event dated a year before the
# others comes first, so the first batches owe about 400 daily pairing
# rounds. With [analytics] max_rounds_per_call = 1 each batch or tick runs
# one round and the loop goes back to polling Kafka in between; the tables
# must be those of a drain that runs them all at once (a bound of 100,000:
# the whole drain is one batch of 10,000).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="rounds-$run_id"
# The old event first on its partition (the topic is created with it), then the generated center.
printf 'A0001\t{"schema":"aqm.v1","event_id":"q-old-1","agent_id":"A0001","occurred_at":"2025-09-01T10:00:00.000Z","overall":50,"behaviors":{"hold_etiquette":0}}\n' |
    kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' || fail "producing the old event"
generate "$prefix" --agents 80 --days 20 --start 2026-09-01 --seed 51 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster + 1))

ref="it_rounds_ref_$run_id"
write_config "$work/ref.conf" "$ref" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 10000" \
    "[analytics]" "max_rounds_per_call = 100000"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref")"

schema="it_rounds_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 10000" \
    "[analytics]" "max_rounds_per_call = 1"
drain "$work/run.conf" 2>"$work/run.log" || fail "drain with one round per call failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"

assert_eq "the old event stored" "1" "$(psql_val "$schema" "SELECT count(*) FROM score_events WHERE event_id = 'q-old-1'")"
# The daemon says when rounds are left for the next pass: only the bounded drain had any.
checks=$((checks + 1))
grep -q "pairing rounds left for the next pass" "$work/run.log" || fail "the drain never left rounds for later"
checks=$((checks + 1))
! grep -q "pairing rounds left for the next pass" "$work/ref.log" || fail "the reference left rounds for later"
assert_eq "the last round" "$(psql_val "$ref" "SELECT last_round_at FROM analytics_state")" \
    "$(psql_val "$schema" "SELECT last_round_at FROM analytics_state")"
checks=$((checks + 1))
(($(psql_val "$schema" "SELECT count(*) FROM pairings") > 0)) || fail "no pairing: the comparison says little"

expected=$(table_digest "$ref")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables with one round per call equal the reference's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
