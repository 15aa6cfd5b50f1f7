#!/bin/bash
# Per-behavior thresholds, the allow-list and one focus per mentee (issue 20,
# second test; SPEC sections 2 and 3, docs/analytics.md). Hand-made events,
# few agents, values chosen so that every expected set below is known from
# the design and written here, then checked against mentord's tables and
# against a recomputation in SQL from score_events (the documented formula).
#
# Programs `acme` and `globex` get the same events (each names its program);
# only `[program.acme]` differs. Program `focus` is the one-focus scenario.
# Thresholds (docs/man/mentord.conf.5: a behavior's threshold is the first
# given of the program's low_threshold.NAME, the global one, the program's
# low_threshold, the global one; high likewise):
#   [detect]        low 0.60, high 0.85, low_threshold.empathy 0.70, high_threshold.resolution 0.89
#   [program.acme]  low_threshold 0.65, low_threshold.greeting 0.50, high_threshold.resolution 0.97
#   [program.focus] duration_days 2, behaviors = hold, empathy, courtesy
# So empathy is decided at 0.70 in every program (the global per-behavior key
# beats acme's own general 0.65), greeting at 0.50 in acme, resolution needs
# 0.89 to be high, 0.97 in acme.
#
# Day 0 (2026-03-02): baseline agents B1..B4 of each program score every AQM
# behavior 90, 70, 90, ... (10 each, overall 80) and every survey csat
# 5,4,5,3,5,4,5,3,5,4 with courtesy 5,4,... Every key of day 1 is shrunk (k 10)
# toward those means: AQM behaviors 0.80 (within variance 0.4/36), courtesy
# 0.875 (0.625/36), csat 0.825, csat_top2 0.80 (6.4/36), aqm 0.80 (0).
# Day 1: 20 observations per key (30 for H1, M1, M2), all on day 1, so that
# shrunk = (n * v + 10 * pop) / (n + 10) falls monotonically toward v and a
# key is low iff its final shrunk is below its threshold; it fires at the
# first n >= 8 below it (computed and written below as each trigger's n).
# F1's courtesy alternates instead: below 0.60 from n = 13 on, and it stays so.
#   agent  values (normalized)          final shrunk     acme (thresholds)     globex
#   L1     empathy 0.61, hold 0.61      0.6733, 0.6733   empathy low (0.70),   empathy low (0.70),
#                                                        hold ok (0.65)        hold ok (0.60)
#   L3     greeting 0.42                0.5467           ok (0.50)             low (0.60)
#   L4     hold 0.20                    0.40             low                   low
#   L5     greeting 0.15                0.3667           low (0.50)            low
#   L6     courtesy 1 (0), csat 4       0.2917           courtesy low          courtesy low
#   L7     resolution 0.20              0.40             low                   low
#   L8     clarity 0.54                 0.6267           low (0.65)            ok (0.60)
#   C1     csat 1 (0), courtesy 4       csat 0.275, csat_top2 0.2667: low in both, an outcome: no trigger
#                                       unless listed
#   Q1     overall 20 (aqm 0.20)        0.40             aqm low in both, an outcome: no trigger
#   H1     resolution 1.0 (30 obs)      0.95, ci_low 0.9226: high in globex (0.89), ok in acme (0.97)
# Focus: F1 low in hold 0.10, empathy 0.30 and courtesy 2,3,2,3,... (0.25,
# 0.5): shrunk 0.3333, 0.4667, 0.5417 (native 33.3, 46.7, 3.17), so served
# hold, empathy, courtesy: neither in native order (courtesy first) nor in
# name order (courtesy, empathy, hold). M1, M2 (30 obs of 100) and M3 (20 of
# courtesy 5) are each high in one of them (ci_low 0.9226, 0.9226, 0.9188).
# Z1 scores aqm once a day to move event time on; nothing of F1 is scored
# again, so its keys stay low. Rounds at midnights: D2 (2026-03-04) pairs
# hold, the two others wait one_focus; a pairing lasts 2 days, so D4 pairs
# empathy, D6 courtesy. Stage 1 ends at D2 12:00, stage 2 at D7 12:00.
#
# Two configurations read the same topics: schema A without `behaviors`
# (every AQM behavior and survey item may trigger, not csat, csat_top2, aqm),
# schema B with `behaviors = empathy, hold, csat` and acme's own `behaviors =
# empathy, greeting` (a program's list replaces the global one).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# Windows are whole UTC days: date_trunc and ::date below must read UTC.
export PGTZ=UTC

prefix="thresholds-$run_id"
schema_a="it_thr_a_$run_id"
schema_b="it_thr_b_$run_id"

# --- The events, as "occurred_at<TAB>agent<TAB>json" lines per topic and stage.

# day_time DAY HOUR MINUTE: an RFC 3339 time of day DAY (0 = 2026-03-02).
day_time() { printf '2026-03-%02dT%02d:%02d:00Z' $((2 + $1)) "$2" "$3"; }

# cycled SEQ I: the I-th value of the comma-separated SEQ, cycled.
cycled() {
    local -a values
    IFS=, read -ra values <<<"$1"
    printf '%s' "${values[$2 % ${#values[@]}]}"
}

# members I NAME=SEQ...: a JSON object's members, each NAME's I-th value.
members() {
    local i=$1 pair out=""
    shift
    for pair in "$@"; do
        out+="${out:+,}\"${pair%%=*}\":$(cycled "${pair#*=}" "$i")"
    done
    printf '%s' "$out"
}

# aqm_run STAGE PROGRAM AGENT DAY HOUR N OVERALL_SEQ [BEHAVIOR=SEQ...]: N evaluations, a minute apart.
aqm_run() {
    local stage=$1 program=$2 agent=$3 day=$4 hour=$5 n=$6 overall=$7 i at
    shift 7
    for ((i = 0; i < n; i++)); do
        at=$(day_time "$day" "$hour" "$i")
        printf '%s\t%s\t{"schema":"aqm.v1","event_id":"%s-%s-q%02d-d%d","agent_id":"%s","occurred_at":"%s","program":"%s","overall":%s,"behaviors":{%s}}\n' \
            "$at" "$agent" "$program" "$agent" "$i" "$day" "$agent" "$at" "$program" "$(cycled "$overall" "$i")" \
            "$(members "$i" "$@")" >>"$work/aqm-$stage.lines"
    done
}

# voc_run STAGE PROGRAM AGENT DAY HOUR N CSAT_SEQ [ITEM=SEQ...]: N surveys, a minute apart.
voc_run() {
    local stage=$1 program=$2 agent=$3 day=$4 hour=$5 n=$6 csat=$7 i at
    shift 7
    for ((i = 0; i < n; i++)); do
        at=$(day_time "$day" "$hour" "$i")
        printf '%s\t%s\t{"schema":"voc.v1","event_id":"%s-%s-v%02d-d%d","agent_id":"%s","occurred_at":"%s","program":"%s","csat":%s,"items":{%s}}\n' \
            "$at" "$agent" "$program" "$agent" "$i" "$day" "$agent" "$at" "$program" "$(cycled "$csat" "$i")" \
            "$(members "$i" "$@")" >>"$work/voc-$stage.lines"
    done
}

# roster AGENT TEAM PROGRAMS_JSON: one active agent.v1 event, before everything else.
roster() {
    printf '%s\t%s\t{"schema":"agent.v1","event_id":"roster-%s","agent_id":"%s","occurred_at":"2026-03-01T00:00:00Z","name":"%s","team_id":"%s","team_lead_id":"lead-%s","site":"S1","language":"en","active":true,"programs":%s}\n' \
        "2026-03-01T00:00:00Z" "$1" "$1" "$1" "$1" "$2" "$2" "$3" >>"$work/roster-1.lines"
}

for b in B1 B2 B3 B4; do
    roster "$b" T3 '["acme","globex","focus"]'
    for program in acme globex focus; do
        aqm_run 1 "$program" "$b" 0 $((9 + ${b#B})) 10 80 \
            empathy=90,70 hold=90,70 greeting=90,70 resolution=90,70 clarity=90,70
        voc_run 1 "$program" "$b" 0 $((9 + ${b#B})) 10 5,4,5,3,5,4,5,3,5,4 courtesy=5,4
    done
done
for a in L1 L3 L4 L5 L6 L7 L8 C1 Q1; do roster "$a" T1 '["acme","globex"]'; done
roster H1 T2 '["acme","globex"]'
for program in acme globex; do
    aqm_run 1 "$program" L1 1 1 20 80 empathy=61 hold=61
    aqm_run 1 "$program" L3 1 2 20 80 greeting=42
    aqm_run 1 "$program" L4 1 3 20 80 hold=20
    aqm_run 1 "$program" L5 1 4 20 80 greeting=15
    voc_run 1 "$program" L6 1 5 20 4 courtesy=1
    aqm_run 1 "$program" L7 1 6 20 80 resolution=20
    aqm_run 1 "$program" L8 1 7 20 80 clarity=54
    voc_run 1 "$program" C1 1 8 20 1 courtesy=4
    aqm_run 1 "$program" Q1 1 9 20 20
    aqm_run 1 "$program" H1 1 10 30 80 resolution=100
done
roster F1 T1 '["focus"]'
for m in M1 M2 M3; do roster "$m" T2 '["focus"]'; done
roster Z1 T3 '["focus"]'
aqm_run 1 focus F1 1 1 20 80 hold=10 empathy=30
voc_run 1 focus F1 1 1 20 4 courtesy=2,3
aqm_run 1 focus M1 1 2 30 80 hold=100
aqm_run 1 focus M2 1 3 30 80 empathy=100
voc_run 1 focus M3 1 4 20 4 courtesy=5
aqm_run 1 focus Z1 2 12 1 80
for day in 3 4 5 6 7; do aqm_run 2 focus Z1 "$day" 12 1 80; done

# produce STAGE: that stage's lines, each topic's in time order (so that every partition's are, and every
# event is decided at its own time), keyed by agent.
produce() {
    local kind
    for kind in roster voc aqm; do
        [[ -s $work/$kind-$1.lines ]] || continue
        LC_ALL=C sort -s -t $'\t' -k1,1 "$work/$kind-$1.lines" | cut -f 2- |
            kcat -P -b "$MENTORD_KAFKA" -t "$prefix.$kind" -K $'\t' -X enable.idempotence=true ||
            fail "producing stage $1 to $prefix.$kind"
    done
}

# thresholds_config FILE SCHEMA GROUP [GLOBAL_BEHAVIORS ACME_BEHAVIORS]: the thresholds above, and the
# allow-lists if given, read from the test's topics.
thresholds_config() {
    write_config "$1" "$2" "$prefix" "$3" \
        "[detect]" "low_threshold = 0.60" "high_threshold = 0.85" "low_threshold.empathy = 0.70" \
        "high_threshold.resolution = 0.89" ${4:+"behaviors = $4"} \
        "[program.acme]" "low_threshold = 0.65" "low_threshold.greeting = 0.50" "high_threshold.resolution = 0.97" \
        ${5:+"behaviors = $5"} \
        "[program.focus]" "duration_days = 2" "behaviors = hold, empathy, courtesy"
}
thresholds_config "$work/a.conf" "$schema_a" "$prefix-a"
thresholds_config "$work/b.conf" "$schema_b" "$prefix-b" "empathy, hold, csat" "empathy, greeting"

# drain_both STAGE: both configurations read what has been produced.
drain_both() {
    local s
    for s in a b; do
        drain "$work/$s.conf" 2>"$work/$s-$1.log" || { fail "drain $s (stage $1) failed"; tail "$work/$s-$1.log" >&2; }
    done
}

q() { psql_val "$1" "$2"; }
# keys SCHEMA TABLE WHERE [SUFFIX_SQL]: "program:agent/behavior[suffix]" of TABLE's rows, sorted.
keys() {
    q "$1" "SELECT coalesce(string_agg(program || ':' || agent_id || '/' || behavior || ${4:-''}, ' '
                                       ORDER BY program COLLATE \"C\", agent_id COLLATE \"C\", behavior COLLATE \"C\"), '')
              FROM $2 WHERE $3"
}
# A trigger's "=status/what": its mentor when paired, why it waits, how it was resolved.
trigger_state="'=' || status || '/' || CASE status
                 WHEN 'paired' THEN (SELECT p.mentor_id FROM pairings p WHERE p.trigger_id = triggers.trigger_id)
                 WHEN 'waiting' THEN waiting_reason WHEN 'resolved' THEN resolution ELSE '-' END"
# f1_triggers SCHEMA: F1's triggers as "behavior=status/what".
f1_triggers() {
    q "$1" "SELECT string_agg(behavior || $trigger_state, ' ' ORDER BY behavior)
              FROM triggers WHERE program = 'focus' AND agent_id = 'F1' AND kind = 'low_score'"
}
# f1_pairings SCHEMA: F1's pairings by start: "behavior mentor status start end".
f1_pairings() {
    q "$1" "SELECT string_agg(behavior || ' ' || mentor_id || ' ' || status || ' ' || started_at::date || ' ' ||
                              coalesce(ended_at::date::text, '-'), ', ' ORDER BY started_at)
              FROM pairings WHERE program = 'focus' AND mentee_id = 'F1'"
}

produce 1
started=$SECONDS
drain_both 1

# --- Stage 1: one focus. F1 is low in three behaviors, each with a mentor; the lowest is paired.
for s in a b; do
    schema="it_thr_${s}_$run_id"
    assert_eq "$s, stage 1: F1's one active pairing: the lowest shrunk mean (hold) with its mentor, at D2" \
        "hold M1 active 2026-03-04 -" "$(f1_pairings "$schema")"
    assert_eq "$s, stage 1: F1's other two triggers wait, visibly, for one focus" \
        "courtesy=waiting/one_focus empathy=waiting/one_focus hold=paired/M1" "$(f1_triggers "$schema")"
done

produce 2
drain_both 2
echo "four drains: $((SECONDS - started)) s"

# --- Stage 2: served in order, one at a time.
for s in a b; do
    schema="it_thr_${s}_$run_id"
    assert_eq "$s: F1 served in order, each pairing starting as the last ended (duration 2 days)" \
        "hold M1 completed 2026-03-04 2026-03-06, empathy M2 completed 2026-03-06 2026-03-08, courtesy M3 active 2026-03-08 -" \
        "$(f1_pairings "$schema")"
    assert_eq "$s: F1's triggers at the end" \
        "courtesy=paired/M3 empathy=resolved/completed hold=resolved/completed" "$(f1_triggers "$schema")"
    assert_eq "$s: F1 never held two active pairings at once" 0 \
        "$(q "$schema" "SELECT count(*) FROM pairings a JOIN pairings b ON a.mentee_id = b.mentee_id
                         AND a.program = b.program AND a.pairing_id < b.pairing_id
                        WHERE a.mentee_id = 'F1'
                          AND a.started_at < coalesce(b.ended_at, b.ends_at) AND b.started_at < coalesce(a.ended_at, a.ends_at)")"
    # What is compared is the normalized shrunk mean (docs/analytics.md, Pairing rounds, step 2):
    # by the native one courtesy (3.17 of 1..5) would come first.
    assert_eq "$s: F1's status rows by norm_shrunk, the order served; native shrunk_mean orders otherwise" \
        "hold empathy courtesy|hold empathy courtesy|courtesy hold empathy" \
        "$(q "$schema" "SELECT (SELECT string_agg(behavior, ' ' ORDER BY norm_shrunk) FROM agent_behavior_status
                                 WHERE program = 'focus' AND agent_id = 'F1' AND status = 'low') || '|' ||
                              (SELECT string_agg(behavior, ' ' ORDER BY started_at) FROM pairings
                                 WHERE program = 'focus' AND mentee_id = 'F1') || '|' ||
                              (SELECT string_agg(behavior, ' ' ORDER BY shrunk_mean) FROM agent_behavior_status
                                 WHERE program = 'focus' AND agent_id = 'F1' AND status = 'low')")"
    assert_eq "$s: F1's shrunk means as designed (hold, empathy, courtesy)" "0.3333 0.4667 0.5417" \
        "$(q "$schema" "SELECT string_agg(to_char(norm_shrunk, 'FM0.0000'), ' ' ORDER BY norm_shrunk)
                          FROM agent_behavior_status WHERE program = 'focus' AND agent_id = 'F1' AND status = 'low'")"
done

# --- Per-behavior thresholds: who is low and who is high (the allow-list does not change a status).
low_keys="acme:C1/csat acme:C1/csat_top2 acme:L1/empathy acme:L4/hold acme:L5/greeting acme:L6/courtesy"
low_keys+=" acme:L7/resolution acme:L8/clarity acme:Q1/aqm focus:F1/courtesy focus:F1/empathy focus:F1/hold"
low_keys+=" globex:C1/csat globex:C1/csat_top2 globex:L1/empathy globex:L3/greeting globex:L4/hold"
low_keys+=" globex:L5/greeting globex:L6/courtesy globex:L7/resolution globex:Q1/aqm"
high_keys="focus:M1/hold focus:M2/empathy focus:M3/courtesy globex:H1/resolution"
for s in a b; do
    schema="it_thr_${s}_$run_id"
    assert_eq "$s: the low keys" "$low_keys" "$(keys "$schema" agent_behavior_status "status = 'low'")"
    assert_eq "$s: the high (mentor-eligible) keys" "$high_keys" "$(keys "$schema" agent_behavior_status "status = 'high'")"
    # The keys each threshold decides, with the normalized numbers compared.
    assert_eq "$s: the threshold-sensitive keys: status and norm_shrunk (H1: norm_ci_low)" \
        "acme:H1/resolution=ok 0.9226 acme:L1/empathy=low 0.6733 acme:L1/hold=ok 0.6733 acme:L3/greeting=ok 0.5467 acme:L8/clarity=low 0.6267 globex:H1/resolution=high 0.9226 globex:L1/empathy=low 0.6733 globex:L1/hold=ok 0.6733 globex:L3/greeting=low 0.5467 globex:L8/clarity=ok 0.6267" \
        "$(keys "$schema" agent_behavior_status \
            "program IN ('acme', 'globex') AND (agent_id, behavior) IN
               (('H1', 'resolution'), ('L1', 'empathy'), ('L1', 'hold'), ('L3', 'greeting'), ('L8', 'clarity'))" \
            "'=' || status || ' ' || to_char(CASE agent_id WHEN 'H1' THEN norm_ci_low ELSE norm_shrunk END, 'FM0.0000')")"
done
assert_eq "b: every status row as in a (the allow-list changes triggers only)" \
    "$(q "$schema_a" "SELECT md5(string_agg(concat_ws(',', program, agent_id, behavior, status, reason, n, norm_shrunk,
                                                      norm_ci_low, since), '|' ORDER BY program, agent_id, behavior))
                        FROM agent_behavior_status")" \
    "$(q "$schema_b" "SELECT md5(string_agg(concat_ws(',', program, agent_id, behavior, status, reason, n, norm_shrunk,
                                                      norm_ci_low, since), '|' ORDER BY program, agent_id, behavior))
                        FROM agent_behavior_status")"

# --- The same sets recomputed in SQL from score_events by the documented formula (docs/analytics.md,
# Status): n and mean over the key's window, the prior of its day from every agent's observations of the
# program in the 28 days before, shrunk = (n * mean + k * pop_mean) / (n + k), ci_low = shrunk - z *
# sqrt(sigma2_within / (n + k)) at 90%, each key's thresholds by the documented precedence (written out
# here). low: n >= 8 and below; high: n >= 20 and ci_low at or above. Every agent is in the roster and
# active, and no key that reaches its high threshold belongs to an agent low in its source's overall
# metric, so those rules change nothing here. Hysteresis neither: every day-1 series falls monotonically
# but F1's courtesy, which ends below its threshold.
recompute="
  CREATE TABLE recheck_thresholds (program text, metric text, low float8, high float8);
  INSERT INTO recheck_thresholds VALUES
    ('acme', NULL, 0.65, 0.85), ('globex', NULL, 0.60, 0.85), ('focus', NULL, 0.60, 0.85),
    ('acme', 'empathy', 0.70, 0.85), ('globex', 'empathy', 0.70, 0.85), ('focus', 'empathy', 0.70, 0.85),
    ('acme', 'greeting', 0.50, 0.85),
    ('acme', 'resolution', 0.65, 0.97), ('globex', 'resolution', 0.60, 0.89), ('focus', 'resolution', 0.60, 0.89);
  CREATE TABLE recheck_obs AS
    SELECT s.program, s.agent_id, o.metric, s.occurred_at, o.value
      FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o;
  CREATE TABLE recheck AS
    WITH w AS (
      SELECT b.program, b.agent_id, b.behavior, b.updated_at, b.norm_shrunk, r.n, r.mean
        FROM agent_behavior_status b,
             LATERAL (SELECT count(*) AS n, avg(o.value) AS mean FROM recheck_obs o
                       WHERE o.program = b.program AND o.agent_id = b.agent_id AND o.metric = b.behavior
                         AND o.occurred_at <= b.updated_at
                         AND o.occurred_at >= date_trunc('day', b.updated_at) - interval '27 days') r
    ), prior AS (
      SELECT w.program, w.agent_id, w.behavior, sum(a.s) / nullif(sum(a.n), 0) AS pop_mean,
             sum(a.ss - a.s * a.s / a.n) / nullif(sum(a.n) - count(*), 0) AS sigma2
        FROM w, LATERAL (SELECT o.agent_id, count(*) AS n, sum(o.value) AS s, sum(o.value * o.value) AS ss
                           FROM recheck_obs o
                          WHERE o.program = w.program AND o.metric = w.behavior
                            AND o.occurred_at >= w.updated_at::date - 28 AND o.occurred_at < w.updated_at::date
                          GROUP BY o.agent_id) a
       GROUP BY 1, 2, 3
    ), shrunk AS (
      SELECT w.*, (w.n * w.mean + 10 * p.pop_mean) / (w.n + 10) AS shrunk, p.sigma2
        FROM w LEFT JOIN prior p USING (program, agent_id, behavior)
    )
    SELECT s.program, s.agent_id, s.behavior, s.updated_at, s.n, s.norm_shrunk, s.shrunk,
           greatest(0, s.shrunk - 1.6448536269514722 * sqrt(s.sigma2 / (s.n + 10))) AS ci_low,
           coalesce(t.low, d.low) AS low_threshold, coalesce(t.high, d.high) AS high_threshold
      FROM shrunk s JOIN recheck_thresholds d ON d.program = s.program AND d.metric IS NULL
      LEFT JOIN recheck_thresholds t ON t.program = s.program AND t.metric = s.behavior"
for s in a b; do
    schema="it_thr_${s}_$run_id"
    q "$schema" "$recompute" >/dev/null
    # Keys decided on day 0 only (the baseline's) have no prior: no shrunk mean to compare.
    assert_eq "$s: every status row decided after day 0: norm_shrunk equals its recomputation" \
        "0 $(q "$schema" "SELECT count(*) FROM agent_behavior_status WHERE updated_at >= '2026-03-03'")" \
        "$(q "$schema" "SELECT count(*) FILTER (WHERE shrunk IS NULL OR abs(shrunk - norm_shrunk) > 1e-9) || ' ' ||
                               count(*) FROM recheck WHERE updated_at >= '2026-03-03'")"
    assert_eq "$s: the low keys, recomputed" "$low_keys" \
        "$(keys "$schema" recheck "n >= 8 AND shrunk < low_threshold")"
    assert_eq "$s: the high keys, recomputed" "$high_keys" \
        "$(keys "$schema" recheck "n >= 20 AND ci_low >= high_threshold")"
done

# --- Triggers: per-behavior thresholds decide when a key fires (its n), the allow-list whether it may.
assert_eq "a (no list): every low AQM behavior and survey item fires, at the n computed; csat, csat_top2, aqm do not" \
    "acme:L1/empathy:12 acme:L4/hold:8 acme:L5/greeting:9 acme:L6/courtesy:8 acme:L7/resolution:8 acme:L8/clarity:14 focus:F1/courtesy:13 focus:F1/empathy:8 focus:F1/hold:8 globex:L1/empathy:12 globex:L3/greeting:12 globex:L4/hold:8 globex:L5/greeting:8 globex:L6/courtesy:8 globex:L7/resolution:8" \
    "$(keys "$schema_a" triggers "kind = 'low_score'" "':' || n")"
assert_eq "b (empathy, hold, csat; acme: empathy, greeting): only the listed fire, csat where listed" \
    "acme:L1/empathy:12 acme:L5/greeting:9 focus:F1/courtesy:13 focus:F1/empathy:8 focus:F1/hold:8 globex:C1/csat:8 globex:L1/empathy:12 globex:L4/hold:8" \
    "$(keys "$schema_b" triggers "kind = 'low_score'" "':' || n")"
low_untriggered="status = 'low' AND NOT EXISTS (SELECT FROM triggers t WHERE t.program = b.program
                   AND t.agent_id = b.agent_id AND t.behavior = b.behavior)"
assert_eq "a: low without a trigger: the outcomes only" \
    "acme:C1/csat acme:C1/csat_top2 acme:Q1/aqm globex:C1/csat globex:C1/csat_top2 globex:Q1/aqm" \
    "$(keys "$schema_a" "agent_behavior_status b" "$low_untriggered")"
assert_eq "b: low without a trigger: every key its program does not list" \
    "acme:C1/csat acme:C1/csat_top2 acme:L4/hold acme:L6/courtesy acme:L7/resolution acme:L8/clarity acme:Q1/aqm globex:C1/csat_top2 globex:L3/greeting globex:L5/greeting globex:L6/courtesy globex:L7/resolution globex:Q1/aqm" \
    "$(keys "$schema_b" "agent_behavior_status b" "$low_untriggered")"

# --- The high threshold decides pairings: H1 mentors L7 in globex; in acme nobody can, and L7 waits.
assert_eq "a: acme and globex triggers: only globex's resolution has a mentor (H1)" \
    "acme:L1/empathy=waiting/no_mentor acme:L4/hold=waiting/no_mentor acme:L5/greeting=waiting/no_mentor acme:L6/courtesy=waiting/no_mentor acme:L7/resolution=waiting/no_mentor acme:L8/clarity=waiting/no_mentor globex:L1/empathy=waiting/no_mentor globex:L3/greeting=waiting/no_mentor globex:L4/hold=waiting/no_mentor globex:L5/greeting=waiting/no_mentor globex:L6/courtesy=waiting/no_mentor globex:L7/resolution=paired/H1" \
    "$(keys "$schema_a" triggers "kind = 'low_score' AND program IN ('acme', 'globex')" "$trigger_state")"
assert_eq "b: acme and globex triggers all wait for a mentor" \
    "acme:L1/empathy=waiting/no_mentor acme:L5/greeting=waiting/no_mentor globex:C1/csat=waiting/no_mentor globex:L1/empathy=waiting/no_mentor globex:L4/hold=waiting/no_mentor" \
    "$(keys "$schema_b" triggers "kind = 'low_score' AND program IN ('acme', 'globex')" "$trigger_state")"

drop_schemas "$schema_a" "$schema_b"
finish
