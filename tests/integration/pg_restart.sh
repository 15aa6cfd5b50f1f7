#!/bin/bash
# PostgreSQL stopped and started again in the middle of consumption: mentord
# waits, reconnects, retries the batch it held, and ends with exactly the
# tables of an undisturbed run: nothing lost, nothing doubled.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"

prefix="pgrestart-$run_id"
generate "$prefix" --agents 150 --days 21 --seed 13 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

write_config "$work/ref.conf" "it_pgr_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 100"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

schema="it_pgr_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100"
"$MENTORD_BIN" --config "$work/run.conf" --exit-at-end 2>"$work/run.log" &
pid=$!
progress_past() { (($(offsets_stored "$schema") >= total / 5)); }
wait_until 120 progress_past || fail "no progress before the restart"
harness_pg_stop
stopped_at=$(grep -c . "$work/run.log" || true)
# With the server gone mentord must keep running and say why it waits.
saw_outage() { tail -n +"$stopped_at" "$work/run.log" | grep -q 'batch not stored\|unreachable'; }
wait_until 60 saw_outage || fail "mentord did not notice the outage"
assert_eq "mentord alive while PostgreSQL is down" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
harness_pg_start
wait "$pid" || fail "mentord exited non-zero after the outage"
assert_eq "mentord reconnected" "1" "$(grep -c 'reconnected to PostgreSQL' "$work/run.log" | awk '{ print ($1 > 0) }')"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal an undisturbed run's" "$(table_digest "it_pgr_ref_$run_id")" "$(table_digest "$schema")"

psql_val public "DROP SCHEMA it_pgr_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
