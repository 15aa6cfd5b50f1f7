#!/bin/bash
# Hostile streams against the [ingest] bounds (docs/events.md, "Bounds"): an
# event dated 1970 first in a new deployment, a batch of maximum-size
# rejected payloads, a flood of agents the roster does not know (bound 50,
# 500 fresh ids), and more new behaviors than max_behaviors. Each refusal is
# a rejected_events row with its reason and one log line; the events around
# them are stored and decided; mentord lives through each drain, and the
# bounds hold across its restarts. A flooded agent's events, produced again
# from rejected_events once the roster names it, are accepted. Prints
# mentord's peak RSS (VmHWM) under each stream.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="hostile-$run_id"
schema="it_hostile_$run_id"
q() { psql_val "$schema" "$1"; }

# run_drain NAME [extra ini lines...]: drains with the bounds under test, records the exit code and VmHWM.
run_drain() {
    local name=$1 pid hwm=0 line
    shift
    write_config "$work/$name.conf" "$schema" "$prefix" "$prefix-g" '[ingest]' 'max_past_days = 400' \
        'max_message_bytes = 65536' "$@"
    "$MENTORD_BIN" --config "$work/$name.conf" --exit-at-end --http off 2>"$work/$name.log" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        line=$(grep VmHWM "/proc/$pid/status" 2>/dev/null | awk '{print $2}') || true
        [[ -n $line ]] && hwm=$line
        sleep 0.05
    done
    wait "$pid"
    echo "$?" >"$work/$name.rc"
    echo "$name: peak RSS (VmHWM) $hwm kB"
    echo "$hwm" >"$work/$name.hwm"
}

aqm() {  # aqm FILE EVENT_ID AGENT OCCURRED_AT [BEHAVIORS_JSON]
    printf '{"schema":"aqm.v1","event_id":"%s","agent_id":"%s","occurred_at":"%s","overall":70%s}' \
        "$2" "$3" "$4" "${5:+,\"behaviors\":$5}" >"$1"
}

# ---- 1: a new deployment whose first event is dated 1970, rejected payloads of maximum size, a month of data.
start=$(date -u -d '-45 days' +%F)
mkdir -p "$work/first" "$work/big"
aqm "$work/first/1970.json" "e-1970" A0001 "1970-01-01T00:00:00Z"
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$work/first/1970.json"
generate "$prefix" --agents 60 --days 30 --start "$start" --seed 18 --low-share 0.1 \
    --manifest "$work/manifest.csv" 2>"$work/gen.log"
read -r voc aqm_n roster dups < <(generated_counts "$work/gen.log")
# 20 oversize messages (1 MiB) and 20 malformed ones of exactly max_message_bytes.
for i in $(seq -w 1 20); do
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$work/big/over-$i.json"
    head_text='{"schema":"aqm.v1","pad":"'
    { printf '%s' "$head_text"; head -c $((65536 - ${#head_text})) /dev/zero | tr '\0' 'y'; } >"$work/big/max-$i.json"
done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" big "$work"/big/over-*.json "$work"/big/max-*.json
run_drain first
assert_eq "first drain exit code" 0 "$(cat "$work/first.rc")"
assert_eq "the 1970 event is too_old" "too_old" "$(q "SELECT reason FROM rejected_events WHERE convert_from(payload, 'UTF8') LIKE '%e-1970%'")"
assert_eq "no event before the bound is stored" 0 \
    "$(q "SELECT count(*) FROM score_events WHERE occurred_at < now() - interval '400 days'")"
assert_eq "the month of events is stored" "$((voc + aqm_n - dups))" "$(q "SELECT count(*) FROM score_events")"
assert_eq "oversize rows: prefix, length and hash" "20 4096 1048576 20" \
    "$(q "SELECT count(*) || ' ' || max(length(payload)) || ' ' || max(payload_bytes) || ' ' || count(payload_sha256)
            FROM rejected_events WHERE reason = 'oversize'")"
assert_eq "maximum-size malformed payloads kept whole" "20 65536" \
    "$(q "SELECT count(*) || ' ' || min(length(payload)) FROM rejected_events WHERE reason = 'malformed_json'")"
assert_eq "one log line per reject" 41 "$(grep -c 'rejected .*: \(too_old\|oversize\|malformed_json\):' "$work/first.log")"
lows=$(q "SELECT count(DISTINCT t.agent_id) FROM triggers t WHERE t.kind = 'low_score'")
echo "agents with a low-score trigger after the first drain: $lows"
checks=$((checks + 1))
((lows > 0)) || fail "no low-score trigger: the events around the refusals were not decided"
assert_eq "no unknown agent counted (the roster knows the center)" 0 \
    "$(q "SELECT count(*) FROM agents WHERE NOT roster_known")"
behaviors=$(q "SELECT count(*) FROM metrics WHERE metric NOT IN ('csat', 'csat_top2', 'aqm')")
echo "behaviors after the first drain: $behaviors"

# ---- 2: after a restart, 500 fresh agents (bound 50) and 8 new behaviors (bound: 3 more), among normal events.
mkdir -p "$work/flood" "$work/normal" "$work/junk"
day=$(date -u -d '-14 days' +%F)
for i in $(seq -w 1 500); do
    aqm "$work/flood/$i-a.json" "flood-$i-a" "F$i" "${day}T10:00:00Z"
    aqm "$work/flood/$i-b.json" "flood-$i-b" "F$i" "${day}T11:00:00Z"
done
for i in $(seq -w 1 40); do aqm "$work/normal/$i.json" "normal-$i" A0002 "${day}T12:00:${i}Z"; done
for i in $(seq -w 1 8); do aqm "$work/junk/$i.json" "junk-$i" A0003 "${day}T13:00:0${i}Z" "{\"junk_$i\":50}"; done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" mixed "$work"/normal/0*.json "$work"/flood/*.json \
    "$work"/junk/*.json "$work"/normal/[1-4]*.json
run_drain flood 'max_unknown_agents = 50' "max_behaviors = $((behaviors + 3))" 'batch_max_events = 300'
assert_eq "flood drain exit code" 0 "$(cat "$work/flood.rc")"
assert_eq "unknown agents admitted up to the bound" 50 "$(q "SELECT count(*) FROM agents WHERE NOT roster_known")"
assert_eq "both events of each of the 50 admitted agents stored" "100 50" \
    "$(q "SELECT count(*) || ' ' || count(DISTINCT agent_id) FROM score_events WHERE event_id LIKE 'flood-%'")"
assert_eq "the refused agents' events are rejected_events rows" "900 unknown_agent_limit" \
    "$(q "SELECT count(*) || ' ' || string_agg(DISTINCT reason, ',') FROM rejected_events
            WHERE convert_from(payload, 'UTF8') LIKE '%\"flood-%'")"
assert_eq "the normal events around the flood are stored" 40 \
    "$(q "SELECT count(*) FROM score_events WHERE event_id LIKE 'normal-%'")"
assert_eq "behaviors stored up to the bound" "$((behaviors + 3))" \
    "$(q "SELECT count(*) FROM metrics WHERE metric NOT IN ('csat', 'csat_top2', 'aqm')")"
assert_eq "events naming a behavior past the bound: rejected whole" "5 too_many_behaviors 3" \
    "$(q "SELECT count(*) || ' ' || string_agg(DISTINCT reason, ',') || ' '
                 || (SELECT count(*) FROM score_events WHERE event_id LIKE 'junk-%')
            FROM rejected_events WHERE convert_from(payload, 'UTF8') LIKE '%\"junk-%'")"
assert_eq "one log line per refusal" 905 \
    "$(grep -c 'rejected .*: \(unknown_agent_limit\|too_many_behaviors\):' "$work/flood.log")"
assert_eq "no daily part of a refused event" 0 \
    "$(q "SELECT count(*) FROM agent_daily_parts p WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.agent_id = p.agent_id)
            OR p.metric NOT IN (SELECT metric FROM metrics)")"
assert_eq "daily aggregates match score_events" 0 \
    "$(q "SELECT count(*) FROM (SELECT agent_id, sum(n) n FROM agent_daily WHERE metric = 'aqm' GROUP BY 1) d
            FULL JOIN (SELECT agent_id, count(*) n FROM score_events WHERE kind = 'aqm' GROUP BY 1) s USING (agent_id)
           WHERE d.n IS DISTINCT FROM s.n")"

# ---- 3: the roster names 10 refused agents; their rejected messages, produced again, are accepted.
mapfile -t refused < <(q "SELECT DISTINCT s.agent FROM (SELECT convert_from(payload, 'UTF8')::json->>'agent_id' AS agent
                            FROM rejected_events WHERE reason = 'unknown_agent_limit') s ORDER BY 1 LIMIT 10")
mkdir -p "$work/roster" "$work/again"
for a in "${refused[@]}"; do
    printf '{"schema":"agent.v1","agent_id":"%s","team_id":"T01","team_lead_id":"L01","language":"en"}' "$a" \
        >"$work/roster/$a.json"
done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.roster" roster "$work"/roster/*.json
list=$(printf "'%s'," "${refused[@]}")
run_drain roster 'max_unknown_agents = 50' "max_behaviors = $((behaviors + 3))"
assert_eq "roster drain exit code" 0 "$(cat "$work/roster.rc")"
n=0
while read -r b64; do
    n=$((n + 1))
    echo "$b64" | base64 -d >"$work/again/$n.json"
done < <(q "SELECT translate(encode(payload, 'base64'), E'\n', '') FROM rejected_events
             WHERE reason = 'unknown_agent_limit' AND convert_from(payload, 'UTF8')::json->>'agent_id' IN (${list%,})
             ORDER BY kafka_offset")
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" again "$work"/again/*.json
run_drain again 'max_unknown_agents = 50' "max_behaviors = $((behaviors + 3))"
assert_eq "drain of the messages produced again: exit code" 0 "$(cat "$work/again.rc")"
assert_eq "the named agents' events produced again are stored" 20 \
    "$(q "SELECT count(*) FROM score_events WHERE agent_id IN (${list%,})")"
assert_eq "the named agents are roster agents, not counted" "0 50" \
    "$(q "SELECT (SELECT count(*) FROM agents WHERE agent_id IN (${list%,}) AND NOT roster_known) || ' '
                 || (SELECT count(*) FROM agents WHERE NOT roster_known)")"

echo "peak RSS (VmHWM): first $(cat "$work/first.hwm") kB, flood $(cat "$work/flood.hwm") kB"
finish
