#!/bin/bash
# The roster and the team leads' alert routes loaded from CSV files
# (mentord-load-csv, $MENTORD_LOAD_CSV from CMake): quoted fields, columns in
# any order, values that look like SQL stored as they are, a second load
# updating in place, agents' programs ('|'-separated), and a header naming an
# unknown column or lacking the key, or a bad program, refused (exit 2)
# without loading anything.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
load=${MENTORD_LOAD_CSV:?MENTORD_LOAD_CSV unset}

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

# programs: '|'-separated, blanks trimmed, duplicates and empty names dropped;
# an empty field clears them (NULL), a quoted empty one says none ('{}').
cat >"$work/programs.csv" <<'CSV'
agent_id,programs
A0001,acme-billing | tech support|acme-billing||
A0002,solo
A0003,""
A0004,
CSV
"$load" agents "$work/programs.csv" >/dev/null || fail "loading programs failed"
assert_eq "programs loaded as text[]" '{acme-billing,"tech support"}|{solo}|{}|' \
    "$(psql_val "$schema" "SELECT string_agg(coalesce(programs::text, ''), '|' ORDER BY agent_id) FROM agents
        WHERE agent_id IN ('A0001', 'A0002', 'A0003', 'A0004')")"
assert_eq "columns the programs file leaves out kept" "Summer K., Jr.|WPG" \
    "$(psql_val "$schema" "SELECT concat_ws('|', name, site) FROM agents WHERE agent_id = 'A0001'")"
printf 'agent_id,programs\nA0002,ok|bad\001name\n' >"$work/bad-programs.csv"
code=0
"$load" agents "$work/bad-programs.csv" 2>"$work/bad-programs.log" || code=$?
assert_eq "a program with a control character refused" 2 "$code"
assert_eq "the refusal names the agent" 1 "$(grep -c "agent_id A0002: program 'bad.name' is not 1 to 127 bytes" "$work/bad-programs.log")"
{ printf 'agent_id,programs\nA0002,'; for i in $(seq 65); do printf 'p%d|' "$i"; done; printf '\n'; } >"$work/many-programs.csv"
code=0
"$load" agents "$work/many-programs.csv" 2>"$work/many-programs.log" || code=$?
assert_eq "65 programs refused" 2 "$code"
assert_eq "the refusal says why" 1 "$(grep -c "agent_id A0002: more than 64 programs" "$work/many-programs.log")"
assert_eq "nothing loaded from the refused programs files" "{solo}" \
    "$(psql_val "$schema" "SELECT programs FROM agents WHERE agent_id = 'A0002'")"

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

printf 'agent_id,name,nickname\nZ0002,Refused,Z\n' >"$work/bad-agents.csv"
code=0
"$load" agents "$work/bad-agents.csv" 2>"$work/bad-agents.log" || code=$?
assert_eq "unknown agents column refused" 2 "$code"
assert_eq "the refusal names the column" 1 "$(grep -c "unknown column 'nickname' for agents" "$work/bad-agents.log")"
printf 'name,team_id\nRefused,T09\n' >"$work/no-key.csv"
code=0
"$load" agents "$work/no-key.csv" 2>"$work/no-key.log" || code=$?
assert_eq "header without the key refused" 2 "$code"
assert_eq "the refusal names the key" 1 "$(grep -c "the header must name agent_id" "$work/no-key.log")"
assert_eq "nothing loaded from the refused agents files" 0 \
    "$(psql_val "$schema" "SELECT count(*) FROM agents WHERE agent_id = 'Z0002' OR name = 'Refused'")"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
