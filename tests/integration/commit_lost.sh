#!/bin/bash
# A batch's COMMIT is sent without waiting, with the status and KPI merges
# before it; mentord reads the next batch meanwhile. Here one of those merges
# fails (a trigger raises once): that batch and the one being read are read
# again from the offsets stored in PostgreSQL (split in halves: a raised
# exception is a refusal of the data), the analytics reload from the tables,
# and the tables must end exactly as those of an uninterrupted run.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="lost-$run_id"
generate "$prefix" --agents 150 --days 21 --seed 12 --duplicate-share 0.01 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

# Small fetches mix the partitions in every batch, so that the analytics
# decide (and merge status rows) in most batches' transactions.
write_config "$work/ref.conf" "it_lost_ref_$run_id" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 500" \
    "[kafka]" "fetch.message.max.bytes = 16384"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
assert_eq "reference consumed everything" "$total" "$(offsets_stored "it_lost_ref_$run_id")"

# The faulted schema must exist before its drain.
schema="it_lost_$run_id"
migrate_schema "$schema"

# The fifth statement-level firing (a MERGE fires one per action: the third
# batch's status merge) raises; a sequence counts, as it is not rolled back.
# The second only warns: mentord must log PostgreSQL's warning as its own line.
psql_val "$schema" "
  CREATE SEQUENCE fault_calls;
  CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS \$\$
  DECLARE
    call bigint := nextval('fault_calls');
  BEGIN
    IF call = 2 THEN RAISE WARNING 'injected warning'; END IF;
    IF call = 5 THEN RAISE EXCEPTION 'injected fault'; END IF;
    RETURN NULL;
  END \$\$;
  CREATE TRIGGER fail_once AFTER INSERT OR UPDATE ON agent_behavior_status
    FOR EACH STATEMENT EXECUTE FUNCTION fail_once();" >/dev/null

write_config "$work/lost.conf" "$schema" "$prefix" "$prefix-lost" "[ingest]" "batch_max_events = 500" \
    "[kafka]" "fetch.message.max.bytes = 16384"
drain "$work/lost.conf" 2>"$work/lost.log" || fail "faulted drain failed"
# A raised exception (P0001) is a refusal of the data: the batch is read again, split in two.
assert_eq "one commit failed after it was sent" "1" \
    "$(grep -c 'PostgreSQL refused a batch of [0-9]* messages, .*commit batch: .*injected fault' "$work/lost.log")"
assert_eq "PostgreSQL's warning logged as a warning" "1" "$(grep -c '^<4>postgresql: WARNING:  injected warning$' "$work/lost.log")"
assert_eq "log lines without a priority prefix" 0 "$(grep -vc '^<[0-7]>' "$work/lost.log" || true)"
assert_eq "faulted run consumed everything" "$total" "$(offsets_stored "$schema")"

ref=$(table_digest "it_lost_ref_$run_id")
got=$(table_digest "$schema")
echo "$got"
assert_eq "tables after a lost commit equal the uninterrupted run's" "$ref" "$got"

psql_val "$schema" "SELECT last_value FROM fault_calls"
psql_val public "DROP SCHEMA it_lost_ref_$run_id CASCADE; DROP SCHEMA $schema CASCADE" >/dev/null
finish
