#!/bin/bash
# Drains that start where another ended (every event decided, the watermark
# at infinity). First, new events dated before the end arrive together with
# resends of stored events: mentord takes the resends' observations back
# once PostgreSQL says they were stored before, without reading its memory
# from the tables again, and decides the new events; every table but the
# offsets must equal a reference run's that never saw the resends. Then three more days arrive
# and are drained in batches of 50: they must be decided in event-time order
# as in the reference's drain in one batch, not one batch at a time.
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

# New AQM events dated in the middle of the stored days, one per mentee of a
# pairing that began after that day (so inside its KPI before windows, not
# final yet) and low in hold_etiquette, and one on the next day (so that
# rounds run and write those windows); then the reference drains them.
mapfile -t mentees < <(psql_val "$ref" "SELECT DISTINCT mentee_id FROM pairings
    WHERE started_at > '2026-09-06' ORDER BY 1 LIMIT 20")
checks=$((checks + 1))
((${#mentees[@]} > 0)) || fail "no pairing began after the late events' day"
for i in "${!mentees[@]}"; do
    printf '%s\t{"schema":"aqm.v1","event_id":"q-late-%02d","agent_id":"%s","occurred_at":"2026-09-05T12:00:%02d.000Z","overall":41.5,"behaviors":{"greeting":60,"empathy":55,"hold_etiquette":10}}\n' \
        "${mentees[$i]}" "$((i + 1))" "${mentees[$i]}" "$((i + 1))"
done >"$work/late.tsv"
printf '%s\t{"schema":"aqm.v1","event_id":"q-next-01","agent_id":"%s","occurred_at":"2026-09-11T12:00:00.000Z","overall":80,"behaviors":{"greeting":80}}\n' \
    "${mentees[0]}" "${mentees[0]}" >>"$work/late.tsv"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/late.tsv" || fail "producing the late events"
drain "$work/ref.conf" 2>"$work/ref2.log" || fail "reference's drain of the late events failed"
# A key's updated_at is its last decision's time: a late event's decision time.
late="SELECT count(*) FROM agent_behavior_status s JOIN score_events e
    ON e.agent_id = s.agent_id AND e.event_id LIKE 'q-late-%' AND e.decide_at = s.updated_at
    WHERE s.behavior = 'hold_etiquette'"
assert_eq "the reference decided the late events" "${#mentees[@]}" "$(psql_val "$ref" "$late")"

# The first 300 AQM messages again, after the late events: on one partition,
# the run's one batch holds new events and resends alike.
kcat -C -b "$MENTORD_KAFKA" -t "$prefix.aqm" -o beginning -c 300 -e -q -f '%k\t%s\n' >"$work/resend.tsv"
resent=$(wc -l <"$work/resend.tsv")
assert_eq "messages to resend" "300" "$resent"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/resend.tsv" || fail "resending"
drain "$work/run.conf" 2>"$work/run2.log" || fail "drain of the late events with the resends failed"
assert_eq "batches of the drain with the resends" "1" "$(sed -n 's/.* batches \([0-9]*\),.*/\1/p' "$work/run2.log")"
loads=$(grep -c "analytics state read from the tables" "$work/run2.log" || true)
checks=$((checks + 1))
((loads == 1)) || fail "the memory was read from the tables again after the batch with resends (loads: $loads)"
assert_eq "the late events decided" "${#mentees[@]}" "$(psql_val "$schema" "$late")"
expected=$(table_digest_without_offsets "$ref")
got=$(table_digest_without_offsets "$schema")
echo "$got"
assert_eq "tables with the resends equal the reference's" "$expected" "$got"

# Three more days on both topics: the reference drains them with the resends
# in one batch, the run in batches of 50 (small fetches, so that the topics
# interleave).
generate "$prefix" --agents 60 --days 3 --start 2026-09-11 --seed 32 --partitions 1 --no-roster 2>"$work/gen2.log"
cat "$work/gen2.log"
read -r voc2 aqm2 _ _ < <(generated_counts "$work/gen2.log")
total=$((voc1 + aqm1 + roster + ${#mentees[@]} + 1 + resent + voc2 + aqm2))
drain "$work/ref.conf" 2>"$work/ref3.log" || fail "reference's drain of the new days failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "$ref")"
write_config "$work/small.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 50" \
    "[kafka]" "max.partition.fetch.bytes = 4096"
drain "$work/small.conf" 2>"$work/run3.log" || fail "drain of the new days in small batches failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
new_days="SELECT count(*) FROM agent_behavior_status WHERE updated_at >= '2026-09-11'"
decided=$(psql_val "$ref" "$new_days")
checks=$((checks + 1))
((decided > 0)) || fail "the reference decided nothing of the new days"
assert_eq "statuses decided in the new days" "$decided" "$(psql_val "$schema" "$new_days")"
expected=$(table_digest_without_offsets "$ref")
got=$(table_digest_without_offsets "$schema")
echo "$got"
assert_eq "tables after the new days equal the reference's" "$expected" "$got"

psql_val public "DROP SCHEMA $ref CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
