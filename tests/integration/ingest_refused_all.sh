#!/bin/bash
# PostgreSQL refuses every event (a CHECK constraint no row can pass, added by
# the test): mentord rejects none of them, /readyz turns 503 (stalled) once
# nothing has been committed for stall_seconds and /metrics shows
# mentord_stalled 1; once the constraint is dropped, every event is stored,
# /readyz answers 200 again and mentord_stalled is 0.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="refall-$run_id"
schema="it_refall_$run_id"
ts=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)
n=20
for i in $(seq -w 1 $n); do
    printf '{"schema":"voc.v1","event_id":"refall-%s","agent_id":"A00%s","occurred_at":"%s","csat":4}' \
        "$i" "$i" "$ts" >"$work/voc-$i.json"
done
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.voc" A0001 "$work"/voc-*.json

migrate_schema "$schema"
psql_val "$schema" "ALTER TABLE score_events ADD CONSTRAINT refuse_all CHECK (event_id IS NULL) NOT VALID" >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "[ingest]" "stall_seconds = 2"
"$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" 2>"$work/mentord.log" &
pid=$!
wait_alive=$pid
trap 'kill -9 "$pid" 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

readyz() { curl -s -w ' %{http_code}' "$url/readyz" | tr '\n' ' '; }
metric() { curl -sf "$url/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
stalled() { [[ $(readyz) == *"stalled"*" 503" ]]; }
wait_until 120 stalled || fail "/readyz did not report the stall: $(readyz)"
echo "readyz: $(readyz)"
assert_eq "/readyz names the refusal" yes "$([[ $(readyz) == *"PostgreSQL refuses"* ]] && echo yes || echo no)"
assert_eq "mentord_stalled while refused" 1 "$(metric mentord_stalled)"
assert_eq "seconds since progress past stall_seconds" yes \
    "$( (($(metric mentord_seconds_since_progress) >= 2)) && echo yes || echo no)"
assert_eq "refusals counted" yes "$( (($(metric mentord_refused_batches_total) > 0)) && echo yes || echo no)"
# Wait for a second cycle of splitting, so that a wrong rejection would have had its chance.
gave_up_twice() { (($(grep -c 'refuses batches whatever they hold' "$work/mentord.log") >= 2)); }
wait_until 120 gave_up_twice || fail "mentord did not give the split up twice"
assert_eq "nothing rejected while PostgreSQL refuses everything" 0 "$(psql_val "$schema" "SELECT count(*) FROM rejected_events")"
assert_eq "nothing stored" 0 "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
assert_eq "mentord alive" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"

psql_val "$schema" "ALTER TABLE score_events DROP CONSTRAINT refuse_all" >/dev/null
all_stored() { (($(psql_val "$schema" "SELECT count(*) FROM score_events") == n)); }
wait_until 60 all_stored || fail "the events were not stored once PostgreSQL took them"
ready() { [[ $(readyz) == "ready  200" ]]; }
wait_until 30 ready || fail "/readyz did not turn ready: $(readyz)"
assert_eq "/readyz once fixed" "ready  200" "$(readyz)"
assert_eq "mentord_stalled once fixed" 0 "$(metric mentord_stalled)"
assert_eq "stored once each" "$n $n" "$(psql_val "$schema" "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM score_events")"
assert_eq "still nothing rejected" 0 "$(psql_val "$schema" "SELECT count(*) FROM rejected_events")"
assert_eq "offsets at the end" "$n" "$(offsets_stored "$schema")"

kill -TERM "$pid"
code=0
wait "$pid" || code=$?
assert_eq "exit code after SIGTERM" 0 "$code"
psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
