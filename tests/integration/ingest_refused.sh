#!/bin/bash
# A message PostgreSQL refuses (here a CHECK constraint the test adds to
# score_events, refusing one agent id) among good ones: the batch holding it
# is split until it is alone, and it becomes a rejected_events row with reason
# database_refused and the server's message; every other event is stored
# once (the same set as a run without the constraint), the drain ends, and
# the offsets end where the reference run's do.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="refused-$run_id"
generate "$prefix" --agents 30 --days 7 --seed 41 2>"$work/gen.log"
cat "$work/gen.log"
# Three hand-made surveys on one partition, the poison in the middle.
ts=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)
for i in 1 2 3; do
    agent=A0001
    [[ $i == 2 ]] && agent=POISON
    printf '{"schema":"voc.v1","event_id":"refused-%s","agent_id":"%s","occurred_at":"%s","csat":4}' \
        "$i" "$agent" "$ts" >"$work/voc-$i.json"
done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.voc" A0001 "$work"/voc-{1,2,3}.json

ref="it_ref_ref_$run_id"
write_config "$work/ref.conf" "$ref" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

schema="it_ref_$run_id"
migrate_schema "$schema"
psql_val "$schema" "ALTER TABLE score_events ADD CONSTRAINT no_poison CHECK (agent_id <> 'POISON')" >/dev/null
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100"
code=0
drain "$work/run.conf" 2>"$work/run.log" || code=$?
assert_eq "the drain with the poison ends cleanly" 0 "$code"

assert_eq "rejected as database_refused" "1 refused-2" "$(psql_val "$schema" \
    "SELECT count(*) || ' ' || string_agg(convert_from(payload, 'UTF8')::json->>'event_id', ',')
       FROM rejected_events WHERE reason = 'database_refused'")"
assert_eq "its detail is the server's message" 1 "$(psql_val "$schema" \
    "SELECT count(*) FROM rejected_events WHERE reason = 'database_refused'
        AND detail LIKE '%violates check constraint \"no_poison\"%' AND detail LIKE '%23514%'")"
assert_eq "no other message rejected beyond the reference's" \
    "$(psql_val "$ref" "SELECT count(*) FROM rejected_events")" \
    "$(psql_val "$schema" "SELECT count(*) FROM rejected_events WHERE reason <> 'database_refused'")"
assert_eq "events the run lacks: only the poison" "refused-2" "$(psql_val public \
    "SELECT string_agg(event_id, ',') FROM (SELECT event_id FROM $ref.score_events
        EXCEPT SELECT event_id FROM $schema.score_events) d")"
assert_eq "events the reference lacks" 0 "$(psql_val public \
    "SELECT count(*) FROM (SELECT event_id FROM $schema.score_events EXCEPT SELECT event_id FROM $ref.score_events) d")"
assert_eq "events stored once each, with the reference's offsets" \
    "$(psql_val "$ref" "SELECT count(*) - 1 FROM score_events")" \
    "$(psql_val "$schema" "SELECT count(DISTINCT (topic, partition, kafka_offset)) FROM score_events")"
assert_eq "offsets at the end, as the reference's" "$(offsets_stored "$ref")" "$(offsets_stored "$schema")"
assert_eq "the batch was split" yes "$(grep -q 'reading them again' "$work/run.log" && echo yes || echo no)"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
