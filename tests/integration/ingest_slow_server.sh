#!/bin/bash
# PostgreSQL slower than mentord: a row trigger on score_events makes every
# stored event cost the server time, so a batch's event stream is still in
# the socket and in libpq's buffer when the batch commits. Ending the stream
# must send that rest first (libpq refuses to leave nonblocking mode with
# data unsent): every batch commits at its first attempt, with nothing lost.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="slow-$run_id"
generate "$prefix" --agents 600 --days 20 --seed 23 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

# The trigger needs the schema.
schema="it_slow_$run_id"
migrate_schema "$schema"
psql_val "$schema" "
  CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    PERFORM md5(repeat(NEW.event_id, 2000));
    RETURN NEW;
  END \$\$;
  CREATE TRIGGER slow_insert BEFORE INSERT ON score_events FOR EACH ROW EXECUTE FUNCTION slow_insert();" >/dev/null

# One batch of about 17 MB of events: more than the loopback socket's buffers
# hold, so the end of the stream waits in libpq's buffer at the commit.
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "[ingest]" "batch_max_events = 100000" \
    "batch_max_ms = 60000" "[analytics]" "enabled = false"
drain "$work/run.conf" 2>"$work/run.log" || fail "drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "every event stored once" "$((voc + aqm))" "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
assert_eq "no batch failed" 0 "$(grep -c 'batch not stored' "$work/run.log" || true)"
assert_eq "no database error counted" 1 "$(grep -c 'stopped: .* database errors 0 ' "$work/run.log" || true)"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
