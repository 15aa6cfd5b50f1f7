#!/bin/bash
# Dashboards (issues 6 and 20) on a center run through the real pipeline:
# two generated programs whose agents work in both, with the same behavior
# names and different score levels, a few rejected messages, mentord
# draining it with its analytics.
# (a) Every panel query of the Grafana dashboard, extracted from its JSON with
#     its template variables substituted (All, and one value; each program),
#     runs against the schema and returns rows with the expected columns, of
#     the selected program only; the naive before/after is never shown as
#     the effect.
# (b) The views' figures equal the base tables' figures, and every view keeps
#     the programs apart: per program, its numbers equal a recomputation from
#     that program's rows alone.
# (c) mentord-report writes a self-contained HTML file, one part per program
#     in name order; headless Chromium opens it with no console error and
#     finds its SVG charts.
# Nothing here inserts analytics rows by hand: if the analytics leave the
# tables empty, this test fails.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# mentord-report is built beside mentord-gen (tools/).
report_bin=${MENTORD_REPORT:-$(dirname "$MENTORD_GEN")/mentord-report}
dashboard=$here/../../dashboards/grafana/mentord.json
prefix="dash-$run_id"
schema="it_dash_$run_id"
conf=$work/mentord.conf
# No webhooks: the alert sender has nothing to do with dashboards.
write_config "$conf" "$schema" "$prefix" "$prefix" '[http]' 'listen = off' '[alerts]' 'enabled = false'

# A fixed past start, so that no event is in the future of the wall clock:
# 90 days, enough for lows, pairings, and after windows that close.
start=2025-03-03
days=90
# Two programs over the same days. The center of 240 agents (seed 6) is the
# program 'default': its events name none. A second center, the first 120
# of those agents with other skills and more of them low (seed 7), is the
# program 'acme-billing' (before 'default' in name order): its events name
# it in their program field. Each is generated to topics of its own, then
# both are merged in event-time order into the topics mentord reads, as two
# programs' feeds interleave; the roster (with no programs) is the first's.
program2=acme-billing
generate "$prefix" --agents 240 --days "$days" --seed 6 --start "$start" --roster-only 2>"$work/gen-roster.log"
generate "$prefix-default" --agents 240 --days "$days" --seed 6 --start "$start" --no-roster 2>"$work/gen.log"
generate "$prefix-$program2" --agents 120 --days "$days" --seed 7 --start "$start" --low-share 0.2 --no-roster \
    2>"$work/gen-$program2.log"
tail -n 1 "$work/gen.log" "$work/gen-$program2.log"
# consume TOPIC: every message of TOPIC as KEY<tab>VALUE lines.
consume() { kcat -C -b "$MENTORD_KAFKA" -t "$1" -o beginning -e -q -f '%k\t%s\n'; }
for kind in aqm voc; do
    {
        consume "$prefix-default.$kind"
        consume "$prefix-$program2.$kind" |
            sed "s/\t{\"schema\":\"\([a-z]*\.v1\)\",/\t{\"schema\":\"\1\",\"program\":\"$program2\",/"
    } | awk -F'\t' '{ match($2, /"occurred_at":"[^"]*"/); print substr($2, RSTART + 15, RLENGTH - 16) "\t" $0 }' |
        LC_ALL=C sort -s -t$'\t' -k1,1 | cut -f2- >"$work/$kind.tsv"
    kcat -P -b "$MENTORD_KAFKA" -t "$prefix.$kind" -K $'\t' <"$work/$kind.tsv" || fail "producing the merged $kind events"
done
read -r voc1 aqm1 _ < <(generated_counts "$work/gen.log")
read -r voc2 aqm2 _ < <(generated_counts "$work/gen-$program2.log")
assert_eq "merged events: all of both programs, the second's naming it" \
    "$((aqm1 + aqm2)) $((voc1 + voc2)) $((aqm2 + voc2))" \
    "$(wc -l <"$work/aqm.tsv") $(wc -l <"$work/voc.tsv") $(cat "$work"/{aqm,voc}.tsv | grep -c "\"program\":\"$program2\"")"

# A few rejects, for the rejects panel: each a reason of docs/events.md.
c=$work/rejects
mkdir -p "$c"
printf '{"schema":"voc.v1","event_id":"r1",' >"$c/voc-1.json"
printf '{"schema":"voc.v1","event_id":"r2","agent_id":"A0001","occurred_at":"2025-03-04T10:00:00Z","csat":9}' >"$c/voc-2.json"
printf '{"schema":"voc.v1","event_id":"r3","agent_id":"A0001","occurred_at":"2025-03-04T10:00:00Z"}' >"$c/voc-3.json"
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.voc" A0001 "$c"/voc-*.json
n_rejects=3

drain "$conf" 2>"$work/mentord.log" || { tail -n 20 "$work/mentord.log"; fail "mentord exited non-zero"; }
tail -n 2 "$work/mentord.log"

q() { psql_val "$schema" "$1"; }

# --- The analytics filled their tables (the real pipeline, no fallback).
for table in agent_behavior_status triggers pairings pairing_kpis comparison_kpis program_effect analytics_state; do
    n=$(q "SELECT count(*) FROM $table")
    checks=$((checks + 1))
    if ((n > 0)); then echo "ok: $table has $n rows"; else fail "$table is empty after the run"; fi
done
assert_eq "final program effect rows exist" t "$(q "SELECT count(*) > 0 FROM program_effect WHERE paired_n > 0")"

# --- (a) Every panel query. panels.py prints one line per variable and per
# panel: kind, title, rows (or ERROR ...), columns, the first row. Its mode
# sets the multi-value variables (all, or the first value); a single-value
# variable takes the value named for it (NAME=VALUE), else its first.
cat >"$work/panels.py" <<'PY'
import csv, io, json, re, subprocess, sys
path, schema, t_from, t_to, mode = sys.argv[1:6]
chosen = dict(a.split("=", 1) for a in sys.argv[6:])
dash = json.load(open(path))

def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-c", sql],
                       capture_output=True, text=True)
    return r.returncode, list(csv.reader(io.StringIO(r.stdout))), " ".join(r.stderr.split())

def quote(v):
    return "'" + v.replace("'", "''") + "'"

values = {"schema": schema}

# Grafana's macros and variables, as Grafana's PostgreSQL data source expands them.
def subst(sql):
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)",
                 lambda m: f"{m.group(1)} BETWEEN {quote(t_from)}::timestamptz AND {quote(t_to)}::timestamptz", sql)
    sql = sql.replace("$__timeFrom()", quote(t_from) + "::timestamptz")
    sql = sql.replace("$__timeTo()", quote(t_to) + "::timestamptz")
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    if "$" in re.sub(r"\$\$", "", sql):
        print(f"unresolved\t{sql}")
    return sql

for var in dash["templating"]["list"]:
    if var["type"] == "constant":
        # The schema constant is what an operator edits for another schema.
        values[var["name"]] = schema if var["name"] == "schema" else var["query"]
    elif var["type"] == "query":
        code, rows, err = psql(subst(var["query"]))
        options = [r[0] for r in rows[1:]]
        print(f"variable\t{var['name']}\t{len(options) if code == 0 else 'ERROR ' + err}\t\t")
        if var.get("multi") or var.get("includeAll"):
            # All: the custom all value goes in as it is; one value: quoted.
            values[var["name"]] = var["allValue"] if mode == "all" else quote(options[0] if options else "")
        else:
            # One value of a single-value variable goes in as it is, ' doubled (the query quotes it).
            value = chosen.get(var["name"], options[0] if options else "")
            if value not in options:
                print(f"unknown\t{var['name']}\t{value}\t\t")
            values[var["name"]] = value.replace("'", "''")
for p in dash["panels"]:
    for t in p.get("targets", []):
        code, rows, err = psql(subst(t["rawSql"]))
        shown = f"{len(rows) - 1}" if code == 0 else "ERROR " + err
        first = ",".join(rows[1]) if code == 0 and len(rows) > 1 else ""
        print(f"panel\t{p['title']}\t{shown}\t{','.join(rows[0]) if code == 0 and rows else ''}\t{first}")
PY
# The time range: from the scenario's first day (event time) to tomorrow, so
# that it also holds the rejects, which are dated by their receipt (wall clock).
t_from="$start 00:00:00+00"
t_to=$(date -u -d tomorrow '+%F 00:00:00+00')
panels() { PGOPTIONS="$PGOPTIONS -c search_path=$schema" python3 "$work/panels.py" "$dashboard" "$schema" "$t_from" "$t_to" "$@"; }
# The program variable's default is the first program in name order.
panels all >"$work/panels-first-program.txt"
panels all program=default >"$work/panels-all.txt"
panels first program=default >"$work/panels-one.txt"
panels all "program=$program2" >"$work/panels-$program2.txt"

# The columns each panel must return, by title; a panel missing here fails.
declare -A expected=(
    ["Event time now"]="event time"
    ["Triggers awaiting a mentor"]="open,waiting"
    ["Active pairings (count)"]="active"
    ["Mentors"]="mentoring,eligible, free"
    ["Effect of mentoring on the targeted behavior (difference in differences)"]="behavior,did_effect,did_ci_low,did_ci_high,verdict,paired_n,comparison_n,comparison_delta,naive_delta_not_effect,cuped,scale_min,scale_max"
    ["Effect on CSAT and AQM, by the behavior mentored"]="behavior,metric,did_effect,did_ci_low,did_ci_high,verdict,paired_n,comparison_n,naive_delta_not_effect"
    ["Program per site"]="site,behavior,low_score_triggers,fatal_triggers,awaiting,waiting,pairings_active,pairings_completed,paired_n,comparison_n,did_effect,did_ci_low,did_ci_high,comparison_delta,target_delta_naive_not_effect"
    ["Program per team"]="site,team_id,behavior,low_score_triggers,fatal_triggers,awaiting,waiting,pairings_active,pairings_completed,paired_n,comparison_n,did_effect,did_ci_low,did_ci_high,comparison_delta,target_delta_naive_not_effect"
    ["Lowest scorers per behavior (shrunk mean)"]="behavior,agent_id,name,site,team_id,n,shrunk_mean,ci_low,ci_high,mean,status,since,rank_worst"
    ["Open and waiting triggers"]="fired_at,status,kind,behavior,agent_id,name,site,team_id,score,n,age_days,waiting_since,current_shrunk_mean"
    ["Triggers awaiting a mentor over event time"]="time,awaiting,waiting"
    ["Active pairings"]="behavior,mentee_id,mentee_name,mentor_id,mentor_name,started_at,ends_at,days_remaining,target_before_mean,target_after_mean,target_delta,target_ci_low,target_ci_high,csat_delta,aqm_delta,kpis_final"
    ["Mentor load"]="mentor_id,name,site,team_id,active_mentees,active_mentees_all_programs,active_behaviors,completed_pairings,cancelled_pairings,total_pairings,high_behaviors,high_in,next_end_at"
    ["Mentors' own KPIs"]="mentor_id,name,site,team_id,metric,pairings,final_pairings,avg_before_mean,avg_after_mean,avg_delta"
    ["Mentor-eligible agents per behavior"]="behavior,agent_id,name,site,team_id,n,shrunk_mean,ci_low,ci_high,rank_best"
    ["Rejected events per day by reason"]="time,metric,value"
)
assert_eq "panels in the dashboard" "${#expected[@]}" "$(grep -c '^panel' "$work/panels-all.txt")"
assert_eq "variables with values" "program site team behavior" "$(awk -F'\t' '$1 == "variable" && $3 ~ /^[0-9]+$/ && $3 > 0 {printf "%s%s", sep, $2; sep=" "}' "$work/panels-all.txt")"
assert_eq "programs offered" 2 "$(awk -F'\t' '$1 == "variable" && $2 == "program" {print $3}' "$work/panels-all.txt")"
assert_eq "unresolved variables or macros, unknown values" 0 \
    "$(cat "$work"/panels-*.txt | grep -c -e '^unresolved' -e '^unknown' || true)"
while IFS=$'\t' read -r kind title rows columns _; do
    [[ $kind == panel ]] || continue
    checks=$((checks + 1))
    if [[ -z ${expected[$title]+x} ]]; then
        fail "panel '$title' has no expected columns in this test"
    elif [[ ! $rows =~ ^[0-9]+$ ]]; then
        fail "panel '$title' (All): $rows"
    elif ((rows == 0)); then
        fail "panel '$title' (All) returned no rows"
    elif [[ $columns != "${expected[$title]}" ]]; then
        fail "panel '$title' columns: expected '${expected[$title]}', got '$columns'"
    else
        echo "ok: panel '$title' (All): $rows rows"
    fi
done <"$work/panels-all.txt"
# One site, one team, one behavior; the other program: every query still
# runs, same columns.
for f in one "$program2"; do
    while IFS=$'\t' read -r kind title rows columns _; do
        [[ $kind == panel ]] || continue
        checks=$((checks + 1))
        if [[ ! $rows =~ ^[0-9]+$ ]]; then
            fail "panel '$title' ($f): $rows"
        elif [[ $columns != "${expected[$title]:-}" ]]; then
            fail "panel '$title' ($f) columns: got '$columns'"
        fi
    done <"$work/panels-$f.txt"
done
# first_row FILE TITLE: the panel's first row, as panels.py printed it.
first_row() { awk -F'\t' -v t="$2" '$1 == "panel" && $2 == t {print $5}' "$1"; }
assert_eq "the program variable defaults to the first program ($program2)" \
    "$(first_row "$work/panels-$program2.txt" "Triggers awaiting a mentor")" \
    "$(first_row "$work/panels-first-program.txt" "Triggers awaiting a mentor")"
# The counting panels count the selected program only (All for the rest).
for program in default "$program2"; do
    f=$work/panels-all.txt
    [[ $program == default ]] || f=$work/panels-$program.txt
    assert_eq "panel 'Event time now' of $program" \
        "$(q "SELECT to_char(max(event_time_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
              FROM analytics_state WHERE program = '$program'")" "$(first_row "$f" "Event time now")"
    assert_eq "panel 'Triggers awaiting a mentor' of $program" \
        "$(q "SELECT count(*) FILTER (WHERE status = 'open') || ',' || count(*) FILTER (WHERE status = 'waiting')
              FROM triggers WHERE program = '$program'")" "$(first_row "$f" "Triggers awaiting a mentor")"
    assert_eq "panel 'Active pairings (count)' of $program" \
        "$(q "SELECT count(*) FROM pairings WHERE program = '$program' AND status = 'active'")" \
        "$(first_row "$f" "Active pairings (count)")"
done

# The naive before/after is never presented as the effect: every column
# named naive is displayed as exactly this label, in every panel.
assert_eq "naive columns labelled as not the effect" "ok" "$(python3 - "$dashboard" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
label = "naive before/after (not the effect)"
bad = []
for p in dash["panels"]:
    sql = " ".join(t.get("rawSql", "") for t in p.get("targets", []))
    labels = {o["matcher"]["options"]: [x["value"] for x in o["properties"] if x["id"] == "displayName"]
              for o in p.get("fieldConfig", {}).get("overrides", [])}
    for col in sorted(set(re.findall(r"\b\w*naive\w*\b", sql))):
        if labels.get(col) != [label]:
            bad.append(f"{p['title']}: {col} shown as {labels.get(col)}")
print("; ".join(bad) or "ok")
PY
)"

# --- (b) The views' figures equal the base tables', program by program.
# differ SQL1 SQL2: rows of one query missing from the other, both ways.
differ() { q "SELECT count(*) FROM (($1 EXCEPT $2) UNION ALL ($2 EXCEPT $1)) AS d"; }
assert_eq "two programs in the analytics" "$program2 default" \
    "$(q "SELECT string_agg(program, ' ' ORDER BY program COLLATE \"C\") FROM (SELECT DISTINCT program FROM triggers) p")"
assert_eq "one event time per program, its analytics_state's" 0 "$(differ \
    "SELECT program, now_at, closed_at, last_round_at FROM dash_event_time" \
    "SELECT program, max(event_time_at), max(closed_at), max(last_round_at) FROM analytics_state GROUP BY 1")"
assert_eq "program effect view = program_effect" 0 "$(differ \
    "SELECT program, behavior, metric, paired_n, comparison_n, did_effect, did_ci_low, did_ci_high,
            naive_delta_not_effect, comparison_delta FROM dash_program_effect" \
    "SELECT program, behavior, metric, paired_n, comparison_n, did_effect, ci_low, ci_high,
            naive_delta, comparison_delta FROM program_effect")"
assert_eq "leaderboard rows = agent_behavior_status rows" "$(q "SELECT count(*) FROM agent_behavior_status")" \
    "$(q "SELECT count(*) FROM dash_behavior_leaderboard")"
assert_eq "leaderboard figures = agent_behavior_status" 0 "$(differ \
    "SELECT program, agent_id, behavior, n, mean, shrunk_mean, ci_low, ci_high, status FROM dash_behavior_leaderboard" \
    "SELECT program, agent_id, behavior, n, mean, shrunk_mean, ci_low, ci_high, status FROM agent_behavior_status")"
# The same agents and behavior names in both programs, each program's own row.
shared=$(q "SELECT count(*) FROM dash_behavior_leaderboard d JOIN dash_behavior_leaderboard a USING (agent_id, behavior)
             WHERE d.program = 'default' AND a.program = '$program2'")
checks=$((checks + 1))
if ((shared > 0)); then echo "ok: $shared agent and behavior rows in both programs"; else fail "no agent and behavior in both programs"; fi
# More of the second program's agents are planted low: in most behaviors its
# agents' mean is lower, so that pooling the programs would show.
assert_eq "the second program scores lower in most behaviors" t "$(q "
    SELECT count(*) FILTER (WHERE a.m < d.m) > count(*) / 2 FROM
      (SELECT behavior, avg(mean) AS m FROM agent_behavior_status WHERE program = 'default' GROUP BY 1) d
      JOIN (SELECT behavior, avg(mean) AS m FROM agent_behavior_status WHERE program = '$program2' GROUP BY 1) a
      USING (behavior)")"
assert_eq "ranks within the program's behavior, recomputed" 0 "$(differ \
    "SELECT program, agent_id, behavior, rank_best, agents_ranked FROM dash_behavior_leaderboard" \
    "SELECT program, agent_id, behavior, rank() OVER w, count(*) OVER (PARTITION BY program, behavior)
       FROM agent_behavior_status WINDOW w AS (PARTITION BY program, behavior ORDER BY shrunk_mean DESC NULLS LAST)")"
assert_eq "rank_worst 1 holds the lowest shrunk mean of its program's behavior" 0 "$(q "
    SELECT count(*) FROM dash_behavior_leaderboard l
     WHERE l.rank_worst = 1
       AND l.shrunk_mean > (SELECT min(shrunk_mean) FROM agent_behavior_status s
                             WHERE s.program = l.program AND s.behavior = l.behavior)")"
assert_eq "mentor load = active pairings per program and mentor" 0 "$(differ \
    "SELECT program, mentor_id, active_mentees FROM dash_mentor_load WHERE active_mentees > 0" \
    "SELECT program, mentor_id, count(*) FROM pairings WHERE status = 'active' GROUP BY 1, 2")"
assert_eq "mentor load: one capacity, counted over every program" 0 "$(differ \
    "SELECT mentor_id, active_mentees_all_programs FROM dash_mentor_load WHERE active_mentees_all_programs > 0" \
    "SELECT mentor_id, count(*) FROM pairings WHERE status = 'active' GROUP BY 1")"
assert_eq "mentor load: pairings in total, per program" 0 "$(differ \
    "SELECT program, sum(total_pairings) FROM dash_mentor_load GROUP BY 1" \
    "SELECT program, count(*) FROM pairings GROUP BY 1")"
assert_eq "open triggers view = open and waiting triggers, per program" 0 "$(differ \
    "SELECT program, count(*) FROM dash_open_triggers GROUP BY 1" \
    "SELECT program, count(*) FROM triggers WHERE status IN ('open', 'waiting') GROUP BY 1")"
assert_eq "trend ends at the triggers awaiting now, per program" 0 "$(differ \
    "SELECT program, sum(awaiting_change) FROM dash_trigger_changes GROUP BY 1 HAVING sum(awaiting_change) <> 0" \
    "SELECT program, count(*) FROM triggers WHERE status IN ('open', 'waiting') GROUP BY 1")"
assert_eq "trend counts every trigger fired, per program" 0 "$(differ \
    "SELECT program, behavior, sum(fired) FROM dash_trigger_changes GROUP BY 1, 2" \
    "SELECT program, behavior, count(*) FROM triggers GROUP BY 1, 2")"
assert_eq "active pairings view = active pairings, per program" 0 "$(differ \
    "SELECT program, pairing_id FROM dash_active_pairings" \
    "SELECT program, pairing_id FROM pairings WHERE status = 'active'")"
assert_eq "days remaining from the program's newest event time, target delta from pairing_kpis" 0 "$(q "
    SELECT count(*) FROM dash_active_pairings v
      JOIN pairings p USING (pairing_id)
      LEFT JOIN pairing_kpis k ON k.pairing_id = p.pairing_id AND k.subject = 'mentee' AND k.is_target
     WHERE abs(v.days_remaining - greatest(extract(epoch FROM p.ends_at
                 - (SELECT max(event_time_at) FROM analytics_state a WHERE a.program = p.program)) / 86400, 0)) > 1e-9
        OR v.target_delta IS DISTINCT FROM k.delta")"
assert_eq "site summaries add up to every trigger and pairing" \
    "$(q "SELECT count(*) || ' ' || (SELECT count(*) FROM pairings) FROM triggers")" \
    "$(q "SELECT sum(low_score_triggers + fatal_triggers) || ' ' || sum(pairings) FROM dash_program_site")"
assert_eq "site summaries: each program's triggers and pairings, recomputed" 0 "$(differ \
    "SELECT program, site, behavior, low_score_triggers, fatal_triggers, awaiting, pairings FROM dash_program_site" \
    "SELECT t.program, a.site, t.behavior, count(*) FILTER (WHERE t.kind = 'low_score'),
            count(*) FILTER (WHERE t.kind = 'fatal'), count(*) FILTER (WHERE t.status IN ('open', 'waiting')),
            count(p.pairing_id)
       FROM triggers t LEFT JOIN agents a USING (agent_id) LEFT JOIN pairings p USING (trigger_id)
      GROUP BY 1, 2, 3")"
assert_eq "team summaries add up to the site summaries" 0 "$(differ \
    "SELECT program, site, behavior, sum(paired_n), sum(pairings), sum(awaiting) FROM dash_program_team GROUP BY 1, 2, 3" \
    "SELECT program, site, behavior, paired_n, pairings, awaiting FROM dash_program_site")"
assert_eq "site summaries' mentees and comparison group = program_effect's group sizes" 0 "$(q "
    SELECT count(*) FROM (
      SELECT program, behavior, sum(paired_n), max(comparison_n) FROM dash_program_site GROUP BY 1, 2
      EXCEPT SELECT program, behavior, paired_n, nullif(comparison_n, 0) FROM program_effect WHERE is_target) AS d")"
# Each program's comparison group from its own comparison triggers alone
# (docs/dashboards.md), against the view; prints "rows compared, rows that differ".
comparison=$(q "
    WITH r AS (
      SELECT t.program, t.behavior, count(*) AS n, avg(c.delta) AS m, var_samp(c.delta) AS v
        FROM comparison_kpis c JOIN triggers t USING (trigger_id, program)
        LEFT JOIN pairings p USING (trigger_id)
       WHERE c.is_target AND c.final AND c.delta IS NOT NULL AND p.pairing_id IS NULL
       GROUP BY 1, 2)
    SELECT count(*) || ' ' || count(*) FILTER (WHERE r.n IS DISTINCT FROM g.comparison_n
             OR NOT abs(r.m - g.comparison_delta) <= 1e-9
             OR NOT (abs(r.v - g.comparison_var) <= 1e-9 OR (r.v IS NULL AND g.comparison_var IS NULL)))
      FROM r FULL JOIN dash_comparison_group g USING (program, behavior)")
checks=$((checks + 1))
if [[ $comparison =~ ^[1-9][0-9]*\ 0$ ]]; then
    echo "ok: each program's comparison group recomputed ($comparison)"
else
    fail "each program's comparison group recomputed: compared, differing = $comparison"
fi
# The program effect recomputed from the KPI rows, as docs/dashboards.md
# shows it (CUPED with the stored theta), program by program: group sizes
# and every effect. Prints "rows compared, rows that differ, effects
# compared, programs".
effect=$(q "
    WITH rows AS (
      SELECT p.program, p.behavior, k.metric, 'paired' AS arm, k.before_mean AS b, k.after_mean AS a
        FROM pairing_kpis k JOIN pairings p USING (pairing_id, program)
       WHERE k.subject = 'mentee' AND p.status <> 'cancelled' AND k.final
         AND k.before_mean IS NOT NULL AND k.after_mean IS NOT NULL
      UNION ALL
      SELECT t.program, t.behavior, c.metric, 'comparison', c.before_mean, c.after_mean
        FROM comparison_kpis c JOIN triggers t USING (trigger_id, program)
       WHERE c.final AND c.before_mean IS NOT NULL AND c.after_mean IS NOT NULL),
    d AS (
      SELECT r.program, r.behavior, r.metric, r.arm,
             r.a - e.theta * (r.b - avg(r.b) OVER w) - avg(r.b) OVER w AS d
        FROM rows r JOIN program_effect e USING (program, behavior, metric)
      WINDOW w AS (PARTITION BY r.program, r.behavior, r.metric)),
    g AS (
      SELECT program, behavior, metric,
             count(*) FILTER (WHERE arm = 'paired') AS pn, avg(d) FILTER (WHERE arm = 'paired') AS pm,
             var_samp(d) FILTER (WHERE arm = 'paired') AS pv,
             count(*) FILTER (WHERE arm = 'comparison') AS cn, avg(d) FILTER (WHERE arm = 'comparison') AS cm,
             var_samp(d) FILTER (WHERE arm = 'comparison') AS cv
        FROM d GROUP BY 1, 2, 3),
    r AS (
      SELECT g.program, g.behavior, g.metric, g.pn AS paired_n, g.cn AS comparison_n, x.diff AS did_effect
        FROM g, dash_welch(g.pm, g.pv, g.pn, g.cm, g.cv, g.cn) AS x)
    SELECT count(*) || ' ' ||
           count(*) FILTER (WHERE r.paired_n IS DISTINCT FROM e.paired_n
                               OR r.comparison_n IS DISTINCT FROM e.comparison_n
                               OR NOT (abs(r.did_effect - e.did_effect) <= 1e-9
                                       OR (r.did_effect IS NULL AND e.did_effect IS NULL))) || ' ' ||
           count(e.did_effect) || ' ' || count(DISTINCT program)
      FROM program_effect e FULL JOIN r USING (program, behavior, metric)")
checks=$((checks + 1))
if [[ $effect =~ ^[1-9][0-9]*\ 0\ [1-9][0-9]*\ 2$ ]]; then
    echo "ok: program effect recomputed from the KPI rows ($effect)"
else
    fail "program effect recomputed from the KPI rows: compared, differing, effects, programs = $effect"
fi
assert_eq "mentors' own KPIs = their pairing_kpis rows, per program" 0 "$(differ \
    "SELECT program, mentor_id, metric, pairings FROM dash_mentor_kpis" \
    "SELECT p.program, p.mentor_id, k.metric, count(*) FROM pairing_kpis k JOIN pairings p USING (pairing_id, program)
      WHERE k.subject = 'mentor' AND k.metric IN ('csat', 'csat_top2', 'aqm') GROUP BY 1, 2, 3")"
assert_eq "rejects per day add up to rejected_events" "$n_rejects $n_rejects" \
    "$(q "SELECT (SELECT count(*) FROM rejected_events) || ' ' || sum(rejected) FROM dash_rejects_daily")"
# A QA lead's recomputation (docs/dashboards.md): every final mentee KPI
# row's before and after means, from score_events alone, each from the
# events of the pairing's program (the agents work in both). Prints "rows
# compared, rows that differ, programs".
recomputed=$(q "
    WITH daily AS MATERIALIZED (
      SELECT e.program, e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
             count(*) AS n, sum(o.value) AS s
        FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) AS o
       GROUP BY 1, 2, 3, 4),
    r AS (
      SELECT k.program, k.pairing_id, k.metric, k.before_mean, k.after_mean, k.scale_min, k.scale_max,
             sum(d.s) FILTER (WHERE d.day >= k.before_from AND d.day < k.before_to)
               / sum(d.n) FILTER (WHERE d.day >= k.before_from AND d.day < k.before_to) AS b,
             sum(d.s) FILTER (WHERE d.day >= k.after_from AND d.day < k.after_to)
               / sum(d.n) FILTER (WHERE d.day >= k.after_from AND d.day < k.after_to) AS a
        FROM dash_pairing_kpis k
        LEFT JOIN daily d ON d.program = k.program AND d.agent_id = k.agent_id AND d.metric = k.metric
       WHERE k.subject = 'mentee' AND k.final
       GROUP BY 1, 2, 3, 4, 5, 6, 7)
    SELECT count(*) || ' ' || count(*) FILTER (WHERE
             NOT (abs(before_mean - (scale_min + b * (scale_max - scale_min))) <= 1e-9
                  OR (before_mean IS NULL AND b IS NULL))
          OR NOT (abs(after_mean - (scale_min + a * (scale_max - scale_min))) <= 1e-9
                  OR (after_mean IS NULL AND a IS NULL))) || ' ' || count(DISTINCT program)
      FROM r")
checks=$((checks + 1))
if [[ $recomputed =~ ^[1-9][0-9]*\ 0\ 2$ ]]; then
    echo "ok: mentee KPI means recomputed from score_events ($recomputed)"
else
    fail "mentee KPI means recomputed from score_events: compared, differing, programs = $recomputed"
fi

# --- (c) The report, opened in headless Chromium.
# A name with markup, as a roster could carry: it must come out as text.
hostile='<b>Ana</b> & "Co"'
mentee=$(q "SELECT mentee_id FROM pairings ORDER BY started_at DESC, pairing_id LIMIT 1")
psql_val "$schema" "UPDATE agents SET name = \$\$$hostile\$\$ WHERE agent_id = '$mentee'" >/dev/null
"$report_bin" --conninfo "$MENTORD_PG" --schema "$schema" --out "$work/report.html" 2>"$work/report.log" ||
    { cat "$work/report.log"; fail "mentord-report exited non-zero"; }
html=$work/report.html
assert_eq "report written" yes "$([[ -s $html ]] && echo yes || echo no)"
assert_eq "no script, no fetched resource in the report" 0 \
    "$(grep -Eic '<script|<link|<img|<iframe|src=|url\(|@import|href="https?:' "$html" || true)"
assert_eq "hostile name shown escaped, never as markup" "yes 0" \
    "$(grep -q '&lt;b&gt;Ana&lt;/b&gt; &amp; &quot;Co&quot;' "$html" && echo yes || echo no) $(grep -c '<b>Ana</b>' "$html" || true)"
assert_eq "naive labelled as not the effect in the report" yes \
    "$(grep -q 'naive before/after (not the effect)' "$html" && echo yes || echo no)"
assert_eq "one part per program, in name order" "Program $program2|Program default" \
    "$(grep -o '<h2 id="program-[0-9]*">[^<]*' "$html" | sed 's/.*>//' | paste -sd'|')"
assert_eq "each part's triggers and active pairings are its program's" \
    "$(q "SELECT string_agg(concat_ws(' ', (SELECT count(*) FROM triggers t WHERE t.program = e.program),
                                       (SELECT count(*) FROM pairings p WHERE p.program = e.program AND p.status = 'active')),
                            ' ' ORDER BY program COLLATE \"C\") FROM dash_event_time e")" \
    "$(grep -o -e '[0-9]* triggers fired from' -e '<h3>Active pairings ([0-9]*' "$html" | sed 's/.*(//; s/ .*//' | paste -sd' ')"
assert_eq "bad options refused" 2 "$(
    "$report_bin" --max-pairings 0 --out x >/dev/null 2>&1
    echo $?
)"
assert_eq "missing schema refused, nothing written" "1 no" "$(
    "$report_bin" --conninfo "$MENTORD_PG" --schema "no_such_$run_id" --out "$work/none.html" 2>/dev/null
    echo "$? $([[ -e $work/none.html || -e $work/none.html.tmp ]] && echo yes || echo no)"
)"

# Chromium over the DevTools protocol on a pipe: console messages, failed
# loads and exceptions are events; the SVG count is read from the live DOM;
# the screenshot is taken after the load event (no sleeps).
cat >"$work/cdp.py" <<'PY'
import base64, json, os, select, shutil, subprocess, sys, tempfile, time
url, shot = sys.argv[1], sys.argv[2]
to_r, to_w = os.pipe()
from_r, from_w = os.pipe()
profile = tempfile.mkdtemp(prefix="mentord-chromium.")
def child():
    os.dup2(to_r, 3)
    os.dup2(from_w, 4)
proc = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                         "--user-data-dir=" + profile, "--no-first-run", "--hide-scrollbars", "about:blank"],
                        pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_r)
os.close(from_w)
buf, next_id, events = b"", 0, []
deadline = time.monotonic() + 120

def read_message():
    global buf
    while b"\0" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([from_r], [], [], left)[0]:
            sys.exit("cdp: timed out")
        chunk = os.read(from_r, 1 << 20)
        if not chunk:
            sys.exit("cdp: chromium closed the pipe")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)

def call(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_w, json.dumps(msg).encode() + b"\0")
    while True:
        m = read_message()
        if m.get("id") == next_id:
            if "error" in m:
                sys.exit(f"cdp: {method}: {m['error']}")
            return m.get("result", {})
        events.append(m)

def wait_event(name):
    while not any(m.get("method") == name for m in events):
        events.append(read_message())

try:
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        call(domain + ".enable", session=s)
    call("Emulation.setDeviceMetricsOverride", {"width": 860, "height": 1200, "deviceScaleFactor": 1, "mobile": False}, s)
    call("Page.navigate", {"url": url}, s)
    wait_event("Page.loadEventFired")
    svgs = call("Runtime.evaluate", {"expression": "document.querySelectorAll('svg').length",
                                     "returnByValue": True}, s)["result"]["value"]
    size = call("Page.getLayoutMetrics", session=s)["cssContentSize"]
    png = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
               "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, s)["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    errors = []
    for m in events:
        p = m.get("params", {})
        if m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            errors.append("console." + p["type"])
        elif m.get("method") == "Runtime.exceptionThrown":
            errors.append("exception: " + p["exceptionDetails"].get("text", ""))
        elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            errors.append(p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
    print("errors", len(errors))
    for e in errors:
        print("error", e)
    print("svg", svgs)
finally:
    proc.kill()
    proc.wait()
    shutil.rmtree(profile, ignore_errors=True)
PY
# The detector itself: a page with a console error and a failed load must be caught.
printf '<!DOCTYPE html><p>x</p><script>console.error("planted")</script><img src="file:///nonexistent/x.png">' \
    >"$work/bad.html"
python3 "$work/cdp.py" "file://$work/bad.html" "$work/bad.png" >"$work/bad.txt" || fail "chromium on the control page"
assert_eq "control page: errors seen" "errors 2" "$(grep '^errors' "$work/bad.txt")"

python3 "$work/cdp.py" "file://$html" "$work/report.png" >"$work/chromium.txt" ||
    fail "chromium could not open the report"
cat "$work/chromium.txt"
assert_eq "console errors in the report" "errors 0" "$(grep '^errors' "$work/chromium.txt")"
# Per program: the effect and the trend (when there is one), one chart per
# behavior with pairings, one for the mentors' CSAT and one for their AQM
# (when they have KPI rows).
assert_eq "SVG charts in the report" \
    "svg $(q "SELECT sum((SELECT count(*) > 0 FROM dash_program_effect x WHERE x.program = e.program AND x.is_target)::int
                      + (SELECT count(*) > 0 FROM triggers t WHERE t.program = e.program)::int
                      + (SELECT count(DISTINCT behavior) FROM dash_pairing_kpis k
                          WHERE k.program = e.program AND k.subject = 'mentee' AND k.is_target)
                      + (SELECT count(DISTINCT metric) FROM dash_mentor_kpis m
                          WHERE m.program = e.program AND m.metric IN ('csat', 'aqm')))
                FROM dash_event_time e")" \
    "$(grep '^svg' "$work/chromium.txt")"
assert_eq "SVG in the DOM dump" "$(grep -o '<svg' "$html" | wc -l)" \
    "$(timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$work/chromium-dump" \
        --dump-dom "file://$html" 2>/dev/null | grep -o '<svg' | wc -l)"
assert_eq "screenshot is a PNG" "PNG" "$(head -c 4 "$work/report.png" | tail -c 3)"
# DASHBOARDS_SCREENSHOT=docs/report.png keeps the screenshot for the docs.
[[ -z ${DASHBOARDS_SCREENSHOT:-} ]] || cp "$work/report.png" "$DASHBOARDS_SCREENSHOT"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
