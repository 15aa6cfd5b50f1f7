#!/bin/bash
# PostgreSQL stopped for longer than max.poll.interval.ms (10 s here, with a
# 6 s session timeout) under a running instance: while it waits, mentord
# polls the consumer with its partitions paused, so it stays in its group
# (no partition assigned again, no "maximum poll interval exceeded"), and once
# PostgreSQL is back it goes on from the stored offsets: the tables equal an
# undisturbed run's, nothing lost, nothing doubled.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"

prefix="pglong-$run_id"
generate "$prefix" --agents 150 --days 21 --seed 17 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

write_config "$work/ref.conf" "it_pgl_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

schema="it_pgl_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100" \
    "[kafka]" "max.poll.interval.ms = 10000" "session.timeout.ms = 6000"
"$MENTORD_BIN" --config "$work/run.conf" --exit-at-end 2>"$work/run.log" &
pid=$!
progress_past() { (($(offsets_stored "$schema") >= total / 5)); }
wait_until 120 progress_past || fail "no progress before the outage"
assigned_before=$(grep -c 'assigned .*stored next offset' "$work/run.log" || true)
harness_pg_stop
stopped_at=$(grep -c . "$work/run.log" || true)
saw_outage() { tail -n +"$stopped_at" "$work/run.log" | grep -q 'not stored\|unreachable\|failed'; }
wait_until 60 saw_outage || fail "mentord did not notice the outage"
# The outage itself: half again as long as max.poll.interval.ms.
sleep 15
assert_eq "mentord alive while PostgreSQL is down" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
harness_pg_start
wait "$pid" || fail "mentord exited non-zero after the outage"
assert_eq "partitions assigned once (12), not again after the outage" "12 12" \
    "$assigned_before $(grep -c 'assigned .*stored next offset' "$work/run.log" || true)"
assert_eq "never out of its group" 0 "$(grep -ci 'maximum poll interval\|revoke\|rebalance' "$work/run.log" || true)"
assert_eq "mentord reconnected" yes "$(grep -q 'reconnected to PostgreSQL' "$work/run.log" && echo yes || echo no)"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal an undisturbed run's" "$(table_digest "it_pgl_ref_$run_id")" "$(table_digest "$schema")"

psql_val public "DROP SCHEMA it_pgl_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
