#!/bin/bash
# /metrics, /healthz and /readyz over real traffic: a generated center plus
# a known set of bad messages. The Prometheus text is read with a real parser
# (python3-prometheus-client), and its counters must equal the traffic sent
# and the rows in rejected_events, reason by reason.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# Debian's python3 carries python3-prometheus-client; another python3 first in PATH may not.
parser_python=/usr/bin/python3
"$parser_python" -c 'import prometheus_client' || { fail "python3-prometheus-client missing (scripts/install-deps)"; finish; }

prefix="metrics-$run_id"
schema="it_metrics_$run_id"
generate "$prefix" --agents 8 --days 3 --seed 31 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
good=$((voc + aqm + roster))

# The bad messages, by the reason each must be counted under.
ts='"occurred_at":"2026-10-02T10:00:00Z"'
b=$work/bad
mkdir -p "$b"
printf '{"schema":"voc.v1",' >"$b/voc-1-malformed_json.json"
printf '{' >"$b/voc-2-malformed_json.json"
printf '[1]' >"$b/voc-3-not_object.json"
printf '{"schema":"voc.v9","event_id":"m1","agent_id":"A0001",%s,"csat":4}' "$ts" >"$b/voc-4-unknown_schema.json"
printf '{"schema":"voc.v1","event_id":"m2","agent_id":"A0001",%s}' "$ts" >"$b/voc-5-missing_field.json"
: >"$b/aqm-1-empty.json"
printf '{"schema":"aqm.v1","event_id":"m3","agent_id":"A0001",%s,"overall":101}' "$ts" >"$b/aqm-2-out_of_range.json"
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.voc" A0001 "$b"/voc-*.json
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$b"/aqm-*.json
declare -A want_rejected=()
for f in "$b"/*.json; do
    reason=$(basename "$f" .json)
    reason=${reason#*-*-}
    want_rejected[$reason]=$((${want_rejected[$reason]:-0} + 1))
done
n_bad=$(find "$b" -name '*.json' | wc -l)
produced=$((good + n_bad))
echo "produced $produced messages: $good generated, $n_bad bad"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
write_config "$work/run.conf" "$schema" "$prefix" "$prefix"
"$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" 2>"$work/mentord.log" &
pid=$!
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# parse FILE: every sample as "name{label=value,...} value", and "TYPE family type", via the real parser.
parse() {
    "$parser_python" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    print("TYPE", fam.name, fam.type)
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}}" if labels else s.name, repr(s.value) if s.value != int(s.value) else int(s.value))
' "$1"
}
scrape() { curl -sf "$url/metrics" >"$work/metrics.txt" && parse "$work/metrics.txt" >"$work/samples.txt"; }
sample() { awk -v k="$1" '$1 == k { print $2 }' "$work/samples.txt"; }
all_counted() {
    scrape || return 1
    local rejected
    rejected=$(awk '$1 ~ /^mentord_events_rejected_total\{/ { s += $2 } END { print s + 0 }' "$work/samples.txt")
    (($(sample mentord_events_accepted_total) + rejected >= produced))
}
stored_all() { (($(offsets_stored "$schema") >= produced)); }

wait_until 120 stored_all || fail "stored offsets did not reach $produced"
wait_until 10 all_counted || fail "the counters did not reach $produced"
assert_eq "Content-Type of /metrics" "text/plain; version=0.0.4; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' "$url/metrics")"
assert_eq "mentord_up" 1 "$(sample mentord_up)"
assert_eq "mentord_events_consumed_total" "$produced" "$(sample mentord_events_consumed_total)"
assert_eq "mentord_events_accepted_total" "$good" "$(sample mentord_events_accepted_total)"

# Every reject reason is exported, zero included, and each equals what was sent and what was stored.
reasons=(empty oversize invalid_utf8 malformed_json not_object unknown_schema missing_field wrong_type
    out_of_range bad_id bad_timestamp future_timestamp too_many too_old database_refused unknown_agent_limit
    too_many_behaviors)
assert_eq "reasons exported" "${#reasons[@]}" "$(grep -c '^mentord_events_rejected_total{reason=' "$work/samples.txt")"
for reason in "${reasons[@]}"; do
    assert_eq "rejected{reason=$reason}" "${want_rejected[$reason]:-0}" \
        "$(sample "mentord_events_rejected_total{reason=$reason}")"
done
assert_eq "rejected_events rows by reason equal the counters" \
    "$(psql_val "$schema" "SELECT string_agg(reason || '=' || n, ' ' ORDER BY reason) FROM
        (SELECT reason, count(*) AS n FROM rejected_events GROUP BY reason) r")" \
    "$(awk -F'[{}= ]' '$1 == "mentord_events_rejected_total" && $5 > 0 { print $3 "=" $5 }' "$work/samples.txt" |
        sort | paste -sd' ')"

batches=$(sample mentord_batches_total)
assert_eq "batches committed" yes "$( ((batches > 0)) && echo yes || echo no)"
assert_eq "histogram count = batches" "$batches" "$(sample mentord_batch_duration_seconds_count)"
assert_eq "histogram +Inf bucket = count" "$batches" "$(sample 'mentord_batch_duration_seconds_bucket{le=+Inf}')"
assert_eq "histogram buckets cumulative" yes "$(awk '$1 ~ /^mentord_batch_duration_seconds_bucket/ {
    if ($2 < last) bad = 1; last = $2 } END { print bad ? "no" : "yes" }' "$work/samples.txt")"
assert_eq "metric types" "counter counter counter counter counter counter histogram gauge gauge" \
    "$(awk '$1 == "TYPE" { t[$2] = $3 } END {
        n = split("mentord_events_consumed mentord_events_accepted mentord_events_rejected mentord_batches mentord_db_errors mentord_fenced_batches mentord_batch_duration_seconds mentord_assigned_partitions mentord_up", f, " ")
        for (i = 1; i <= n; i++) printf "%s%s", t[f[i]], (i < n ? " " : "") }' "$work/samples.txt")"
assert_eq "mentord_db_errors_total" 0 "$(sample mentord_db_errors_total)"
assert_eq "mentord_db_reconnects_total" 0 "$(sample mentord_db_reconnects_total)"
assert_eq "mentord_fenced_batches_total" 0 "$(sample mentord_fenced_batches_total)"
# Three topics of four partitions (the generator's default), all assigned to the only member.
assert_eq "mentord_assigned_partitions" 12 "$(sample mentord_assigned_partitions)"
# Lag is published once a second: wait for the table that says everything is stored.
lag_total() { awk '$1 ~ /^mentord_consumer_lag\{/ { n++; s += $2 } END { print n + 0, s + 0 }' "$work/samples.txt"; }
caught_up() { scrape && [[ $(lag_total) == "12 0" ]]; }
wait_until 10 caught_up || true
assert_eq "consumer lag series and their sum once everything is stored" "12 0" "$(lag_total)"
# The outbox depth: an alert with no route to go to stays pending, and is counted.
psql_val "$schema" "INSERT INTO alerts (alert_id, kind, agent_id, occurred_at, program, payload)
    VALUES ('metrics-test-1', 'low_score_trigger', 'A0001', now(), 'default', '{}')" >/dev/null
# (The analytics may have written alerts of their own: none has a route either.)
pending=$(psql_val "$schema" "SELECT count(*) FROM alerts WHERE status = 'pending'")
outbox_counted() { scrape && [[ $(sample mentord_alerts_pending) == "$pending" ]]; }
wait_until 10 outbox_counted || true
assert_eq "mentord_alerts_pending with unroutable alerts" "$pending" "$(sample mentord_alerts_pending)"
# The analytics gauges, as of the last commit, against the tables. A live run
# decides what each source's watermark has passed: the least, over the
# source's partitions, of their newest event time (no lateness allowed). The
# events at or after it wait for newer ones (docs/analytics.md), in a
# transaction after the last batch's (and after the counters are complete).
held=$(psql_val "$schema" "
    WITH w AS (SELECT CASE WHEN topic = '$prefix.aqm' THEN 'aqm' ELSE 'voc' END AS kind, min(max_event_at) AS at
                 FROM consumer_offsets WHERE topic IN ('$prefix.aqm', '$prefix.voc') GROUP BY 1)
    SELECT count(*) FROM score_events s JOIN w ON w.kind = s.kind,
           event_observations(s.kind, s.csat, s.overall, s.scores, 1, 5) o
     WHERE s.decide_at >= w.at")
all_decided() { scrape && [[ $(sample mentord_waiting_observations) == "$held" ]]; }
wait_until 10 all_decided || true
assert_eq "mentord_open_triggers" \
    "$(psql_val "$schema" "SELECT count(*) FROM triggers WHERE status IN ('open', 'waiting')")" \
    "$(sample mentord_open_triggers)"
assert_eq "mentord_active_pairings" \
    "$(psql_val "$schema" "SELECT count(*) FROM pairings WHERE status = 'active'")" \
    "$(sample mentord_active_pairings)"
assert_eq "mentord_waiting_observations once the watermarks are passed" "$held" "$(sample mentord_waiting_observations)"
((held > 0)) || fail "no observation waits for a newer event: the test shows nothing"

assert_eq "/healthz" "200 ok" "$(curl -s -w '%{http_code}' "$url/healthz" | tr '\n' ' ' | awk '{ print $2, $1 }')"
assert_eq "/readyz" "200 ready" "$(curl -s -w '%{http_code}' "$url/readyz" | tr '\n' ' ' | awk '{ print $2, $1 }')"
assert_eq "unknown path" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")"
assert_eq "POST refused" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$url/metrics")"

busy=0
"$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" 2>"$work/busy.log" || busy=$?
assert_eq "a named address already in use is fatal" 1 "$busy"

kill -TERM "$pid"
code=0
wait "$pid" || code=$?
assert_eq "exit code after SIGTERM" 0 "$code"
assert_eq "HTTP closed after the stop" 000 "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz" || true)"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
