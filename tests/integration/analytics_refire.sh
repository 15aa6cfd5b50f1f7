#!/bin/bash
# A low-score trigger superseded by a new one of the same agent and behavior
# (low, recovered, low again before a round resolved the first): the first
# is resolved as 'refired' at the second's time, the second stays open.
# Once with both triggers written by one transaction, once across two drains
# (the first trigger waiting when the second fires), once across batches of a
# drain (the first still open when the second is written; no round between
# them), and once with the second fired at the drain's newest event time (its
# last round's). The first is resolved only at the next round, so beside the
# rows each run checks the resolved_at and that no key is left with two open
# or waiting triggers.
#
# Hand-computed, with the defaults (prior_k 10, min_n 8, low below 0.60,
# leaving low above 0.65): six other agents score empathy 80 on day 0, so the
# prior for day 1 is 0.8. On day 1 agent R1 scores empathy 0 twelve times:
# at the 8th, shrunk = (0 + 10 * 0.8) / (8 + 10) = 0.444: low, trigger 1.
# Then 41 times 100: shrunk = (41 + 8) / (53 + 10) = 0.778: ok again. Then 0
# again: after j more, 49 / (63 + j) is first below 0.60 at j = 19 (0.598;
# 0.605 at j = 18): trigger 2, at the 19th event of that phase.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# aqm FILE EVENT_ID AGENT TIME EMPATHY: one aqm.v1 event in its own file.
aqm() {
    printf '{"schema":"aqm.v1","event_id":"%s","agent_id":"%s","occurred_at":"%s","overall":80,"behaviors":{"empathy":%s}}' \
        "$2" "$3" "$4" "$5" >"$1"
}

# The roster, the day-0 population, and R1's three phases on day 1 (one file
# per message, in order). Beside them, in the one-transaction drain, two more
# agents low in empathy on day 1: U1, whom the roster does not know (SPEC: it
# can be a mentee, so its trigger waits for a mentor like R1's), and X1, who
# left the roster (active false: its trigger is resolved 'inactive'). They
# are produced before R1's later phases: sharing a partition with those, they
# would be decided at the partition's newest time (docs/analytics.md), the
# drain's last round's, which takes only triggers fired before it.
mkdir -p "$work/roster" "$work/others" "$work/p1" "$work/p23" "$work/ux"
for a in R1 O1 O2 O3 O4 O5 O6 X1; do
    active=$([[ $a == X1 ]] && echo false || echo true)
    printf '{"schema":"agent.v1","event_id":"roster-%s","agent_id":"%s","occurred_at":"2025-12-01T00:00:00Z","name":"%s","team_id":"T1","team_lead_id":"L1","site":"S1","language":"en","active":%s}' \
        "$a" "$a" "$a" "$active" >"$work/roster/$a.json"
done
for i in $(seq -w 1 12); do
    aqm "$work/ux/u$i.json" "u1-$i" U1 "2026-01-02T08:30:${i}Z" 0
    aqm "$work/ux/x$i.json" "x1-$i" X1 "2026-01-02T08:30:${i}Z" 0
done
for a in 1 2 3 4 5 6; do
    for i in $(seq -w 1 10); do aqm "$work/others/o$a-$i.json" "o$a-$i" "O$a" "2026-01-01T10:$i:00Z" 80; done
done
for i in $(seq -w 1 12); do aqm "$work/p1/$i.json" "low1-$i" R1 "2026-01-02T08:00:${i}Z" 0; done
for i in $(seq -w 1 41); do aqm "$work/p23/a$i.json" "ok-$i" R1 "2026-01-02T09:00:${i}Z" 100; done
for i in $(seq -w 1 40); do aqm "$work/p23/b$i.json" "low2-$i" R1 "2026-01-02T10:00:${i}Z" 0; done

# produce PREFIX DIR...: the roster to PREFIX.roster, then every file of the directories, in name
# order, to PREFIX.aqm, keyed by the directory's name: one partition per directory, its messages in order.
produce() {
    local prefix=$1 d
    shift
    "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.roster" - "$work/roster"/*.json >/dev/null || fail "producing the roster"
    for d in "$@"; do
        "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" "$(basename "$d")" "$d"/*.json >/dev/null ||
            fail "producing $d"
    done
}

# produce_one PREFIX FILES...: the roster, then the files in the order given to PREFIX.aqm, one partition.
produce_one() {
    local prefix=$1
    shift
    "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.roster" - "$work/roster"/*.json >/dev/null || fail "producing the roster"
    "$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" all "$@" >/dev/null || fail "producing the events"
}

# check_superseded LABEL SCHEMA: trigger 1 resolved at trigger 2's fired_at, and one open trigger per key at most.
check_superseded() {
    assert_eq "$1: trigger 1 resolved at trigger 2's time" "2026-01-02T10:00:19Z" \
        "$(psql_val "$2" "SELECT to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                            FROM triggers WHERE trigger_id = 'low/low1-08/empathy'")"
    assert_eq "$1: keys with more than one open or waiting trigger" "" \
        "$(psql_val "$2" "SELECT string_agg(agent_id || '/' || behavior, ', ')
                            FROM (SELECT agent_id, behavior FROM triggers
                                   WHERE kind = 'low_score' AND status IN ('open', 'waiting')
                                   GROUP BY agent_id, behavior HAVING count(*) > 1) k")"
}

# R1's empathy triggers: "event status resolution superseded-by-the-next", oldest first.
r1_triggers() {
    psql_val "$1" "SELECT string_agg(t.event_id || ' ' || t.status || ' ' || coalesce(t.resolution, '-') || ' ' ||
                                     CASE WHEN t.resolved_at IS NULL THEN '-'
                                          WHEN t.resolved_at = n.fired_at THEN 'at-next' ELSE 'other' END,
                                     ', ' ORDER BY t.fired_at)
                     FROM triggers t
                     LEFT JOIN LATERAL (SELECT fired_at FROM triggers x WHERE x.agent_id = t.agent_id
                                          AND x.behavior = t.behavior AND x.fired_at > t.fired_at
                                        ORDER BY x.fired_at LIMIT 1) n ON true
                    WHERE t.agent_id = 'R1' AND t.behavior = 'empathy' AND t.kind = 'low_score'"
}

# An open trigger waits for a mentor at the drain's last round (nobody here can be one).
want="low1-08 resolved refired at-next, low2-19 waiting - -"

# --- Both triggers in one transaction: all of R1's events in one drain.
one="refire1-$run_id"
schema_one="it_refire1_$run_id"
produce "$one" "$work/others" "$work/p1" "$work/ux" "$work/p23"
write_config "$work/one.conf" "$schema_one" "$one" "$one"
drain "$work/one.conf" 2>"$work/one.log" || { fail "drain (one transaction) failed"; tail "$work/one.log" >&2; }
assert_eq "one transaction: R1's triggers" "$want" "$(r1_triggers "$schema_one")"
check_superseded "one transaction" "$schema_one"
assert_eq "the unknown agent's and the departed agent's triggers" "U1 waiting -, X1 resolved inactive" \
    "$(psql_val "$schema_one" "SELECT string_agg(agent_id || ' ' || status || ' ' || coalesce(resolution, '-'), ', '
                                                 ORDER BY agent_id)
                                 FROM triggers WHERE agent_id IN ('U1', 'X1') AND kind = 'low_score'")"

# --- Across two drains: trigger 1 is stored (and waiting) before trigger 2 supersedes it.
two="refire2-$run_id"
schema_two="it_refire2_$run_id"
write_config "$work/two.conf" "$schema_two" "$two" "$two"
produce "$two" "$work/others" "$work/p1"
drain "$work/two.conf" 2>"$work/two-a.log" || { fail "first drain failed"; tail "$work/two-a.log" >&2; }
assert_eq "after the first drain: R1's triggers" "low1-08 waiting - -" "$(r1_triggers "$schema_two")"
produce "$two" "$work/p23"
drain "$work/two.conf" 2>"$work/two-b.log" || { fail "second drain failed"; tail "$work/two-b.log" >&2; }
assert_eq "two drains: R1's triggers" "$want" "$(r1_triggers "$schema_two")"
check_superseded "two drains" "$schema_two"

# --- Across batches: every event in one partition, in time order, five per batch. Trigger 1 goes in open
# several transactions before trigger 2; no round comes between them (both on day 1, after its round).
three="refire3-$run_id"
schema_three="it_refire3_$run_id"
write_config "$work/three.conf" "$schema_three" "$three" "$three" "[ingest]" "batch_max_events = 5"
produce_one "$three" "$work/others"/*.json "$work/p1"/*.json "$work/p23"/*.json
drain "$work/three.conf" 2>"$work/three.log" || { fail "drain (batches of 5) failed"; tail "$work/three.log" >&2; }
assert_eq "batches of 5: R1's triggers" "$want" "$(r1_triggers "$schema_three")"
check_superseded "batches of 5" "$schema_three"

# --- Trigger 2 fired by the newest event: the drain's last round is at its time and reads only triggers fired
# before it, yet trigger 1 is superseded as it was when trigger 2 fired (trigger 2 stays open: no round after it).
four="refire4-$run_id"
schema_four="it_refire4_$run_id"
write_config "$work/four.conf" "$schema_four" "$four" "$four"
produce_one "$four" "$work/others"/*.json "$work/p1"/*.json "$work/p23"/a*.json "$work/p23"/b0*.json \
    "$work/p23"/b1*.json
drain "$work/four.conf" 2>"$work/four.log" || { fail "drain (newest trigger) failed"; tail "$work/four.log" >&2; }
assert_eq "trigger 2 at the newest time: R1's triggers" "low1-08 resolved refired at-next, low2-19 open - -" \
    "$(r1_triggers "$schema_four")"
check_superseded "trigger 2 at the newest time" "$schema_four"

[[ -n ${KEEP_WORK:-} ]] || psql_val public "DROP SCHEMA $schema_one CASCADE; DROP SCHEMA $schema_two CASCADE;
                                        DROP SCHEMA $schema_three CASCADE; DROP SCHEMA $schema_four CASCADE" >/dev/null
finish
