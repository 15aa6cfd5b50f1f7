#!/bin/bash
# The roster and the team leads' alert routes loaded from CSV files
# (tools/mentord-load-csv): quoted fields, columns in any order, values that
# look like SQL stored as they are, a second load updating in place, and a
# header naming an unknown column refused without loading anything.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
load=$here/../../tools/mentord-load-csv

prefix="csv-$run_id"
schema="it_csv_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix"
generate "$prefix" --agents 12 --days 2 --seed 5 2>"$work/gen.log"
drain "$work/run.conf" 2>"$work/mentord.log" || fail "drain failed"
export MENTORD_SCHEMA=$schema

cat >"$work/agents.csv" <<'CSV'
site,agent_id,name,team_id,team_lead_id,language,active
WPG,A0001,"Summer K., Jr.",T01,L01,en,true
DUB,Z0001,"x'); DROP TABLE agents; --",T09,L09,fr,false
CSV
"$load" agents "$work/agents.csv" >"$work/load.log" || fail "loading agents failed"
assert_eq "load reports its rows" "2 agents rows loaded from $work/agents.csv" "$(cat "$work/load.log")"
assert_eq "a roster agent updated from CSV" "Summer K., Jr.|T01|WPG|t" \
    "$(psql_val "$schema" "SELECT concat_ws('|', name, team_id, site, active) FROM agents WHERE agent_id = 'A0001'")"
assert_eq "a new agent from CSV, SQL-looking name kept" "x'); DROP TABLE agents; --|f|t" \
    "$(psql_val "$schema" "SELECT concat_ws('|', name, active, roster_known) FROM agents WHERE agent_id = 'Z0001'")"
assert_eq "other agents untouched" 12 "$(psql_val "$schema" "SELECT count(*) FROM agents WHERE agent_id LIKE 'A%'")"

printf 'team_lead_id,webhook_url,body_format,secret_ref\nL01,https://hooks.example/l1,slack,file:/etc/mentord/l1.secret\n' \
    >"$work/leads.csv"
"$load" team_leads "$work/leads.csv" >/dev/null || fail "loading team leads failed"
printf 'team_lead_id,webhook_url\nL01,https://hooks.example/l1-new\n' >"$work/leads2.csv"
"$load" team_leads "$work/leads2.csv" >/dev/null || fail "reloading team leads failed"
assert_eq "a route updated in place, columns the file leaves out kept" \
    "https://hooks.example/l1-new|slack|file:/etc/mentord/l1.secret" \
    "$(psql_val "$schema" "SELECT concat_ws('|', webhook_url, body_format, secret_ref) FROM team_leads
        WHERE team_lead_id = 'L01'")"

printf 'team_lead_id,password\nL02,x\n' >"$work/bad.csv"
code=0
"$load" team_leads "$work/bad.csv" 2>"$work/bad.log" || code=$?
assert_eq "unknown column refused" 2 "$code"
assert_eq "nothing loaded from the refused file" 0 \
    "$(psql_val "$schema" "SELECT count(*) FROM team_leads WHERE team_lead_id = 'L02' AND name IS NOT NULL")"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
